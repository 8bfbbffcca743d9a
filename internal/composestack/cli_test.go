package composestack

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/types/known/durationpb"
)

// cliEnv makes the test binary act as the `temporal` CLI: the temporalio/admin-tools image
// runs the compose setup script with the real CLI, which cannot be installed here (its go.mod
// has replace directives). The stand-in implements exactly the commands and flags the script
// uses, through the same operator and workflow service calls, and refuses anything else, so a
// script change that needs more fails this test instead of passing unchecked.
const cliEnv = "HUBLINE_TEST_TEMPORAL_CLI_STANDIN"

func TestMain(m *testing.M) {
	if os.Getenv(cliEnv) == "1" {
		os.Exit(temporalCLI(os.Args[1:], os.Stdout, os.Stderr))
	}
	code := m.Run()
	if imageDir != "" { // the built image binary (image_test.go)
		os.RemoveAll(imageDir)
	}
	os.Exit(code)
}

// installCLI puts a `temporal` that runs this test binary as the stand-in into dir.
func installCLI(t *testing.T, dir string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(dir, "temporal")); err != nil {
		t.Fatal(err)
	}
}

// cliFlags are the flags each command accepts (all take a value), as the real CLI spells them.
var cliFlags = map[string][]string{
	"operator cluster health":          {"address"},
	"operator namespace describe":      {"address", "namespace"},
	"operator namespace create":        {"address", "namespace", "retention"},
	"operator search-attribute create": {"address", "namespace", "name", "type"},
	"operator search-attribute list":   {"address", "namespace"},
}

// temporalCLI runs one `temporal` command line and returns its exit status: 0 done, 1 the
// server refused or failed, 2 a command or flag the stand-in does not know.
func temporalCLI(args []string, stdout, stderr io.Writer) int {
	var words []string
	flags := map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, ok := strings.CutPrefix(a, "--")
		if !ok {
			words = append(words, a)
			continue
		}
		if n, v, ok := strings.Cut(name, "="); ok {
			flags[n] = v
			continue
		}
		if i+1 >= len(args) {
			fmt.Fprintf(stderr, "temporal (test stand-in): flag --%s needs a value\n", name)
			return 2
		}
		flags[name] = args[i+1]
		i++
	}
	command := strings.Join(words, " ")
	known, ok := cliFlags[command]
	if !ok {
		fmt.Fprintf(stderr, "temporal (test stand-in): command %q is not implemented; the compose script uses only: %v\n", command, slices.Sorted(maps.Keys(cliFlags)))
		return 2
	}
	for name := range flags {
		if !slices.Contains(known, name) {
			fmt.Fprintf(stderr, "temporal (test stand-in): %s: flag --%s is not implemented\n", command, name)
			return 2
		}
	}
	address := cmp.Or(flags["address"], os.Getenv("TEMPORAL_ADDRESS"), "127.0.0.1:7233")
	namespace := cmp.Or(flags["namespace"], os.Getenv("TEMPORAL_NAMESPACE"), "default")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.DialContext(ctx, client.Options{HostPort: address, Namespace: namespace, Logger: quietLogger{}})
	if err != nil {
		fmt.Fprintf(stderr, "failed connecting to %s: %v\n", address, err)
		return 1
	}
	defer c.Close()
	if err := runCLI(ctx, c, command, namespace, flags, stdout); err != nil {
		fmt.Fprintf(stderr, "Error: %v\n", err)
		return 1
	}
	return 0
}

func runCLI(ctx context.Context, c client.Client, command, namespace string, flags map[string]string, stdout io.Writer) error {
	switch command {
	case "operator cluster health":
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "temporal.api.workflowservice.v1.WorkflowService: SERVING")
	case "operator namespace describe":
		resp, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "NamespaceInfo.Name  %s\nConfig.WorkflowExecutionRetentionTtl  %s\n",
			resp.GetNamespaceInfo().GetName(), resp.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration())
	case "operator namespace create":
		retention, err := parseRetention(cmp.Or(flags["retention"], "72h"))
		if err != nil {
			return err
		}
		_, err = c.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(retention),
		})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "Namespace %s successfully registered.\n", namespace)
	case "operator search-attribute create":
		typ, ok := enumspb.IndexedValueType_value["INDEXED_VALUE_TYPE_"+strings.ToUpper(flags["type"])]
		if flags["name"] == "" || !ok || typ == 0 {
			return fmt.Errorf("need --name and a --type such as Keyword (got %q)", flags["type"])
		}
		_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace:        namespace,
			SearchAttributes: map[string]enumspb.IndexedValueType{flags["name"]: enumspb.IndexedValueType(typ)},
		})
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, "Search attributes have been added")
	case "operator search-attribute list":
		resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-30s %s\n", "Name", "Type")
		for _, attrs := range []map[string]enumspb.IndexedValueType{resp.GetSystemAttributes(), resp.GetCustomAttributes()} {
			for _, name := range slices.Sorted(maps.Keys(attrs)) {
				fmt.Fprintf(stdout, "%-30s %s\n", name, attrs[name])
			}
		}
	default:
		return errors.New("unreachable: command checked above")
	}
	return nil
}

// parseRetention reads a duration as the CLI does: Go durations, or whole days ("7d").
func parseRetention(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 {
			return 0, fmt.Errorf("bad --retention %q", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("bad --retention %q", s)
	}
	return d, nil
}

func TestCLIStandInRefusesWhatItDoesNotImplement(t *testing.T) {
	for _, args := range [][]string{
		{"workflow", "list"},
		{"operator", "namespace", "create", "--namespace", "x", "--history-archival-state", "enabled"},
		{"operator", "search-attribute", "create", "--name"},
	} {
		var out, errOut strings.Builder
		if code := temporalCLI(args, &out, &errOut); code != 2 {
			t.Errorf("temporal %v: exit %d, want 2 (stderr %q)", args, code, errOut.String())
		}
	}
	for in, want := range map[string]time.Duration{"168h": 168 * time.Hour, "7d": 168 * time.Hour} {
		if got, err := parseRetention(in); err != nil || got != want {
			t.Errorf("parseRetention(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
}

// quietLogger keeps the SDK's own logs out of the script's output.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
