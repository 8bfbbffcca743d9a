package starter_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// Canary values of the actions' secrets and private contents: each distinctive, so any
// appearance in a log line is a leak.
const (
	canaryLineToken     = "line-CANARY-channel-token-7f3a9c"
	canaryClientSecret  = "hs-CANARY-client-secret-5d1e08"
	canaryHubSpotToken  = "hs-CANARY-access-token-8b2f41"
	canaryText          = "CANARY-message-text-41d2"
	canaryProperty      = "CANARY-contact-property-93e1"
	canaryData          = "CANARY-send-data-b7c4"
	canarySigningSecret = "whsec_CANARY_signing_e2a9"
	canaryURLSecret     = "CANARY-url-query-0c55"
	canaryInvalidUser   = "Ud15ea5ed0c0a1e5cef00dbabe0ddba11" // well-formed, never sent
)

const (
	callbacksPath = "/automation/v4/actions/callbacks"
	contactsPath  = "/crm/v3/objects/contacts"
)

// TestLogsOfActionsHoldNoSecrets drives every action through the real starter and worker
// on temporaltest, with the LINE and HubSpot sandboxes failing as they do in production,
// and proves no token, secret, message text or full user ID reaches the one logger.
func TestLogsOfActionsHoldNoSecrets(t *testing.T) {
	logs := captureLogs(t)
	payloadKey := make([]byte, 32)
	_, _ = rand.Read(payloadKey)
	env := testenv.New(t, testenv.Options{
		Logger: logs.Log, ClientSecret: canaryClientSecret, LineTokens: map[int]string{1: canaryLineToken},
		HubSpot: hubspotsandbox.Options{AccessToken: canaryHubSpotToken}, PayloadKey: payloadKey,
		SendDataAllow: "127.0.0.1/32", SendDataMaxAttempts: 3,
	})
	env.Activities.LinePushRate = map[int]int{1: 200}
	line := worker.NewLine(env.Client, env.Activities, []int{1}, 2*time.Second)
	if err := line.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(line.Stop)

	// The Send Data receiver fails once, then takes everything but a path that refuses.
	var receiverCalls atomic.Int32
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case strings.HasPrefix(r.URL.Path, "/refuse"):
			http.Error(w, "refused "+canaryData, http.StatusBadRequest)
		case receiverCalls.Add(1) == 1:
			http.Error(w, "down", http.StatusInternalServerError)
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(receiver.Close)

	message := "Hello {{contact.firstname}} " + canaryText
	v1 := func(cb string, inputs map[string]string) map[string]any {
		in := map[string]string{"line_user_id": canaryUserID, "message_1": message, "analytics_tag": "spring_sale"}
		for k, v := range inputs {
			in[k] = v
		}
		return testenv.Action(cb, in, map[string]string{"firstname": canaryProperty})
	}
	v2 := func(cb string, objectID int64, props map[string]any) map[string]any {
		a := testenv.Action(cb, map[string]string{"message_1": message}, nil)
		a["object"] = map[string]any{"objectId": objectID, "objectType": "CONTACT", "properties": props}
		return a
	}
	sendData := func(cb, path string) map[string]any {
		return testenv.Action(cb, map[string]string{
			"webhook_url":       receiver.URL + path + "?token=" + canaryURLSecret,
			"data":              `{"secret":"` + canaryData + `","name":"{{contact.firstname}}"}`,
			"request_signature": canarySigningSecret,
		}, map[string]string{"firstname": canaryProperty})
	}
	raw := func(b any) []byte { j, _ := json.Marshal(b); return j }

	// started: the action is answered BLOCK and its workflow's outcome is waited for.
	started := func(route string, body map[string]any, state string) func(t *testing.T) {
		return func(t *testing.T) {
			r := env.Post(route, body)
			if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
				t.Fatalf("answer %d %s", r.Status, r.Raw)
			}
			var res workflows.ActionResult
			if err := env.Result(workflows.WorkflowID(body["callbackId"].(string)), &res); err != nil {
				t.Fatalf("workflow: %v", err)
			}
			if res.OutputFields["hs_execution_state"] != state {
				t.Fatalf("outcome %v, want %s", res.OutputFields, state)
			}
		}
	}
	// answered: the starter answers at once with status and, for 200, error_code.
	answered := func(route string, body []byte, sign func(*http.Request, []byte), status int, code string) func(t *testing.T) {
		return func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, env.Starter.URL+route, bytes.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			if sign != nil {
				sign(req, body)
			}
			r := testenv.Do(t, req)
			got := r.Error.Code
			if r.Status == 200 {
				got = r.OutputFields["error_code"]
			}
			if r.Status != status || got != code {
				t.Fatalf("answer %d %s, want %d %s", r.Status, r.Raw, status, code)
			}
		}
	}
	signed := func(req *http.Request, b []byte) { testenv.SignV3With(req, b, time.Now(), canaryClientSecret) }
	badlySigned := func(req *http.Request, b []byte) { testenv.SignV3With(req, b, time.Now(), "not-the-secret") }
	stale := func(req *http.Request, b []byte) {
		testenv.SignV3With(req, b, time.Now().Add(-time.Hour), canaryClientSecret)
	}

	cases := []struct {
		name  string
		setup func()
		run   func(t *testing.T)
	}{
		{"v1 delivered", nil, started(route, v1("log-v1-ok", nil), "SUCCESS")},
		{"v1 LINE 500 then delivered", func() { env.LINE.FailNext(http.StatusInternalServerError, 2) },
			started(route, v1("log-v1-500", nil), "SUCCESS")},
		{"v1 LINE 400", func() { env.LINE.FailNext(http.StatusBadRequest, 1) },
			started(route, v1("log-v1-400", nil), "FAIL_CONTINUE")},
		{"v1 LINE 401", func() { env.LINE.FailNext(http.StatusUnauthorized, 1) },
			started(route, v1("log-v1-401", nil), "FAIL_CONTINUE")},
		{"v1 HubSpot callback 429 then completed", func() { env.HubSpot.FailNext(callbacksPath, http.StatusTooManyRequests, 1) },
			started(route, v1("log-v1-hs429", nil), "SUCCESS")},
		{"v1 HubSpot callback 401", func() { env.HubSpot.FailNext(callbacksPath, http.StatusUnauthorized, 1) },
			started(route, v1("log-v1-hs401", nil), "SUCCESS")},
		{"v1 redelivered after close", nil, answered(route, raw(v1("log-v1-ok", nil)), signed, 200, "")},
		{"v2 from properties", nil,
			started("/actions/send-line-message-v2", v2("log-v2-props", 2001, map[string]any{"line_user_id": canaryUserID, "firstname": canaryProperty}), "SUCCESS")},
		{"v2 from the CRM, HubSpot 429 first", func() {
			env.HubSpot.SetContact("2002", map[string]string{"line_user_id": canaryUserID, "firstname": canaryProperty})
			env.HubSpot.FailNext(contactsPath, http.StatusTooManyRequests, 1)
		}, started("/actions/send-line-message-v2", v2("log-v2-crm", 2002, map[string]any{"firstname": canaryProperty}), "SUCCESS")},
		{"v2 HubSpot 401", func() { env.HubSpot.FailNext(contactsPath, http.StatusUnauthorized, 1) },
			started("/actions/send-line-message-v2", v2("log-v2-hs401", 2002, map[string]any{"firstname": canaryProperty}), "FAIL_CONTINUE")},
		{"v2 malformed user ID", nil,
			answered("/actions/send-line-message-v2", raw(v2("log-v2-bad", 2003, map[string]any{"line_user_id": canaryInvalidUser + "Z"})), signed, 200, "invalid_line_user_id")},
		{"queue delivered", nil, func(t *testing.T) {
			body := testenv.Action("log-q-1", map[string]string{"line_user_id": canaryUserID, "message_1": message},
				map[string]string{"firstname": canaryProperty})
			r := env.Post(queueRoute, body)
			if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
				t.Fatalf("answer %d %s", r.Status, r.Raw)
			}
			testenv.Eventually(t, "queue callback", 60*time.Second, func() bool { _, ok := callbackOf(env, "log-q-1"); return ok })
		}},
		{"queue LINE 400", func() { env.LINE.FailNext(http.StatusBadRequest, 1) }, func(t *testing.T) {
			body := testenv.Action("log-q-2", map[string]string{"line_user_id": canaryUserID, "message_1": message}, nil)
			if r := env.Post(queueRoute, body); r.Status != 200 {
				t.Fatalf("answer %d %s", r.Status, r.Raw)
			}
			testenv.Eventually(t, "queue callback", 60*time.Second, func() bool { _, ok := callbackOf(env, "log-q-2"); return ok })
		}},
		{"send data 500 then delivered", nil, started("/actions/send-data", sendData("log-sd-ok", "/hook"), "SUCCESS")},
		{"send data refused by the receiver", nil, started("/actions/send-data", sendData("log-sd-400", "/refuse"), "FAIL_CONTINUE")},
		{"line_account options", nil, answered("/actions/options/line-account",
			raw(map[string]any{"origin": map[string]any{"portalId": 102670506}, "inputFieldName": "line_account", "fetchOptions": map[string]any{"q": canaryText}}),
			signed, 200, "")},
		{"bad signature", nil, answered(route, raw(v1("log-bad-sig", nil)), badlySigned, 401, "invalid_signature")},
		{"stale signature", nil, answered(route, raw(v1("log-stale", nil)), stale, 401, "invalid_signature")},
		{"unsigned", nil, answered(route, raw(v1("log-unsigned", nil)), nil, 401, "invalid_signature")},
		{"malformed user ID", nil, answered(route, raw(v1("log-bad-user", map[string]string{"line_user_id": canaryInvalidUser + "Z"})), signed, 200, "invalid_line_user_id")},
		{"unknown input field", nil, answered(route, raw(v1("log-unknown", map[string]string{"lineUserId": canaryUserID})), signed, 200, "invalid_input")},
		{"invalid message JSON", nil, answered(route, raw(v1("log-bad-msg", map[string]string{"message_1": `{"type":"flex","altText":"` + canaryText + `"}`})), signed, 200, "invalid_message")},
		{"message too long", nil, answered(route, raw(v1("log-long", map[string]string{"message_1": strings.Repeat(canaryText, 300)})), signed, 200, "message_too_long")},
		{"trailing data", nil, answered(route, append(raw(v1("log-trailing", nil)), []byte(` {"x":"`+canaryText+`"}`)...), signed, 400, "invalid_json")},
		{"truncated JSON", nil, answered(route, raw(v1("log-trunc", nil))[:200], signed, 400, "invalid_json")},
		{"send data destination refused", nil, answered("/actions/send-data", raw(testenv.Action("log-sd-ssrf", map[string]string{
			"webhook_url": "http://169.254.169.254/latest?token=" + canaryURLSecret, "data": canaryData, "request_signature": canarySigningSecret,
		}, nil)), signed, 200, "destination_not_allowed")},
	}
	secrets := canaries{
		"LINE channel access token": canaryLineToken, "HubSpot client secret": canaryClientSecret,
		"HubSpot access token": canaryHubSpotToken, "message text": canaryText, "contact property": canaryProperty,
		"Send Data data": canaryData, "Send Data signing secret": canarySigningSecret, "webhook URL query": canaryURLSecret,
		"LINE user ID": canaryUserID[1:], "LINE user ID's middle": canaryUserMiddle,
		"malformed LINE user ID": canaryInvalidUser[1:], "malformed LINE user ID's middle": canaryInvalidUser[5:28],
		"payload key": base64.StdEncoding.EncodeToString(payloadKey),
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			c.run(t)
			logs.assertNoCanaries(t, secrets)
		})
	}
	// Retries and late SDK lines settle before the last look.
	time.Sleep(500 * time.Millisecond)
	logs.assertNoCanaries(t, secrets)
	// Starter, activities, HubSpot client (debug) and SDK adapter all wrote here.
	logs.assertLogged(t, `"workflow started`, `"LINE push accepted"`, `"hubspot request"`, `"Started Worker"`,
		`"rejected unsigned or badly signed request"`, `"send data delivered"`)
}
