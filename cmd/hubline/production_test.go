package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/server/temporaltest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/testenv"
)

// payloadKey is a fixed test key (32 bytes, base64).
const payloadKey = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="

// startCommand runs `hubline <name>` as a process and waits for a log line containing ready.
func startCommand(t *testing.T, name string, env []string, ready string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0], name)
	cmd.Env = append(os.Environ(), append(env, "HUBLINE_TEST_RUN_MAIN=1")...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	var logs bytes.Buffer
	found := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := false
		for sc.Scan() {
			logs.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), ready) {
				once = true
				close(found)
			}
		}
	}()
	select {
	case <-found:
	case <-time.After(time.Minute):
		t.Fatalf("%s did not log %q:\n%s", name, ready, logs.String())
	}
	return cmd, &logs
}

func stopCommand(t *testing.T, cmd *exec.Cmd, logs *bytes.Buffer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("%v exited with %v:\n%s", cmd.Args, err, logs.String())
		}
	case <-time.After(time.Minute):
		t.Fatalf("%v did not stop on SIGTERM", cmd.Args)
	}
}

// TestWorkerAndStarterProcesses runs the production commands against a Temporal server and
// the HTTP fakes of LINE and HubSpot, configured only through the documented variables.
func TestWorkerAndStarterProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	testenv.AddSearchAttributes(t, ts.GetDefaultClient(), ts.GetDefaultNamespace())
	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"prod-line-token": "account 1"}})
	lineSrv := httptest.NewServer(lineBox)
	defer lineSrv.Close()
	hsBox := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "prod-hubspot-token"})
	hsSrv := httptest.NewServer(hsBox)
	defer hsSrv.Close()

	httpAddr, healthAddr := freeAddr(t), freeAddr(t)
	env := []string{
		"TEMPORAL_ADDRESS=" + ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE=" + ts.GetDefaultNamespace(),
		"HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_PUBLIC_URL=https://hubline.example.com",
		"HUBSPOT_CLIENT_SECRET=prod-secret", "HUBSPOT_ACCESS_TOKEN=prod-hubspot-token", "HUBSPOT_API_BASE_URL=" + hsSrv.URL,
		"HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID=tpl-1", "LINE_CHANNEL_ACCESS_TOKEN=prod-line-token", "LINE_API_BASE_URL=" + lineSrv.URL,
		"HUBLINE_SHUTDOWN_TIMEOUT=5s", "HUBLINE_PAYLOAD_KEY=" + payloadKey, "HUBLINE_WORKER_HEALTH_ADDR=" + healthAddr,
	}
	worker, wlogs := startCommand(t, "worker", env, "worker polling")
	starter, slogs := startCommand(t, "starter", env, "starter listening")
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get("http://" + healthAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("worker %s answered %d", path, resp.StatusCode)
		}
	}

	body, _ := json.Marshal(testenv.Action("ap-prod-1", map[string]string{
		"line_user_id": testenv.UserID, "message_1": "Hello {{contact.firstname}}", "analytics_tag": "launch",
	}, map[string]string{"firstname": "Aiko"}))
	req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/actions/send-line-message", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	// HubSpot signed the public URL it called, not the address we listen on.
	req.Header.Set("X-HubSpot-Signature-Version", "v2")
	req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("prod-secret", http.MethodPost,
		"https://hubline.example.com/actions/send-line-message", body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ OutputFields map[string]string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != 200 || out.OutputFields["hs_execution_state"] != "BLOCK" {
		t.Fatalf("answer %d %v\n%s", resp.StatusCode, out, slogs.String())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for len(hsBox.Callbacks()) == 0 || len(hsBox.TimelineEvents()) == 0 {
		if ctx.Err() != nil {
			t.Fatalf("no callback/timeline; worker logs:\n%s", wlogs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if lineBox.DeliveredTo(testenv.UserID) != 1 || hsBox.Callbacks()[0].OutputFields["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("deliveries %d, callbacks %+v", lineBox.DeliveredTo(testenv.UserID), hsBox.Callbacks())
	}
	// JSON logs, and neither the message text, the user ID nor any secret in them.
	all := wlogs.String() + slogs.String()
	for _, secret := range []string{"Hello Aiko", testenv.UserID, "prod-secret", "prod-line-token", "prod-hubspot-token"} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if first := strings.SplitN(wlogs.String(), "\n", 2)[0]; !json.Valid([]byte(first)) {
		t.Errorf("worker logs are not JSON: %s", first)
	}
	// Temporal stores only ciphertext: the test's own client has no codec and sees it raw.
	it := ts.GetDefaultClient().GetWorkflowHistory(ctx, "hubspot-ap-prod-1", "", false, 0)
	ev, err := it.Next()
	if err != nil {
		t.Fatal(err)
	}
	in := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()[0]
	if string(in.GetMetadata()["encoding"]) != codec.Encoding || bytes.Contains(in.GetData(), []byte("Aiko")) ||
		bytes.Contains(in.GetData(), []byte(testenv.UserID)) {
		t.Fatalf("workflow input is not encrypted: %v", in)
	}
	// hubline codec decodes it for the Temporal UI and CLI, with the same key, behind a token.
	codecAddr := freeAddr(t)
	codecEnv := append(env, "HUBLINE_CODEC_ADDR="+codecAddr, "HUBLINE_CODEC_TOKEN=codec-token")
	codecCmd, clogs := startCommand(t, "codec", codecEnv, "codec listening")
	payloads, _ := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{in}})
	req, _ = http.NewRequest(http.MethodPost, "http://"+codecAddr+"/decode", bytes.NewReader(payloads))
	req.Header.Set("Authorization", "Bearer codec-token")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var decoded commonpb.Payloads
	if err := protojson.Unmarshal(answer, &decoded); err != nil || resp.StatusCode != 200 || len(decoded.Payloads) != 1 ||
		string(decoded.Payloads[0].GetMetadata()["encoding"]) != "json/plain" ||
		!bytes.Contains(decoded.Payloads[0].GetData(), []byte(`"text":"Hello Aiko"`)) {
		t.Fatalf("codec answered %d (%v): %s\n%s", resp.StatusCode, err, answer, clogs.String())
	}
	stopCommand(t, codecCmd, clogs)
	if out, err := runCommand(append(codecEnv, "HUBLINE_PAYLOAD_KEY="), "codec"); err == nil || !strings.Contains(string(out), "HUBLINE_PAYLOAD_KEY is unset") {
		t.Fatalf("codec without a key: %v\n%s", err, out)
	}

	// The queue action, then `hubline queue find` by callbackId and by object ID: the
	// LineBatch memo is encrypted too, so find must decode it with the same key.
	body, _ = json.Marshal(testenv.Action("ap-prod-q1", map[string]string{
		"line_user_id": testenv.UserID, "message_1": "Queued hello",
	}, nil))
	req, _ = http.NewRequest(http.MethodPost, "http://"+httpAddr+"/actions/send-line-message-queue", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Signature-Version", "v2")
	req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("prod-secret", http.MethodPost,
		"https://hubline.example.com/actions/send-line-message-queue", body))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("queue action answered %d\n%s", resp.StatusCode, slogs.String())
	}
	testenv.Eventually(t, "the queued callback", 30*time.Second, func() bool { return len(hsBox.Callbacks()) == 2 })
	for _, key := range []string{"ap-prod-q1", "904"} {
		out, err := runCommand(env, "queue", "find", key)
		if err != nil {
			t.Fatalf("queue find %s: %v\n%s", key, err, out)
		}
		var hits []struct {
			BatchWorkflowID, Status, Queue, CallbackID string
			ObjectID                                   int64
		}
		if err := json.Unmarshal(out, &hits); err != nil {
			t.Fatalf("queue find %s: %v\n%s", key, err, out)
		}
		if len(hits) != 1 || hits[0].CallbackID != "ap-prod-q1" || hits[0].ObjectID != 904 ||
			!strings.HasPrefix(hits[0].BatchWorkflowID, hits[0].Queue+"-") {
			t.Fatalf("queue find %s = %+v", key, hits)
		}
	}
	if out, err := runCommand(env, "queue", "find", "ap-prod-unknown"); err == nil {
		t.Fatalf("queue find of an unknown callbackId succeeded: %s", out)
	}

	stopCommand(t, starter, slogs)
	stopCommand(t, worker, wlogs)
}

// runCommand runs `hubline args...` to completion and returns its standard output.
func runCommand(env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), append(env, "HUBLINE_TEST_RUN_MAIN=1")...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return append(out, stderr.Bytes()...), err
	}
	return out, nil
}
