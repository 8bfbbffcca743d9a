package starter

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hubline/hubline/internal/metrics"
)

// TestRefusalsCountedAndLogged: every refusal is logged at info with its status and error
// code, never its body, and counted by route pattern (unknown paths share "none") and code.
func TestRefusalsCountedAndLogged(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	core, logs := observer.New(zapcore.DebugLevel)
	m := metrics.New()
	s := New(Options{
		Temporal: c, ClientSecret: secret, PublicURL: public, BlockExpiration: 24 * time.Hour,
		BlockExpirationISO: "P1D", Accounts: map[int]bool{1: false}, Logger: zap.New(core), Metrics: m,
	})
	const marker = "Ub0dy0000000000000000000000000000"
	body := []byte(`{"callbackId":"cb-1","inputFields":{"line_user_id":"` + marker + `"}}`)
	do := func(method, path, contentType string, body []byte, headers map[string]string) int {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentType)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		return rec.Code
	}
	badSig := map[string]string{"X-HubSpot-Signature-Version": "v2", "X-HubSpot-Signature": "00"}
	for _, r := range []struct {
		method, path, ctype string
		headers             map[string]string
		status              int
	}{
		{"POST", route, "application/json", badSig, 401},
		{"POST", route, "application/json", badSig, 401},
		{"POST", route, "text/plain", badSig, 415},
		{"GET", "/no/such/" + marker, "", nil, 404},
		{"GET", "/another/unknown/path", "", nil, 404},
		{"DELETE", "/healthz", "", nil, 405},
	} {
		if got := do(r.method, r.path, r.ctype, body, r.headers); got != r.status {
			t.Fatalf("%s %s answered %d, want %d", r.method, r.path, got, r.status)
		}
	}
	if got := do("GET", "/healthz", "", nil, nil); got != 200 {
		t.Fatalf("/healthz answered %d", got)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	text := rec.Body.String()
	for _, want := range []string{
		`hubline_http_refusals_total{code="401",route="/actions/send-line-message"} 2`,
		`hubline_http_refusals_total{code="415",route="/actions/send-line-message"} 1`,
		`hubline_http_refusals_total{code="404",route="none"} 2`,
		`hubline_http_refusals_total{code="405",route="none"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(text, marker) || strings.Contains(text, `code="200"`) {
		t.Errorf("/metrics holds a raw path or counts a success:\n%s", text)
	}

	refusals := logs.FilterMessage("request refused").All()
	if len(refusals) != 6 {
		t.Fatalf("%d refusal log lines, want 6: %v", len(refusals), logs.All())
	}
	first := refusals[0]
	if first.Level != zapcore.InfoLevel || first.ContextMap()["status"] != int64(401) ||
		first.ContextMap()["error_code"] == "" || first.ContextMap()["route"] != route {
		t.Errorf("refusal log line %v %v", first.Level, first.ContextMap())
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if s, ok := v.(string); ok && strings.Contains(s, marker) {
				t.Errorf("log %q field %s holds the request's body or path: %s", e.Message, k, s)
			}
		}
	}
}

// TestMetricsElsewhere: with HUBLINE_METRICS_ADDR set the action port does not serve /metrics.
func TestMetricsElsewhere(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	for _, elsewhere := range []bool{false, true} {
		s := New(Options{Temporal: c, BlockExpiration: time.Hour, BlockExpirationISO: "PT1H", MetricsElsewhere: elsewhere})
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if want := map[bool]int{false: 200, true: 404}[elsewhere]; rec.Code != want {
			t.Errorf("MetricsElsewhere=%v: /metrics answered %d, want %d", elsewhere, rec.Code, want)
		}
	}
}

// TestWebhookEventsCounted: each event of a verified LINE webhook is counted by type and
// outcome; events hubline does not act on (a group's) count as ignored, and a type LINE
// does not document counts as "other".
func TestWebhookEventsCounted(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	m := metrics.New()
	s := New(Options{Temporal: c, BlockExpiration: time.Hour, BlockExpirationISO: "PT1H", Accounts: map[int]bool{1: false},
		LineWebhook: LineWebhookOptions{Secrets: map[int]string{1: "line-secret"}}, Metrics: m})
	body := []byte(`{"destination":"U0","events":[` +
		`{"type":"join","webhookEventId":"e1","source":{"type":"group","groupId":"C1"}},` +
		`{"type":"join","webhookEventId":"e2","source":{"type":"group","groupId":"C1"}},` +
		`{"type":"x-invented","webhookEventId":"e3","source":{"type":"room","roomId":"R1"}}]}`)
	mac := hmac.New(sha256.New, []byte("line-secret"))
	mac.Write(body)
	req := httptest.NewRequest(http.MethodPost, "/line/webhook/1", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(LineSignatureHeader, base64.StdEncoding.EncodeToString(mac.Sum(nil)))
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("webhook answered %d: %s", rec.Code, rec.Body.String())
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	for _, want := range []string{
		`hubline_line_webhook_events_total{outcome="ignored",type="join"} 2`,
		`hubline_line_webhook_events_total{outcome="ignored",type="other"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
