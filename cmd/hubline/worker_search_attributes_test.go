package main

import (
	"context"
	"errors"
	"maps"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/server/temporaltest"

	"github.com/hubline/hubline/workflows"
)

// TestWorkerStopsWithoutItsSearchAttributes: against a namespace set up before DeliveryStatus
// existed, `hubline worker` exits non-zero naming it instead of polling (its workflow tasks
// would fail on the upsert). Once the attribute is added, the same worker polls.
func TestWorkerStopsWithoutItsSearchAttributes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	add := func(attrs map[string]enumspb.IndexedValueType) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := ts.GetDefaultClient().OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: ts.GetDefaultNamespace(), SearchAttributes: attrs,
		}); err != nil {
			t.Fatalf("add search attributes: %v", err)
		}
	}
	older := maps.Clone(workflows.SearchAttributes())
	delete(older, workflows.SADeliveryStatus.GetName())
	add(older)

	env := []string{
		"TEMPORAL_ADDRESS=" + ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE=" + ts.GetDefaultNamespace(),
		"HUBLINE_PUBLIC_URL=https://hubline.example.com", "HUBSPOT_CLIENT_SECRET=s", "HUBSPOT_ACCESS_TOKEN=t",
		"LINE_CHANNEL_ACCESS_TOKEN=line-token", "HUBLINE_SHUTDOWN_TIMEOUT=2s", "HUBLINE_DATA_DIR=" + t.TempDir(),
	}
	// A worker that does not stop runs until the timeout kills it (exit -1).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "worker")
	cmd.Env = append(os.Environ(), append(env, "HUBLINE_TEST_RUN_MAIN=1")...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() <= 0 {
		t.Fatalf("worker ran against a namespace without DeliveryStatus (%v):\n%s", err, out)
	}
	if !strings.Contains(string(out), "missing search attributes DeliveryStatus (") ||
		strings.Contains(string(out), "worker polling") {
		t.Fatalf("the worker's exit does not name DeliveryStatus:\n%s", out)
	}

	add(map[string]enumspb.IndexedValueType{workflows.SADeliveryStatus.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD})
	// Polling is what this test is about; the process is killed at cleanup.
	startCommand(t, "worker", env, "worker polling")
}
