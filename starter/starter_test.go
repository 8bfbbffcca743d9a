package starter

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/hubspot"
)

const (
	secret  = "s3cret"
	public  = "https://hubline.example.com"
	userID  = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"
	route   = "/actions/send-line-message"
	badAddr = "127.0.0.1:1" // nothing listens: Temporal "down"
)

func newTestServer(t *testing.T) *Server {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return New(Options{
		Temporal: c, ClientSecret: secret, PublicURL: public, BlockExpiration: 24 * time.Hour,
		BlockExpirationISO: "P1D", Accounts: map[int]bool{1: false, 2: true},
	})
}

type answer struct {
	status int
	out    map[string]string
	code   string
	raw    string
}

// post signs with v3 unless headers are given.
func post(t *testing.T, s *Server, path string, body []byte, headers map[string]string) answer {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json") // as HubSpot sends; headers may override it
	if headers == nil {
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req.Header.Set("X-HubSpot-Request-Timestamp", ts)
		req.Header.Set("X-HubSpot-Signature-v3", hubspot.SignV3(secret, http.MethodPost, public+path, body, ts))
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	raw, _ := io.ReadAll(rec.Body)
	var b struct {
		OutputFields map[string]string     `json:"outputFields"`
		Error        struct{ Code string } `json:"error"`
	}
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", rec.Code, raw)
	}
	return answer{rec.Code, b.OutputFields, b.Error.Code, string(raw)}
}

func action(inputs map[string]any, props map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"callbackId": "ap-1-2-3", "origin": map[string]any{"portalId": 1}, "context": map[string]any{"workflowId": 2},
		"object": map[string]any{"objectId": 3, "objectType": "CONTACT", "properties": props}, "inputFields": inputs,
	})
	return b
}

func TestInvalidInputsFailContinueWithCode(t *testing.T) {
	s := newTestServer(t)
	long := strings.Repeat("あ", 5001)
	for _, tc := range []struct {
		name   string
		inputs map[string]any
		props  map[string]any
		code   string
	}{
		{"no user id", map[string]any{"message_1": "hi"}, nil, CodeMissingLineUserID},
		{"malformed user id", map[string]any{"line_user_id": "U123", "message_1": "hi"}, nil, CodeInvalidLineUserID},
		{"uppercase hex user id", map[string]any{"line_user_id": "U4AF4980629AAAAAAAAAAAAAAAAAAAAAA", "message_1": "hi"}, nil, CodeInvalidLineUserID},
		{"no message", map[string]any{"line_user_id": userID}, nil, "empty_message"},
		{"blank message", map[string]any{"line_user_id": userID, "message_1": "   "}, nil, "empty_message"},
		{"token renders to nothing", map[string]any{"line_user_id": userID, "message_1": "{{contact.firstname}}"}, nil, "empty_message"},
		{"text too long", map[string]any{"line_user_id": userID, "message_1": long}, nil, "message_too_long"},
		{"too long after rendering", map[string]any{"line_user_id": userID, "message_1": "{{contact.bio}}"}, map[string]any{"bio": long}, "message_too_long"},
		{"message 3 too long", map[string]any{"line_user_id": userID, "message_1": "hi", "message_3": long}, nil, "message_too_long"},
		{"unknown account", map[string]any{"line_user_id": userID, "line_account": "3", "message_1": "hi"}, nil, CodeUnknownLineAccount},
		{"account not a number", map[string]any{"line_user_id": userID, "line_account": "two", "message_1": "hi"}, nil, CodeInvalidLineAccount},
		{"account zero", map[string]any{"line_user_id": userID, "line_account": 0, "message_1": "hi"}, nil, CodeInvalidLineAccount},
		{"unknown message type", map[string]any{"line_user_id": userID, "message_1": `{"type":"telegram","text":"x"}`}, nil, "invalid_message"},
		{"sticker without ids", map[string]any{"line_user_id": userID, "message_1": `{"type":"sticker"}`}, nil, "invalid_message"},
		{"flex without altText", map[string]any{"line_user_id": userID, "message_1": `{"type":"flex","contents":{"type":"bubble"}}`}, nil, "invalid_message"},
		{"analytics tag too long", map[string]any{"line_user_id": userID, "message_1": "hi", "analytics_tag": strings.Repeat("x", 256)}, nil, CodeInvalidAnalyticsTag},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, route, action(tc.inputs, tc.props), nil)
			if a.status != 200 || a.out["hs_execution_state"] != "FAIL_CONTINUE" || a.out["error_code"] != tc.code || a.out["error_message"] == "" {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
			if strings.Contains(a.raw, long[:30]) {
				t.Fatal("error message echoes the message text")
			}
		})
	}
}

func TestMalformedRequestsAre400(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		name, body, code string
	}{
		{"not json", "hello", "invalid_json"},
		{"json array", "[1,2]", "invalid_json"},
		{"no callbackId", `{"inputFields":{}}`, "missing_callback_id"},
		{"callbackId with spaces", `{"callbackId":"a b"}`, "invalid_callback_id"},
		{"callbackId too long", `{"callbackId":"` + strings.Repeat("a", 300) + `"}`, "invalid_callback_id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, route, []byte(tc.body), nil)
			if a.status != 400 || a.code != tc.code {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
		})
	}
}

func TestBodyOverOneMiBIs413(t *testing.T) {
	s := newTestServer(t)
	a := post(t, s, route, bytes.Repeat([]byte("x"), MaxBodyBytes+1), nil)
	if a.status != http.StatusRequestEntityTooLarge || a.code != "body_too_large" {
		t.Fatalf("got %d %s", a.status, a.raw)
	}
}

func TestSignatureChecks(t *testing.T) {
	s := newTestServer(t)
	body := action(map[string]any{"message_1": "hi"}, nil) // valid signature → validation answers
	now := time.Now()
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	old := strconv.FormatInt(now.Add(-6*time.Minute).UnixMilli(), 10)
	for _, tc := range []struct {
		name    string
		path    string
		body    []byte
		headers map[string]string
		ok      bool
	}{
		{"v3 valid", route, body, map[string]string{
			"X-HubSpot-Request-Timestamp": ts, "X-HubSpot-Signature-v3": hubspot.SignV3(secret, "POST", public+route, body, ts)}, true},
		{"v3 with encoded query", route + "?tag=a%3Ab%2Fc", body, map[string]string{
			"X-HubSpot-Request-Timestamp": ts, "X-HubSpot-Signature-v3": hubspot.SignV3(secret, "POST", public+route+"?tag=a%3Ab%2Fc", body, ts)}, true},
		{"v3 expired", route, body, map[string]string{
			"X-HubSpot-Request-Timestamp": old, "X-HubSpot-Signature-v3": hubspot.SignV3(secret, "POST", public+route, body, old)}, false},
		{"v3 tampered body", route, append([]byte(" "), body...), map[string]string{
			"X-HubSpot-Request-Timestamp": ts, "X-HubSpot-Signature-v3": hubspot.SignV3(secret, "POST", public+route, body, ts)}, false},
		{"v3 wrong secret", route, body, map[string]string{
			"X-HubSpot-Request-Timestamp": ts, "X-HubSpot-Signature-v3": hubspot.SignV3("other", "POST", public+route, body, ts)}, false},
		{"v2 valid", route, body, map[string]string{
			"X-HubSpot-Signature-Version": "v2", "X-HubSpot-Signature": hubspot.SignV2(secret, "POST", public+route, body)}, true},
		{"v2 over another host", route, body, map[string]string{
			"X-HubSpot-Signature-Version": "v2", "X-HubSpot-Signature": hubspot.SignV2(secret, "POST", "https://evil.example.com"+route, body)}, false},
		{"unsigned", route, body, map[string]string{"X-Other": "1"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, tc.path, tc.body, tc.headers)
			if tc.ok && (a.status != 200 || a.out["error_code"] != CodeMissingLineUserID) {
				t.Fatalf("want validation answer, got %d %s", a.status, a.raw)
			}
			if !tc.ok && (a.status != 401 || a.code != "invalid_signature") {
				t.Fatalf("want 401, got %d %s", a.status, a.raw)
			}
		})
	}
}

func TestTemporalDownIs503AndNotReady(t *testing.T) {
	s := newTestServer(t)
	a := post(t, s, route, action(map[string]any{"line_user_id": userID, "message_1": "hi"}, nil), nil)
	if a.status != http.StatusServiceUnavailable || a.code != "temporal_unavailable" {
		t.Fatalf("got %d %s", a.status, a.raw)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("readyz %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != 200 {
		t.Fatalf("healthz %d", rec.Code)
	}
}

func TestUnknownRouteAndMethodUseTheErrorShape(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		method, path string
		status       int
	}{{"GET", "/nope", 404}, {"GET", route, 405}} {
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		var b errorBody
		if rec.Code != tc.status || json.Unmarshal(rec.Body.Bytes(), &b) != nil || b.Error.Code == "" {
			t.Fatalf("%s %s: %d %s", tc.method, tc.path, rec.Code, rec.Body)
		}
	}
}

func TestRejectionsAreCounted(t *testing.T) {
	s := newTestServer(t)
	post(t, s, route, action(map[string]any{"message_1": "hi"}, nil), nil)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `hubline_action_requests_total{action="send_line_message",outcome="rejected_missing_line_user_id"} 1`) {
		t.Fatalf("metrics lack the rejection:\n%s", rec.Body.String())
	}
}

func TestRetryAfterSeconds(t *testing.T) {
	for _, tc := range []struct{ over, want int }{
		{0, 1}, {1, 1}, {1500, 1}, {1501, 2}, {15000, 10}, {10_000_000, 60},
	} {
		if got := retryAfterSeconds(tc.over); got != tc.want {
			t.Errorf("retryAfterSeconds(%d) = %d, want %d", tc.over, got, tc.want)
		}
	}
}
