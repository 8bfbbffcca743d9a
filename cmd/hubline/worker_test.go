package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
)

// TestWorkerHealthRefusals: /readyz fails when Temporal is unreachable and once shutdown began,
// naming the missing dependencies; /metrics is there only when it shares the address; the
// process-level test (TestWorkerAndStarterProcesses) checks the ready answer.
func TestWorkerHealthRefusals(t *testing.T) {
	unreachable, err := client.NewLazyClient(client.Options{HostPort: freeAddr(t)}) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	temporalDown := &readiness.Checks{}
	temporalDown.Add("temporal", func(ctx context.Context) error {
		_, err := unreachable.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
	bothDown := &readiness.Checks{}
	bothDown.Add("temporal", func(context.Context) error { return errors.New("connection refused") })
	bothDown.Add("database", func(context.Context) error { return errors.New("dial tcp: password=hunter2") })
	bothDown.Add("database", func(context.Context) error { return errors.New("the same database, opened twice") })
	dbDown := &readiness.Checks{}
	dbDown.Add("temporal", func(context.Context) error { return nil })
	dbDown.Add("database", func(context.Context) error { return errors.New("down") })
	up := &readiness.Checks{}
	up.Add("temporal", func(context.Context) error { return nil })
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	m := metrics.New()
	for _, tc := range []struct {
		name    string
		running context.Context
		ready   *readiness.Checks
		metrics http.Handler
		path    string
		status  int
		code    string
		missing []string
	}{
		{"alive", context.Background(), temporalDown, nil, "/healthz", 200, "", nil},
		{"ready", context.Background(), up, nil, "/readyz", 200, "", nil},
		{"temporal unreachable", context.Background(), temporalDown, nil, "/readyz", 503, "temporal_unavailable", []string{"temporal"}},
		{"temporal and database", context.Background(), bothDown, nil, "/readyz", 503, "temporal_unavailable", []string{"temporal", "database"}},
		{"database", context.Background(), dbDown, nil, "/readyz", 503, "database_unavailable", []string{"database"}},
		{"shutting down", stopped, up, nil, "/readyz", 503, "shutting_down", nil},
		{"metrics elsewhere", context.Background(), up, nil, "/metrics", 404, "not_found", nil},
		{"metrics here", context.Background(), up, m.Handler(), "/metrics", 200, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			workerHealth(tc.running, tc.ready, tc.metrics).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if tc.path == "/metrics" && tc.status == 200 {
				if !strings.Contains(rec.Body.String(), "go_goroutines") {
					t.Fatalf("metrics answered %q", rec.Body.String())
				}
				return
			}
			var body struct {
				Status  string
				Missing []string
				Error   struct{ Code, Message string }
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code {
				t.Fatalf("body %s (%v), want error code %q", rec.Body.String(), err, tc.code)
			}
			if !slices.Equal(body.Missing, tc.missing) {
				t.Errorf("missing %v, want %v", body.Missing, tc.missing)
			}
			if tc.path == "/readyz" && tc.status == 503 && body.Status != "unavailable" {
				t.Errorf("status %q, want unavailable", body.Status)
			}
			if strings.Contains(rec.Body.String(), "hunter2") {
				t.Errorf("a database error's text reached the answer: %s", rec.Body.String())
			}
		})
	}
}
