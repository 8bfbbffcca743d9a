package starter

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/hubspot"
)

// signed returns v3 signature headers for body on path, plus extra.
func signed(path string, body []byte, extra map[string]string) map[string]string {
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	h := map[string]string{
		"X-HubSpot-Request-Timestamp": ts,
		"X-HubSpot-Signature-v3":      hubspot.SignV3(secret, http.MethodPost, public+path, body, ts),
	}
	for k, v := range extra {
		h[k] = v
	}
	return h
}

// hubSpotEnvelope is HubSpot's execution request as REFERENCE.md records it, with inputs.
func hubSpotEnvelope(inputs string) []byte {
	return []byte(`{"callbackId":"ap-102670506-56776413549-7-0",
 "origin":{"portalId":102670506,"actionDefinitionId":10646377,"actionDefinitionVersion":1},
 "context":{"source":"WORKFLOWS","workflowId":192814114},
 "object":{"objectId":904,"objectType":"CONTACT","properties":{"firstname":"Aiko"}},
 "inputFields":` + inputs + `}`)
}

const goodInputs = `{"line_user_id":"` + userID + `","message_1":"Hello {{contact.firstname}}"}`

// accepted: the request passed every check and reached Temporal (down in these tests).
func accepted(a answer) bool {
	return a.status == http.StatusServiceUnavailable && a.code == "temporal_unavailable"
}

func TestDecodeRefusesTrailingData(t *testing.T) {
	s := newTestServer(t)
	valid := string(hubSpotEnvelope(goodInputs))
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"HubSpot's envelope", valid, true},
		{"trailing whitespace", valid + " \r\n\t", true},
		{"leading whitespace", "\n " + valid, true},
		{"second object", valid + `{"callbackId":"other"}`, false},
		{"second object after space", valid + "\n{}", false},
		{"garbage", valid + " garbage", false},
		{"trailing comma", valid + ",", false},
		{"trailing NUL", valid + "\x00", false},
		{"two documents in an array", "[" + valid + "," + valid + "]", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, s, route, []byte(tc.body), nil)
			if tc.ok && !accepted(a) {
				t.Fatalf("refused: %d %s", a.status, a.raw)
			}
			if !tc.ok && (a.status != http.StatusBadRequest || a.code != "invalid_json") {
				t.Fatalf("got %d %s, want 400 invalid_json", a.status, a.raw)
			}
		})
	}
}

func TestDecodeMatchesFieldNamesExactly(t *testing.T) {
	s := newTestServer(t)
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             string // error.code for non-200, else output error_code ("" = accepted)
		names            string // the error message must name it
	}{
		// Unknown envelope fields (HubSpot may add some) are ignored, at every level.
		{"unknown envelope fields", route, `{"callbackId":"cb-1","newField":{"x":[1]},"origin":{"portalId":1,"extra":true},
			"context":{"source":"WORKFLOWS","workflowId":2,"more":null},"object":{"objectId":3,"objectType":"CONTACT","properties":{},"hs":1},
			"inputFields":` + goodInputs + `}`, 503, "temporal_unavailable", ""},
		// A wrong-case envelope key is an unknown field: inputfields means no inputs.
		{"inputfields lower case", route, `{"callbackId":"cb-1","inputfields":` + goodInputs + `}`, 200, CodeMissingLineUserID, ""},
		{"InputFields", route, `{"callbackId":"cb-1","InputFields":` + goodInputs + `}`, 200, CodeMissingLineUserID, ""},
		{"callbackid lower case", route, `{"callbackid":"cb-1","inputFields":` + goodInputs + `}`, 400, "missing_callback_id", ""},
		{"CALLBACKID", route, `{"CALLBACKID":"cb-1","inputFields":` + goodInputs + `}`, 400, "missing_callback_id", ""},
		{"wrong-case properties render nothing", route, `{"callbackId":"cb-1","object":{"Properties":{"firstname":"Aiko"}},
			"inputFields":{"line_user_id":"` + userID + `","message_1":"{{contact.firstname}}"}}`, 200, "empty_message", ""},
		{"both spellings: only the exact one counts", route, `{"callbackId":"cb-1","inputfields":{"line_user_id":"bad"},"inputFields":` + goodInputs + `}`, 503, "temporal_unavailable", ""},
		// Input fields the action does not define.
		{"camelCase input", route, `{"callbackId":"cb-1","inputFields":{"lineUserId":"` + userID + `","message_1":"hi"}}`, 200, CodeInvalidInput, `"lineUserId"`},
		{"message1", route, `{"callbackId":"cb-1","inputFields":{"line_user_id":"` + userID + `","message1":"hi"}}`, 200, CodeInvalidInput, `"message1"`},
		{"message_4", route, `{"callbackId":"cb-1","inputFields":{"line_user_id":"` + userID + `","message_1":"hi","message_4":"x"}}`, 200, CodeInvalidInput, `"message_4"`},
		{"wrong-case input", route, `{"callbackId":"cb-1","inputFields":{"line_user_id":"` + userID + `","Message_1":"hi"}}`, 200, CodeInvalidInput, `"Message_1"`},
		{"null unknown input", route, `{"callbackId":"cb-1","inputFields":{"line_user_id":"` + userID + `","message_1":"hi","x":null}}`, 200, CodeInvalidInput, `"x"`},
		{"several unknown", route, `{"callbackId":"cb-1","inputFields":{"a":1,"b":2,"c":3,"d":4,"line_user_id":"` + userID + `"}}`, 200, CodeInvalidInput, `"a", "b", "c", and 1 more`},
		{"send data camelCase", "/actions/send-data", `{"callbackId":"cb-1","inputFields":{"webhookUrl":"https://example.com/","data":"x"}}`, 200, CodeInvalidInput, `"webhookUrl"`},
		{"send data with a LINE input named", "/actions/send-data", `{"callbackId":"cb-1","inputFields":{"webhook_url":"https://example.com/","data":"x","messge_1":"y"}}`, 200, CodeInvalidInput, `"messge_1"`},
		// An input another action defines is tolerated and ignored.
		{"v2 with v1's line_user_id", "/actions/send-line-message-v2", `{"callbackId":"cb-1","inputFields":{"line_user_id":"` + userID + `","message_1":"hi"}}`, 503, "temporal_unavailable", ""},
		{"v1 with the queue's wait_for_delivery", route, `{"callbackId":"cb-1","inputFields":{"line_user_id":"` + userID + `","message_1":"hi","wait_for_delivery":"false"}}`, 503, "temporal_unavailable", ""},
		// Types are checked as before.
		{"callbackId a number", route, `{"callbackId":5}`, 400, "invalid_json", ""},
		{"origin a string", route, `{"callbackId":"cb-1","origin":"x"}`, 400, "invalid_json", "origin"},
		{"inputFields an array", route, `{"callbackId":"cb-1","inputFields":[1]}`, 400, "invalid_json", "inputFields"},
		{"portalId a string", route, `{"callbackId":"cb-1","origin":{"portalId":"1"}}`, 400, "invalid_json", "origin.portalId"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(tc.body)
			a := post(t, s, tc.path, body, signed(tc.path, body, nil))
			got := a.code
			if a.status == 200 {
				got = a.out["error_code"]
			}
			if a.status != tc.status || got != tc.code || !strings.Contains(a.raw, strings.ReplaceAll(tc.names, `"`, `\"`)) {
				t.Fatalf("got %d %s; want %d %s naming %s", a.status, a.raw, tc.status, tc.code, tc.names)
			}
		})
	}
}

func newUnsignedServer(t *testing.T) *Server {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return New(Options{Temporal: c, PublicURL: public, BlockExpiration: 24 * time.Hour, BlockExpirationISO: "P1D", Accounts: map[int]bool{1: false}})
}

func TestActionRoutesAcceptOnlyJSONAndRefuseBrowsersWhenUnsigned(t *testing.T) {
	body := hubSpotEnvelope(goodInputs)
	for _, tc := range []struct {
		name    string
		signing bool
		headers map[string]string
		status  int
		code    string
	}{
		{"signed JSON", true, nil, 503, "temporal_unavailable"},
		{"charset utf-8", true, map[string]string{"Content-Type": "application/json; charset=utf-8"}, 503, "temporal_unavailable"},
		{"upper case", true, map[string]string{"Content-Type": "Application/JSON;Charset=UTF-8"}, 503, "temporal_unavailable"},
		{"other charset", true, map[string]string{"Content-Type": "application/json; charset=iso-8859-1"}, 415, CodeUnsupportedMediaType},
		{"no content type", true, map[string]string{"Content-Type": ""}, 415, CodeUnsupportedMediaType},
		{"text/plain", true, map[string]string{"Content-Type": "text/plain"}, 415, CodeUnsupportedMediaType},
		{"form", true, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, CodeUnsupportedMediaType},
		{"multipart", true, map[string]string{"Content-Type": "multipart/form-data; boundary=x"}, 415, CodeUnsupportedMediaType},
		{"json suffix type", true, map[string]string{"Content-Type": "application/problem+json"}, 415, CodeUnsupportedMediaType},
		{"signed request with an Origin", true, map[string]string{"Origin": "https://app.hubspot.com"}, 503, "temporal_unavailable"},
		{"unsigned JSON (dev)", false, nil, 503, "temporal_unavailable"},
		{"unsigned text/plain from a page", false, map[string]string{"Content-Type": "text/plain", "Origin": "https://evil.example"}, 415, CodeUnsupportedMediaType},
		{"unsigned with Origin", false, map[string]string{"Origin": "https://evil.example"}, 403, CodeCrossOriginRefused},
		{"unsigned with Origin null", false, map[string]string{"Origin": "null"}, 403, CodeCrossOriginRefused},
		{"unsigned with Sec-Fetch-Site", false, map[string]string{"Sec-Fetch-Site": "same-origin"}, 403, CodeCrossOriginRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, h := newUnsignedServer(t), tc.headers
			if tc.signing {
				s, h = newTestServer(t), signed(route, body, tc.headers)
			} else if h == nil {
				h = map[string]string{}
			}
			a := post(t, s, route, body, h)
			if a.status != tc.status || a.code != tc.code {
				t.Fatalf("got %d %s; want %d %s", a.status, a.raw, tc.status, tc.code)
			}
		})
	}
}

// allocated is the number of bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Issue 11: a 105 KB template of 5,000 tokens and a 64 KB property rendered to 327 MB
// (1.8 GB allocated). Each action refuses it at once, allocating a bounded amount.
func TestTokenAmplificationIsRefusedCheaply(t *testing.T) {
	tokens := strings.Repeat("{{contact.firstname}}", 5000)
	props := map[string]any{"firstname": strings.Repeat("a", 64<<10)}
	jsonData, _ := json.Marshal(map[string]any{"a": tokens, "b": []string{tokens}})
	for _, tc := range []struct {
		name, path string
		inputs     map[string]any
		code       string
	}{
		{"text message", route, map[string]any{"line_user_id": userID, "message_1": tokens}, "message_too_long"},
		{"message object", route, map[string]any{"line_user_id": userID, "message_1": `{"type":"text","text":"` + tokens + `"}`}, "message_too_long"},
		{"third message", route, map[string]any{"line_user_id": userID, "message_1": "hi", "message_3": tokens}, "message_too_long"},
		{"queue", "/actions/send-line-message-queue", map[string]any{"line_user_id": userID, "message_1": tokens}, "message_too_long"},
		{"send data text", "/actions/send-data", map[string]any{"webhook_url": "https://example.com/hook", "data": tokens}, CodeDataTooLarge},
		{"send data JSON", "/actions/send-data", map[string]any{"webhook_url": "https://example.com/hook", "data": string(jsonData)}, CodeDataTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestServer(t)
			body := action(tc.inputs, props)
			var a answer
			n := allocated(func() { a = post(t, s, tc.path, body, signed(tc.path, body, nil)) })
			if a.status != 200 || a.out["hs_execution_state"] != "FAIL_CONTINUE" || a.out["error_code"] != tc.code {
				t.Fatalf("got %d %s", a.status, a.raw)
			}
			if n > 8<<20 {
				t.Errorf("the request allocated %d bytes", n)
			}
		})
	}
}

func TestSendDataMaxBytes(t *testing.T) {
	s := newTestServer(t)
	s.opts.SendDataMaxBytes = 100
	props := map[string]any{"v": strings.Repeat("b", 60)}
	for _, tc := range []struct {
		name, data string
		ok         bool
	}{
		{"text at the limit", strings.Repeat("a", 40) + "{{contact.v}}", true},
		{"text over the limit", strings.Repeat("a", 41) + "{{contact.v}}", false},
		{"template alone over the limit", strings.Repeat("a", 101), false},
		{"JSON at the limit", `{"k":"` + strings.Repeat("a", 32) + `{{contact.v}}"}`, true},
		{"JSON over the limit", `{"k":"` + strings.Repeat("a", 33) + `{{contact.v}}"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := action(map[string]any{"webhook_url": "https://example.com/hook", "data": tc.data}, props)
			a := post(t, s, "/actions/send-data", body, signed("/actions/send-data", body, nil))
			if tc.ok && !accepted(a) {
				t.Fatalf("refused: %d %s", a.status, a.raw)
			}
			if !tc.ok && (a.out["error_code"] != CodeDataTooLarge || !strings.Contains(a.out["error_message"], "100 bytes")) {
				t.Fatalf("got %d %s, want %s", a.status, a.raw, CodeDataTooLarge)
			}
		})
	}
}

// The input fields the starter accepts per route are those the action definitions declare.
func TestActionInputsMatchTheDefinitions(t *testing.T) {
	files, err := filepath.Glob("../hubspot/*.action.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no definitions: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var def struct {
			ActionURL   string `json:"actionUrl"`
			InputFields []struct {
				TypeDefinition struct {
					Name string `json:"name"`
				} `json:"typeDefinition"`
			} `json:"inputFields"`
		}
		if err := json.Unmarshal(b, &def); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u, err := url.Parse(def.ActionURL) // a route, or a full URL in older files
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		var names []string
		for _, in := range def.InputFields {
			names = append(names, in.TypeDefinition.Name)
		}
		known, ok := actionDefs[u.Path]
		if !ok {
			t.Errorf("%s: the starter knows no inputs for %s", filepath.Base(f), u.Path)
			continue
		}
		seen[u.Path] = true
		slices.Sort(names)
		want := slices.Sorted(slices.Values(known.inputs))
		if !slices.Equal(names, want) {
			t.Errorf("%s: definition inputs %v, starter accepts %v", filepath.Base(f), names, want)
		}
	}
	for p := range actionDefs {
		if !seen[p] {
			t.Errorf("no definition file for %s", p)
		}
	}
}
