package starter_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/workflows"
)

// recordHistories writes the run's history under workflows/testdata when
// HUBLINE_RECORD_HISTORIES=1 (then commit the file; replay tests read it).
func recordHistory(t *testing.T, env *testenv.Env, workflowID, file string) {
	t.Helper()
	if os.Getenv("HUBLINE_RECORD_HISTORIES") != "1" {
		return
	}
	path := filepath.Join("..", "workflows", "testdata", file)
	if err := env.WriteHistory(workflowID, "", path); err != nil {
		t.Fatalf("record history: %v", err)
	}
	t.Logf("recorded %s", path)
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// receiver is a real HTTP endpoint on loopback answering from a script (the last answer repeats).
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []received
	answers []func(w http.ResponseWriter)
}

func newReceiver(t *testing.T, answers ...func(w http.ResponseWriter)) *receiver {
	rc := &receiver{answers: answers}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		n := len(rc.got)
		rc.got = append(rc.got, received{r.Header.Clone(), b, time.Now()})
		rc.mu.Unlock()
		if len(rc.answers) == 0 {
			w.WriteHeader(http.StatusOK)
			return
		}
		rc.answers[min(n, len(rc.answers)-1)](w)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func status(code int, headers ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.WriteHeader(code)
	}
}

// independentVerify checks X-Hubline-Signature from the documented format alone: v1 over
// "<t>.<body>" and v2 over "<t>.<Idempotency-Key>.<body>".
func independentVerify(secret string, h http.Header, body []byte) bool {
	parts := strings.Split(h.Get("X-Hubline-Signature"), ",")
	if len(parts) != 3 || !strings.HasPrefix(parts[0], "t=") || !strings.HasPrefix(parts[1], "v1=") || !strings.HasPrefix(parts[2], "v2=") {
		return false
	}
	sig := func(signed string) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(signed))
		m.Write(body)
		return []byte(hex.EncodeToString(m.Sum(nil)))
	}
	ts := parts[0][2:]
	return hmac.Equal(sig(ts+"."), []byte(parts[1][3:])) &&
		hmac.Equal(sig(ts+"."+h.Get("Idempotency-Key")+"."), []byte(parts[2][3:]))
}

func sendDataAction(callbackID, url, data, secret string, props map[string]string) map[string]any {
	in := map[string]string{"webhook_url": url, "data": data}
	if secret != "" {
		in["request_signature"] = secret
	}
	return testenv.Action(callbackID, in, props)
}

func callbackOf(env *testenv.Env, id string) (hubspotsandbox.Callback, bool) {
	for _, c := range env.HubSpot.Callbacks() {
		if c.ID == id {
			return c, true
		}
	}
	return hubspotsandbox.Callback{}, false
}

func TestSendDataIntegration(t *testing.T) {
	env := testenv.New(t, testenv.Options{SendDataAllow: "127.0.0.1/32", SendDataMaxAttempts: 3})

	run := func(t *testing.T, cb string, body map[string]any) workflows.ActionResult {
		t.Helper()
		r := env.Post("/actions/send-data", body)
		if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
			t.Fatalf("start answer %d %s", r.Status, r.Raw)
		}
		var res workflows.ActionResult
		if err := env.Result(workflows.WorkflowID(cb), &res); err != nil {
			t.Fatal(err)
		}
		c, ok := callbackOf(env, cb)
		if !ok {
			t.Fatalf("callback %s not completed", cb)
		}
		for k, v := range res.OutputFields {
			if c.OutputFields[k] != v {
				t.Fatalf("callback fields %v != result %v", c.OutputFields, res.OutputFields)
			}
		}
		return res
	}

	t.Run("signed JSON with tokens, verified by an independent receiver", func(t *testing.T) {
		rc := newReceiver(t)
		cb := "sd-json-1"
		data := `{"name": "{{contact.firstname}}", "greeting": "Hi {{contact.nickname|there}}", "n": 1}`
		res := run(t, cb, sendDataAction(cb, rc.URL+"/hook?x=1", data, "whsec_test", map[string]string{"firstname": `Ai"ko`}))
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.OutputFields["http_status"] != "200" {
			t.Fatalf("outputs %v", res.OutputFields)
		}
		got := rc.requests()
		if len(got) != 1 {
			t.Fatalf("%d requests", len(got))
		}
		r := got[0]
		if string(r.body) != `{"name":"Ai\"ko","greeting":"Hi there","n":1}` {
			t.Fatalf("body %s", r.body)
		}
		if !independentVerify("whsec_test", r.header, r.body) {
			t.Fatalf("signature %q does not verify", r.header.Get("X-Hubline-Signature"))
		}
		if r.header.Get("Content-Type") != "application/json" || !strings.HasPrefix(r.header.Get("User-Agent"), "hubline/") ||
			r.header.Get("Idempotency-Key") != workflows.IdempotencyKey(cb) {
			t.Fatalf("headers %v", r.header)
		}
		var found bool
		for _, ev := range env.HubSpot.TimelineEvents() {
			if ev.ID == "hubline-"+cb {
				found = ev.Tokens["action"] == "send_data" && ev.Tokens["status"] == "SUCCESS" && ev.Tokens["http_status"] == "200"
			}
		}
		if !found {
			t.Fatalf("timeline event missing or wrong: %+v", env.HubSpot.TimelineEvents())
		}
		recordHistory(t, env, workflows.WorkflowID(cb), "send_data.json")

		// Redelivery after the run closed: the first outcome, nothing sent again.
		again := env.Post("/actions/send-data", sendDataAction(cb, rc.URL+"/hook?x=1", data, "whsec_test", nil))
		if again.OutputFields["hs_execution_state"] != "SUCCESS" || len(rc.requests()) != 1 {
			t.Fatalf("redelivery: %s, %d requests", again.Raw, len(rc.requests()))
		}
	})

	t.Run("text data without signature", func(t *testing.T) {
		rc := newReceiver(t, status(204))
		cb := "sd-text-1"
		res := run(t, cb, sendDataAction(cb, rc.URL, "Hello {{contact.firstname|there}}!\n", "", nil))
		r := rc.requests()[0]
		if res.OutputFields["http_status"] != "204" || string(r.body) != "Hello there!\n" ||
			r.header.Get("Content-Type") != "text/plain; charset=utf-8" || r.header.Get("X-Hubline-Signature") != "" {
			t.Fatalf("outputs %v body %q headers %v", res.OutputFields, r.body, r.header)
		}
	})

	t.Run("503 then 200 is one logical delivery under one Idempotency-Key", func(t *testing.T) {
		rc := newReceiver(t, status(503), status(200))
		cb := "sd-retry-1"
		res := run(t, cb, sendDataAction(cb, rc.URL, `{"a":"b"}`, "k", nil))
		got := rc.requests()
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || len(got) != 2 {
			t.Fatalf("outputs %v, %d requests", res.OutputFields, len(got))
		}
		k0, k1 := got[0].header.Get("Idempotency-Key"), got[1].header.Get("Idempotency-Key")
		if k0 == "" || k0 != k1 {
			t.Fatalf("idempotency keys %q %q", k0, k1)
		}
		for _, r := range got {
			if !independentVerify("k", r.header, r.body) {
				t.Fatal("retry not signed")
			}
		}
	})

	t.Run("429 Retry-After is honoured", func(t *testing.T) {
		rc := newReceiver(t, status(429, "Retry-After", "3"), status(200))
		cb := "sd-429-1"
		res := run(t, cb, sendDataAction(cb, rc.URL, "x", "", nil))
		got := rc.requests()
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || len(got) != 2 {
			t.Fatalf("outputs %v, %d requests", res.OutputFields, len(got))
		}
		if gap := got[1].at.Sub(got[0].at); gap < 3*time.Second {
			t.Fatalf("retried after %v, want >= 3s (Retry-After)", gap)
		}
	})

	t.Run("redirects are not followed", func(t *testing.T) {
		target := newReceiver(t)
		rc := newReceiver(t, status(302, "Location", target.URL+"/other"))
		cb := "sd-302-1"
		res := run(t, cb, sendDataAction(cb, rc.URL, "x", "", nil))
		if res.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || res.OutputFields["error_code"] != "webhook_redirected" ||
			res.OutputFields["http_status"] != "302" || len(target.requests()) != 0 || len(rc.requests()) != 1 {
			t.Fatalf("outputs %v, target hits %d", res.OutputFields, len(target.requests()))
		}
	})

	t.Run("4xx is final", func(t *testing.T) {
		rc := newReceiver(t, status(400))
		cb := "sd-400-1"
		res := run(t, cb, sendDataAction(cb, rc.URL, "x", "", nil))
		if res.OutputFields["error_code"] != "webhook_rejected" || res.OutputFields["http_status"] != "400" || len(rc.requests()) != 1 {
			t.Fatalf("outputs %v, %d requests", res.OutputFields, len(rc.requests()))
		}
	})

	t.Run("attempts are bounded by HUBLINE_SEND_DATA_MAX_ATTEMPTS", func(t *testing.T) {
		rc := newReceiver(t, status(500))
		cb := "sd-500-1"
		res := run(t, cb, sendDataAction(cb, rc.URL, "x", "", nil))
		if res.OutputFields["error_code"] != "webhook_unavailable" || res.OutputFields["http_status"] != "500" || len(rc.requests()) != 3 {
			t.Fatalf("outputs %v, %d requests", res.OutputFields, len(rc.requests()))
		}
	})

	t.Run("refused destinations fail at once", func(t *testing.T) {
		for i, c := range []struct{ url, code string }{
			{"http://10.0.0.1/hook", "destination_not_allowed"},
			{"http://169.254.169.254/latest/meta-data/", "destination_not_allowed"},
			{"http://2130706433/", "destination_not_allowed"},
			{"http://0x7f.1/", "destination_not_allowed"},
			{"http://[::ffff:127.0.0.1]/", "destination_not_allowed"},
			{"ftp://example.com/x", "destination_not_allowed"},
			{"example.com/hook", "invalid_webhook_url"},
			{"", "missing_webhook_url"},
		} {
			cb := "sd-refused-" + string(rune('a'+i))
			r := env.Post("/actions/send-data", sendDataAction(cb, c.url, "x", "", nil))
			if r.Status != 200 || r.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || r.OutputFields["error_code"] != c.code {
				t.Errorf("%q: %d %s", c.url, r.Status, r.Raw)
			}
		}
		r := env.Post("/actions/send-data", sendDataAction("sd-nodata", "https://example.com/", " ", "", nil))
		if r.OutputFields["error_code"] != "missing_data" {
			t.Errorf("empty data: %s", r.Raw)
		}
	})
}
