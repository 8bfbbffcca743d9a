package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/testenv"
)

// TestMetricsThroughProcesses runs the production worker and starter against a Temporal
// server: after one LINE push with its HubSpot callback and two refused requests, /metrics
// shows hubline's series with their labels and the Temporal SDK's; the worker serves
// /metrics beside /readyz (one address), the starter on HUBLINE_METRICS_ADDR only; refusals
// are logged without their bodies; each process (and hubline codec) prints its effective
// settings, redacted.
func TestMetricsThroughProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	testenv.AddSearchAttributes(t, ts.GetDefaultClient(), ts.GetDefaultNamespace())
	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"metrics-line-token": "account 1"}})
	lineSrv := httptest.NewServer(lineBox)
	defer lineSrv.Close()
	hsBox := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "metrics-hubspot-token"})
	hsSrv := httptest.NewServer(hsBox)
	defer hsSrv.Close()

	httpAddr, healthAddr, starterMetrics := freeAddr(t), freeAddr(t), freeAddr(t)
	env := []string{
		"TEMPORAL_ADDRESS=" + ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE=" + ts.GetDefaultNamespace(),
		"HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_PUBLIC_URL=https://hubline.example.com",
		"HUBSPOT_CLIENT_SECRET=metrics-secret", "HUBSPOT_ACCESS_TOKEN=metrics-hubspot-token", "HUBSPOT_API_BASE_URL=" + hsSrv.URL,
		"HUBLINE_TIMELINE=off", "LINE_CHANNEL_ACCESS_TOKEN=metrics-line-token", "LINE_API_BASE_URL=" + lineSrv.URL,
		"HUBLINE_SHUTDOWN_TIMEOUT=5s", "HUBLINE_PAYLOAD_KEY=" + payloadKey,
	}
	worker, wlogs := startCommand(t, "worker", append(env, "HUBLINE_WORKER_HEALTH_ADDR="+healthAddr, "HUBLINE_METRICS_ADDR="+healthAddr), "worker polling")
	starter, slogs := startCommand(t, "starter", append(env, "HUBLINE_METRICS_ADDR="+starterMetrics), "starter listening")

	send := func(body []byte, sig string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+"/actions/send-line-message", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Signature-Version", "v2")
		req.Header.Set("X-HubSpot-Signature", sig)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body, _ := json.Marshal(testenv.Action("ap-metrics-1", map[string]string{
		"line_user_id": testenv.UserID, "message_1": "Hello metrics",
	}, nil))
	if st := send(body, hubspot.SignV2("metrics-secret", http.MethodPost, "https://hubline.example.com/actions/send-line-message", body)); st != 200 {
		t.Fatalf("signed action answered %d\n%s", st, slogs.String())
	}
	const marker = "Ubad00000000000000000000000000000"
	bad, _ := json.Marshal(testenv.Action("ap-metrics-bad", map[string]string{"line_user_id": marker, "message_1": "Refused text"}, nil))
	if st := send(bad, "0000"); st != 401 {
		t.Fatalf("badly signed action answered %d", st)
	}
	if st := get(t, "http://"+httpAddr+"/no/such/"+marker).status; st != 404 {
		t.Fatalf("unknown path answered %d", st)
	}
	if st := get(t, "http://"+httpAddr+"/metrics").status; st != 404 {
		t.Fatalf("the action port serves /metrics (%d) although HUBLINE_METRICS_ADDR is set", st)
	}
	testenv.Eventually(t, "the callback", 30*time.Second, func() bool { return len(hsBox.Callbacks()) == 1 })

	workerWants := []string{
		`hubline_line_pushes_total{account="1",outcome="accepted"} 1`,
		`hubline_line_push_seconds_bucket{account="1",le="+Inf"} 1`,
		`hubline_hubspot_calls_total{endpoint="complete_callback",outcome="ok"} 1`,
		`hubline_callbacks_total{outcome="completed",state="SUCCESS"} 1`,
	}
	for _, n := range metrics.SDKNames {
		workerWants = append(workerWants, "\n"+n)
	}
	starterWants := []string{
		`hubline_action_requests_total{action="send_line_message",outcome="started"} 1`,
		`hubline_http_refusals_total{code="401",route="/actions/send-line-message"} 1`,
		`hubline_http_refusals_total{code="404",route="none"} 2`, // the unknown path and /metrics
		"\ntemporal_request_total{",
	}
	for _, c := range []struct {
		url   string
		wants []string
	}{{"http://" + healthAddr + "/metrics", workerWants}, {"http://" + starterMetrics + "/metrics", starterWants}} {
		var text string
		deadline := time.Now().Add(20 * time.Second) // the SDK's metrics are flushed once a second
		for {
			text = get(t, c.url).body
			missing := ""
			for _, w := range c.wants {
				if !strings.Contains(text, w) {
					missing = w
				}
			}
			if missing == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s lacks %q:\n%s", c.url, missing, text)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	if r := get(t, "http://"+healthAddr+"/readyz"); r.status != 200 || !strings.Contains(r.body, `"status":"ready"`) {
		t.Fatalf("worker /readyz: %d %s", r.status, r.body)
	}

	stopCommand(t, starter, slogs)
	stopCommand(t, worker, wlogs)
	codec, clogs := startCommand(t, "codec", append(env, "HUBLINE_CODEC_ADDR="+freeAddr(t), "HUBLINE_CODEC_TOKEN=metrics-codec-token"), "codec listening")
	stopCommand(t, codec, clogs)
	if !strings.Contains(clogs.String(), `"HUBLINE_CODEC_TOKEN":"[redacted]"`) {
		t.Errorf("codec: no redacted effective configuration:\n%s", clogs.String())
	}
	all := wlogs.String() + slogs.String() + clogs.String()
	if !strings.Contains(slogs.String(), `"msg":"request refused"`) || !strings.Contains(slogs.String(), `"status":401`) {
		t.Errorf("the starter did not log the refusal:\n%s", slogs.String())
	}
	for _, logs := range []string{wlogs.String(), slogs.String()} {
		if strings.Count(logs, `"msg":"effective configuration"`) != 1 || !strings.Contains(logs, `"LINE_CHANNEL_ACCESS_TOKEN":"[redacted]"`) {
			t.Errorf("no single redacted effective configuration:\n%s", logs)
		}
	}
	for _, secret := range []string{marker, "Refused text", "Hello metrics", "metrics-secret", "metrics-line-token", "metrics-hubspot-token", "metrics-codec-token", payloadKey} {
		if strings.Contains(all, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
}

type got struct {
	status int
	body   string
}

func get(t *testing.T, url string) got {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return got{resp.StatusCode, string(b)}
}

// TestDevServesEverythingOnOneMetrics: dev's /metrics (on HUBLINE_HTTP_ADDR, whatever
// HUBLINE_METRICS_ADDR says) carries the starter's, the worker's and the SDK's metrics.
func TestDevServesEverythingOnOneMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	httpAddr := freeAddr(t)
	base := "http://" + httpAddr
	dev := startDev(t, []string{
		"TEMPORAL_ADDRESS=" + freeAddr(t), "HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_UI_ADDR=" + freeAddr(t),
		"HUBLINE_DATA_DIR=" + t.TempDir(), "HUBSPOT_CLIENT_SECRET=", "LINE_CHANNEL_ACCESS_TOKEN=", "HUBSPOT_ACCESS_TOKEN=",
		"HUBLINE_PUBLIC_URL=", "HUBLINE_METRICS_ADDR=" + freeAddr(t),
	})
	body, _ := json.Marshal(testenv.Action("ap-dev-metrics-1", map[string]string{"line_user_id": testenv.UserID, "message_1": "Hi"}, nil))
	resp, err := http.Post(base+"/actions/send-line-message", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("action answered %d\n%s", resp.StatusCode, dev.output.String())
	}
	wants := []string{
		`hubline_action_requests_total{action="send_line_message",outcome="started"} 1`,
		`hubline_line_pushes_total{account="1",outcome="accepted"} 1`,
		`hubline_callbacks_total{outcome="completed",state="SUCCESS"} 1`,
		"\ntemporal_workflow_completed_total{",
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		text := get(t, base+"/metrics").body
		missing := ""
		for _, w := range wants {
			if !strings.Contains(text, w) {
				missing = w
			}
		}
		if missing == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev /metrics lacks %q:\n%s", missing, text)
		}
		time.Sleep(200 * time.Millisecond)
	}
	dev.stop(t)
}
