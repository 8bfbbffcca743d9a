package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/workflows"
)

// The test binary doubles as hubline, so the dev stack runs as a real separate process
// without a second build.
func TestMain(m *testing.M) {
	if os.Getenv("HUBLINE_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	// A test that does not name a data directory must not leave hubline.db in the package
	// (processes it starts inherit this).
	if os.Getenv("HUBLINE_DATA_DIR") == "" {
		dir, err := os.MkdirTemp("", "hubline-test-data-")
		if err != nil {
			panic(err)
		}
		os.Setenv("HUBLINE_DATA_DIR", dir)
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

type devProcess struct {
	cmd    *exec.Cmd
	output *bytes.Buffer
}

func startDev(t *testing.T, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev")
	cmd.Env = append(os.Environ(), append(env, "HUBLINE_TEST_RUN_MAIN=1")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, output: &logs}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "hubline dev is ready") {
				ready <- true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatalf("dev did not become ready; logs:\n%s", logs.String())
	}
	return p
}

func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("dev exited with %v; logs:\n%s", err, p.output.String())
		}
	case <-time.After(time.Minute):
		t.Fatal("dev did not shut down on SIGTERM")
	}
}

func TestDevStackDeliversAndKeepsDeduplicatingAcrossRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack twice")
	}
	httpAddr, uiAddr, temporalAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	env := []string{
		"TEMPORAL_ADDRESS=" + temporalAddr, "HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_UI_ADDR=" + uiAddr,
		"HUBLINE_DATA_DIR=" + t.TempDir(), "HUBSPOT_CLIENT_SECRET=dev-secret",
		"LINE_CHANNEL_ACCESS_TOKEN=", "HUBSPOT_ACCESS_TOKEN=", "HUBLINE_PUBLIC_URL=",
	}
	body, _ := json.Marshal(map[string]any{
		"callbackId": "ap-dev-test-1", "origin": map[string]any{"portalId": 5},
		"object":      map[string]any{"objectId": 904, "properties": map[string]string{"firstname": "Aiko"}},
		"inputFields": map[string]string{"line_user_id": "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "message_1": "Hello {{contact.firstname}}"},
	})
	send := func() map[string]string {
		url := base + "/actions/send-line-message"
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Signature-Version", "v2")
		req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("dev-secret", http.MethodPost, url, body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ OutputFields map[string]string }
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			t.Fatalf("answer %d, %v", resp.StatusCode, err)
		}
		return out.OutputFields
	}
	delivered := func() []map[string]any {
		resp, err := http.Get(base + "/sandbox/line/sandbox/messages")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ds []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&ds); err != nil {
			t.Fatal(err)
		}
		return ds
	}

	p := startDev(t, env)
	if got := send(); got["hs_execution_state"] != "BLOCK" {
		t.Fatalf("first delivery: %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for len(delivered()) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("nothing delivered; logs:\n%s", p.output.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ds := delivered(); len(ds) != 1 || !strings.Contains(string(mustJSON(ds[0]["messages"])), "Hello Aiko") {
		t.Fatalf("deliveries: %v", ds)
	}
	checkNamespace(t, temporalAddr)
	resp, err := http.Get("http://" + uiAddr + "/")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("Temporal UI: %v %v", resp, err)
	}
	resp.Body.Close()
	// Wait for the run to close (callback completed) before restarting.
	for {
		resp, err := http.Get(base + "/sandbox/hubspot/sandbox?format=json")
		if err != nil {
			t.Fatal(err)
		}
		var hs struct {
			Callbacks, TimelineEvents []any
			Notes                     []struct{ Body string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&hs)
		resp.Body.Close()
		// Without a template, dev records the delivery as a note on the contact, as new apps must.
		if len(hs.Callbacks) == 1 && len(hs.Notes) == 1 {
			if len(hs.TimelineEvents) != 0 || !strings.Contains(hs.Notes[0].Body, "Hello Aiko") {
				t.Fatalf("dev history: %d timeline events, note %+v", len(hs.TimelineEvents), hs.Notes)
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatal("callback or delivery note never written")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond) // the timeline write and workflow completion follow
	p.stop(t)

	p = startDev(t, env)
	got := send()
	if got["hs_execution_state"] != "SUCCESS" || got["line_request_id"] == "" {
		t.Fatalf("redelivery after restart should get the closed run's outcome, got %v", got)
	}
	time.Sleep(time.Second)
	if ds := delivered(); len(ds) != 0 {
		t.Fatalf("redelivery after restart sent again: %v", ds)
	}
	p.stop(t)
	// The restarted server must not wait for the first run's members (they listened on
	// other ports): that showed as ~10 s of "Not enough hosts" errors.
	if strings.Contains(p.output.String(), "Not enough hosts") {
		t.Errorf("the restarted server tried to join the previous run's members:\n%s", p.output.String())
	}
}

// checkNamespace verifies what dev promises: 7 days retention (longer than HubSpot's 3-day
// retry window plus the block) and every search attribute.
func checkNamespace(t *testing.T, addr string) {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 7*24*time.Hour {
		t.Fatalf("retention %v", got)
	}
	sas, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range workflows.SearchAttributes() {
		if _, ok := sas.GetCustomAttributes()[name]; !ok {
			t.Errorf("search attribute %s missing", name)
		}
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func TestHelpAndBadSettings(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"starter", "--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "HUBSPOT_CLIENT_SECRET") || !strings.Contains(out.String(), "HUBLINE_HTTP_ADDR") {
		t.Fatalf("starter help:\n%s", out.String())
	}
	if err := run(context.Background(), []string{"nope"}, io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
	t.Setenv("HUBLINE_BLOCK_EXPIRATION", "tomorrow")
	err := run(context.Background(), []string{"worker"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HUBLINE_BLOCK_EXPIRATION") {
		t.Fatalf("malformed setting: %v", err)
	}
}

func TestStarterRefusesToRunWithoutSecret(t *testing.T) {
	t.Setenv("HUBSPOT_CLIENT_SECRET", "")
	t.Setenv("HUBLINE_INSECURE_SKIP_SIGNATURE", "")
	err := run(context.Background(), []string{"starter"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "HUBSPOT_CLIENT_SECRET") {
		t.Fatalf("got %v", err)
	}
}
