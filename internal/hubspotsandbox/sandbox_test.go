package hubspotsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

const tok = "test-token"

// call sends one request straight into the handler and decodes a JSON answer.
func call(t *testing.T, s *Server, method, path, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	var out map[string]any
	if rec.Body.Len() > 0 {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, rec.Body.String())
		}
	}
	return rec, out
}

func wantStatus(t *testing.T, rec *httptest.ResponseRecorder, want int) {
	t.Helper()
	if rec.Code != want {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, want, rec.Body.String())
	}
}

func wantErrorBody(t *testing.T, body map[string]any, category, msgPart string) {
	t.Helper()
	if body["status"] != "error" || body["correlationId"] == "" || body["correlationId"] == nil {
		t.Errorf("not a HubSpot error body: %v", body)
	}
	if category != "" && body["category"] != category {
		t.Errorf("category = %v, want %s", body["category"], category)
	}
	if msg, _ := body["message"].(string); !strings.Contains(msg, msgPart) {
		t.Errorf("message = %q, want it to contain %q", msg, msgPart)
	}
}

func TestAuth(t *testing.T) {
	s := New(Options{AccessToken: tok})
	for _, h := range []string{"", "Bearer ", "Bearer wrong", "Basic " + tok, tok} {
		req := httptest.NewRequest("POST", "/crm/v3/timeline/events", strings.NewReader("{}"))
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, rec.Code)
		}
		var body map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &body)
		wantErrorBody(t, body, "INVALID_AUTHENTICATION", "")
	}
	// Empty AccessToken accepts any bearer.
	open := New(Options{})
	rec, _ := call(t, open, "POST", "/automation/v4/actions/callbacks/x/complete", `{"outputFields":{"hs_execution_state":"SUCCESS"}}`)
	wantStatus(t, rec, http.StatusNoContent)
	if open.Requests() != 1 || s.Requests() != 5 {
		t.Errorf("Requests() = %d / %d", open.Requests(), s.Requests())
	}
}

func TestCompleteCallback(t *testing.T) {
	s := New(Options{AccessToken: tok})
	ok := `{"outputFields":{"hs_execution_state":"SUCCESS","sent":3}}`

	rec, _ := call(t, s, "POST", "/automation/v4/actions/callbacks/cb-1/complete", ok)
	wantStatus(t, rec, http.StatusNoContent)

	rec, body := call(t, s, "POST", "/automation/v4/actions/callbacks/cb-1/complete", ok)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", "Callback cb-1 has already been completed")

	s.ExpireCallback("cb-old")
	rec, body = call(t, s, "POST", "/automation/v4/actions/callbacks/cb-old/complete", ok)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", "has expired")

	for _, bad := range []string{`{}`, `{"outputFields":{}}`, `{"outputFields":{"hs_execution_state":"BLOCK"}}`, `not json`} {
		rec, body = call(t, s, "POST", "/automation/v4/actions/callbacks/cb-2/complete", bad)
		wantStatus(t, rec, http.StatusBadRequest)
		wantErrorBody(t, body, "VALIDATION_ERROR", "")
	}
	rec, _ = call(t, s, "POST", "/automation/v4/actions/callbacks/cb-2/complete", `{"outputFields":{"hs_execution_state":"FAIL_CONTINUE"}}`)
	wantStatus(t, rec, http.StatusNoContent)

	cbs := s.Callbacks()
	if len(cbs) != 2 || cbs[0].ID != "cb-1" || cbs[0].OutputFields["sent"] != "3" || cbs[1].OutputFields["hs_execution_state"] != "FAIL_CONTINUE" {
		t.Fatalf("Callbacks() = %+v", cbs)
	}
	cbs[0].OutputFields["sent"] = "mutated"
	if s.Callbacks()[0].OutputFields["sent"] != "3" {
		t.Error("Callbacks() must return copies")
	}
}

func TestCompleteCallbacksBatch(t *testing.T) {
	s := New(Options{AccessToken: tok})
	item := func(id string) string {
		return `{"callbackId":"` + id + `","outputFields":{"hs_execution_state":"SUCCESS"}}`
	}
	s.ExpireCallback("bad")
	rec, body := call(t, s, "POST", "/automation/v4/actions/callbacks/complete", `{"inputs":[`+item("a")+`,`+item("bad")+`,`+item("b")+`]}`)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", "Callback bad has expired")
	if n := len(s.Callbacks()); n != 0 {
		t.Fatalf("a rejected batch stored %d callbacks", n)
	}

	rec, _ = call(t, s, "POST", "/automation/v4/actions/callbacks/complete", `{"inputs":[`+item("a")+`,`+item("b")+`]}`)
	wantStatus(t, rec, http.StatusNoContent)
	if n := len(s.Callbacks()); n != 2 {
		t.Fatalf("stored %d callbacks, want 2", n)
	}

	rec, body = call(t, s, "POST", "/automation/v4/actions/callbacks/complete", `{"inputs":[`+item("c")+`,`+item("a")+`]}`)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "", "Callback a has already been completed")

	items := make([]string, 101)
	for i := range items {
		items[i] = item("x" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
	}
	rec, _ = call(t, s, "POST", "/automation/v4/actions/callbacks/complete", `{"inputs":[`+strings.Join(items, ",")+`]}`)
	wantStatus(t, rec, http.StatusBadRequest)
	rec, _ = call(t, s, "POST", "/automation/v4/actions/callbacks/complete", `{"inputs":[`+strings.Join(items[:100], ",")+`]}`)
	wantStatus(t, rec, http.StatusNoContent)
}

func TestTimelineEvents(t *testing.T) {
	s := New(Options{AccessToken: tok})
	rec, body := call(t, s, "POST", "/crm/v3/timeline/events", `{"id":"e1","eventTemplateId":"123","objectId":"904","tokens":{"status":"sent"}}`)
	wantStatus(t, rec, http.StatusCreated)
	if body["id"] != "e1" || body["objectId"] != "904" || body["eventTemplateId"] != "123" {
		t.Errorf("echo = %v", body)
	}
	rec, body = call(t, s, "POST", "/crm/v3/timeline/events", `{"id":"e1","eventTemplateId":"123","objectId":904}`)
	wantStatus(t, rec, http.StatusConflict)
	wantErrorBody(t, body, "CONFLICT", "e1")
	rec, _ = call(t, s, "POST", "/crm/v3/timeline/events", `{"id":"e2","objectId":904}`)
	wantStatus(t, rec, http.StatusBadRequest)
	rec, _ = call(t, s, "POST", "/crm/v3/timeline/events", `{"id":"e2","eventTemplateId":"123"}`)
	wantStatus(t, rec, http.StatusBadRequest)
	// A numeric objectId is accepted too.
	rec, _ = call(t, s, "POST", "/crm/v3/timeline/events", `{"id":"e2","eventTemplateId":"123","objectId":905}`)
	wantStatus(t, rec, http.StatusCreated)

	rec, body = call(t, s, "POST", "/crm/v3/timeline/events/batch/create",
		`{"inputs":[{"id":"e2","eventTemplateId":"123","objectId":"905"},{"id":"e3","eventTemplateId":"123","objectId":"906","extraData":{"batch_workflow_id":"b-1"}}]}`)
	wantStatus(t, rec, http.StatusCreated)
	if res, _ := body["results"].([]any); body["status"] != "COMPLETE" || len(res) != 1 {
		t.Errorf("batch body = %v (the duplicate should be skipped)", body)
	}
	rec, _ = call(t, s, "POST", "/crm/v3/timeline/events/batch/create", `{"inputs":[{"id":"e3","eventTemplateId":"123","objectId":"906"}]}`)
	wantStatus(t, rec, http.StatusConflict)
	rec, _ = call(t, s, "POST", "/crm/v3/timeline/events/batch/create", `{"inputs":[{"id":"e9","objectId":"906"}]}`)
	wantStatus(t, rec, http.StatusBadRequest)
	rec, _ = call(t, s, "POST", "/crm/v3/timeline/events/batch/create", `{"inputs":[]}`)
	wantStatus(t, rec, http.StatusBadRequest)

	evs := s.TimelineEvents()
	if len(evs) != 3 || evs[0].Tokens["status"] != "sent" || evs[1].ObjectID != "905" || evs[2].ID != "e3" ||
		fmt.Sprint(evs[2].ExtraData) != "map[batch_workflow_id:b-1]" {
		t.Fatalf("TimelineEvents() = %+v", evs)
	}
}

func TestTimelinePrivateApp(t *testing.T) {
	s := New(Options{AccessToken: tok, PrivateAppToken: true})
	for _, p := range []string{"/crm/v3/timeline/events", "/crm/v3/timeline/events/batch/create"} {
		rec, body := call(t, s, "POST", p, `{"eventTemplateId":"1","objectId":"2","inputs":[{"eventTemplateId":"1","objectId":"2"}]}`)
		wantStatus(t, rec, http.StatusForbidden)
		wantErrorBody(t, body, "", "OAuth")
	}
	if len(s.TimelineEvents()) != 0 {
		t.Fatal("events stored despite 403")
	}
}

func TestContacts(t *testing.T) {
	s := New(Options{AccessToken: tok})
	s.SetContact("904", map[string]string{"firstname": "Aiko", "line_user_id": "U1", "lastname": ""})

	rec, body := call(t, s, "GET", "/crm/v3/objects/contacts/904?properties=firstname,lastname", "")
	wantStatus(t, rec, http.StatusOK)
	props, _ := body["properties"].(map[string]any)
	if body["id"] != "904" || props["firstname"] != "Aiko" || props["lastname"] != nil {
		t.Errorf("contact = %v", body)
	}
	if _, ok := props["line_user_id"]; ok {
		t.Error("unrequested property returned")
	}
	rec, body = call(t, s, "GET", "/crm/v3/objects/contacts/999", "")
	wantStatus(t, rec, http.StatusNotFound)
	wantErrorBody(t, body, "OBJECT_NOT_FOUND", "")

	rec, body = call(t, s, "POST", "/crm/v3/objects/contacts/batch/read", `{"properties":["line_user_id"],"inputs":[{"id":"904"}]}`)
	wantStatus(t, rec, http.StatusOK)
	if res, _ := body["results"].([]any); len(res) != 1 || body["errors"] != nil {
		t.Errorf("batch = %v", body)
	}
	rec, body = call(t, s, "POST", "/crm/v3/objects/contacts/batch/read", `{"properties":["line_user_id"],"inputs":[{"id":"904"},{"id":"999"}]}`)
	wantStatus(t, rec, http.StatusMultiStatus)
	if res, _ := body["results"].([]any); len(res) != 1 || !strings.Contains(rec.Body.String(), `"999"`) {
		t.Errorf("partial batch = %v", body)
	}
	rec, _ = call(t, s, "POST", "/crm/v3/objects/contacts/batch/read", `{"inputs":[]}`)
	wantStatus(t, rec, http.StatusBadRequest)
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	s := New(Options{})
	rec, body := call(t, s, "GET", "/crm/v3/objects/deals/1", "")
	wantStatus(t, rec, http.StatusNotFound)
	wantErrorBody(t, body, "", "")
}

func TestRateLimit(t *testing.T) {
	s := New(Options{AccessToken: tok, RateLimit: 3, RateInterval: 150 * time.Millisecond})
	s.SetContact("1", nil)
	for i := range 3 {
		rec, _ := call(t, s, "GET", "/crm/v3/objects/contacts/1", "")
		wantStatus(t, rec, http.StatusOK)
		if got, want := rec.Header().Get("X-HubSpot-RateLimit-Remaining"), string(rune('0'+2-i)); got != want {
			t.Errorf("request %d: Remaining = %q, want %q", i, got, want)
		}
		if rec.Header().Get("X-HubSpot-RateLimit-Max") != "3" || rec.Header().Get("X-HubSpot-RateLimit-Interval-Milliseconds") != "150" {
			t.Errorf("rate headers = %v", rec.Header())
		}
	}
	rec, body := call(t, s, "GET", "/crm/v3/objects/contacts/1", "")
	wantStatus(t, rec, http.StatusTooManyRequests)
	if body["policyName"] != "TEN_SECONDLY_ROLLING" || body["errorType"] != "RATE_LIMIT" || rec.Header().Get("X-HubSpot-RateLimit-Remaining") != "0" {
		t.Errorf("429 = %v %v", body, rec.Header())
	}
	if s.RateLimited() != 1 {
		t.Errorf("RateLimited() = %d", s.RateLimited())
	}
	// The window rolls: after one interval requests pass again.
	time.Sleep(160 * time.Millisecond)
	rec, _ = call(t, s, "GET", "/crm/v3/objects/contacts/1", "")
	wantStatus(t, rec, http.StatusOK)

	// Without a limit there are no headers.
	rec, _ = call(t, New(Options{}), "GET", "/crm/v3/objects/contacts/1", "")
	if rec.Header().Get("X-HubSpot-RateLimit-Max") != "" {
		t.Error("rate headers sent with RateLimit 0")
	}
}

func TestFailNext(t *testing.T) {
	s := New(Options{AccessToken: tok})
	s.FailNext("/automation/", http.StatusBadGateway, 2)
	s.FailNext("/crm/v3/timeline", http.StatusTooManyRequests, 1)
	ok := `{"outputFields":{"hs_execution_state":"SUCCESS"}}`
	for i := range 2 {
		rec, body := call(t, s, "POST", "/automation/v4/actions/callbacks/c"+string(rune('0'+i))+"/complete", ok)
		wantStatus(t, rec, http.StatusBadGateway)
		wantErrorBody(t, body, "", "")
	}
	rec, _ := call(t, s, "POST", "/automation/v4/actions/callbacks/c9/complete", ok)
	wantStatus(t, rec, http.StatusNoContent)
	rec, body := call(t, s, "POST", "/crm/v3/timeline/events", `{"eventTemplateId":"1","objectId":"2"}`)
	wantStatus(t, rec, http.StatusTooManyRequests)
	if body["policyName"] != "TEN_SECONDLY_ROLLING" || s.RateLimited() != 1 {
		t.Errorf("injected 429 body %v, RateLimited %d", body, s.RateLimited())
	}
}

func TestSandboxDumpAndConcurrency(t *testing.T) {
	s := New(Options{AccessToken: tok})
	srv := httptest.NewServer(s)
	defer srv.Close()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", srv.URL+"/automation/v4/actions/callbacks/k"+string(rune('a'+i))+"/complete",
				strings.NewReader(`{"outputFields":{"hs_execution_state":"SUCCESS"}}`))
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			resp.Body.Close()
		})
	}
	wg.Wait()
	resp, err := http.Get(srv.URL + "/sandbox?format=json") // no auth needed; without format it is the page
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var dump struct {
		Callbacks      []Callback      `json:"callbacks"`
		TimelineEvents []TimelineEvent `json:"timelineEvents"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&dump); err != nil || resp.StatusCode != 200 {
		t.Fatalf("dump: %v %d", err, resp.StatusCode)
	}
	if len(dump.Callbacks) != 20 || dump.TimelineEvents == nil {
		t.Errorf("dump has %d callbacks, events %v", len(dump.Callbacks), dump.TimelineEvents)
	}
}
