package hubspotsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

const devKey = "dev-api-key"

// callKey sends one definitions request with ?hapikey=key (none when key is "").
func callKey(t *testing.T, s *Server, method, path, key, body string) (*httptest.ResponseRecorder, map[string]any) {
	t.Helper()
	if key != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		path += sep + "hapikey=" + key
	}
	req := httptest.NewRequest(method, path, strings.NewReader(body))
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

func definitionJSON(actionURL, name string) string {
	return fmt.Sprintf(`{"actionUrl":%q,"published":true,"objectTypes":["CONTACT"],
		"inputFields":[{"typeDefinition":{"name":"line_account","type":"enumeration","fieldType":"select","optionsUrl":"https://h.example.com/actions/options/line-account"},"supportedValueTypes":["STATIC_VALUE"],"isRequired":false}],
		"labels":{"en":{"actionName":%q},"ja":{"actionName":"送信"}}}`, actionURL, name)
}

func TestDefinitionsAuth(t *testing.T) {
	s := New(Options{AccessToken: tok})
	s.SetDeveloperAPIKey(devKey)
	for _, tc := range []struct {
		name, key string
		msg       string
	}{
		{"no key", "", "credentials not found"},
		{"wrong key", "wrong", "API key provided is invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []struct{ method, path string }{
				{"GET", "/automation/v4/actions/42"}, {"POST", "/automation/v4/actions/42"},
				{"GET", "/automation/v4/actions/42/1001"}, {"PATCH", "/automation/v4/actions/42/1001"},
				{"DELETE", "/automation/v4/actions/42/1001"},
			} {
				rec, body := callKey(t, s, m.method, m.path, tc.key, definitionJSON("https://h.example.com/a", "A"))
				wantStatus(t, rec, http.StatusUnauthorized)
				wantErrorBody(t, body, "INVALID_AUTHENTICATION", tc.msg)
			}
		})
	}
	// A bearer token is not a developer key.
	rec, _ := call(t, s, "GET", "/automation/v4/actions/42", "")
	wantStatus(t, rec, http.StatusUnauthorized)
	if s.DefinitionWrites() != 0 {
		t.Errorf("writes = %d after refused requests", s.DefinitionWrites())
	}
	// The callbacks routes under the same prefix still take the bearer token.
	rec, _ = call(t, s, "POST", "/automation/v4/actions/callbacks/cb-1/complete", `{"outputFields":{"hs_execution_state":"SUCCESS"}}`)
	wantStatus(t, rec, http.StatusNoContent)
}

func TestDefinitionsLifecycle(t *testing.T) {
	s := New(Options{})
	s.SetDefinitionsPageSize(2)
	var ids []string
	for i := range 5 {
		rec, body := callKey(t, s, "POST", "/automation/v4/actions/42", devKey, definitionJSON(fmt.Sprintf("https://h.example.com/actions/a%d", i), fmt.Sprintf("A%d", i)))
		wantStatus(t, rec, http.StatusCreated)
		id, _ := body["id"].(string)
		if id == "" || body["revisionId"] != "1" || body["functions"] == nil {
			t.Fatalf("create answered %v", body)
		}
		ids = append(ids, id)
	}
	// Another app's list is separate.
	if rec, body := callKey(t, s, "GET", "/automation/v4/actions/43", devKey, ""); rec.Code != 200 || len(body["results"].([]any)) != 0 {
		t.Fatalf("other app: %d %v", rec.Code, body)
	}

	// Paging: 2 + 2 + 1, following paging.next.after.
	var seen []string
	after, pages := "", 0
	for {
		path := "/automation/v4/actions/42"
		if after != "" {
			path += "?after=" + after
		}
		rec, body := callKey(t, s, "GET", path, devKey, "")
		wantStatus(t, rec, http.StatusOK)
		pages++
		for _, r := range body["results"].([]any) {
			seen = append(seen, r.(map[string]any)["id"].(string))
		}
		paging, _ := body["paging"].(map[string]any)
		if paging == nil {
			break
		}
		after = paging["next"].(map[string]any)["after"].(string)
	}
	if pages != 3 || strings.Join(seen, ",") != strings.Join(ids, ",") {
		t.Fatalf("paged %d pages: %v, want 3 pages of %v", pages, seen, ids)
	}
	if rec, body := callKey(t, s, "GET", "/automation/v4/actions/42?limit=5", devKey, ""); len(body["results"].([]any)) != 5 || body["paging"] != nil {
		t.Fatalf("limit=5: %d %v", rec.Code, body)
	}

	// PATCH changes only what it names and bumps the revision.
	rec, body := callKey(t, s, "PATCH", "/automation/v4/actions/42/"+ids[1], devKey, `{"labels":{"en":{"actionName":"B"}}}`)
	wantStatus(t, rec, http.StatusOK)
	if body["revisionId"] != "2" || body["actionUrl"] != "https://h.example.com/actions/a1" ||
		body["labels"].(map[string]any)["en"].(map[string]any)["actionName"] != "B" {
		t.Fatalf("patch answered %v", body)
	}
	if rec, body := callKey(t, s, "GET", "/automation/v4/actions/42/"+ids[1], devKey, ""); rec.Code != 200 || body["revisionId"] != "2" {
		t.Fatalf("get after patch: %d %v", rec.Code, body)
	}
	// DELETE, then the definition is gone.
	rec, _ = callKey(t, s, "DELETE", "/automation/v4/actions/42/"+ids[0], devKey, "")
	wantStatus(t, rec, http.StatusNoContent)
	rec, body = callKey(t, s, "GET", "/automation/v4/actions/42/"+ids[0], devKey, "")
	wantStatus(t, rec, http.StatusNotFound)
	wantErrorBody(t, body, "OBJECT_NOT_FOUND", ids[0])
	if got := len(s.ActionDefinitions("42")); got != 4 {
		t.Errorf("definitions left = %d, want 4", got)
	}
	if got := s.DefinitionWrites(); got != 7 {
		t.Errorf("writes = %d, want 5 creates + 1 patch + 1 delete", got)
	}
}

func TestDefinitionsValidation(t *testing.T) {
	s := New(Options{})
	for _, tc := range []struct {
		name, body, msg string
	}{
		{"relative actionUrl", definitionJSON("/actions/a", "A"), "actionUrl must be an absolute"},
		{"no English name", strings.Replace(definitionJSON("https://h.example.com/a", ""), `"ja":{"actionName":"送信"}`, `"ja":{}`, 1), "labels.en.actionName"},
		{"unknown field", `{"actionUrl":"https://h.example.com/a","objectTypes":["CONTACT"],"labels":{"en":{"actionName":"A"}},"actionURL":"x"}`, `"actionURL"`},
		{"relative optionsUrl", strings.Replace(definitionJSON("https://h.example.com/a", "A"), "https://h.example.com/actions/options", "/actions/options", 1), "optionsUrl"},
		{"no objectTypes", `{"actionUrl":"https://h.example.com/a","labels":{"en":{"actionName":"A"}}}`, "objectTypes"},
		{"bad value type", strings.Replace(definitionJSON("https://h.example.com/a", "A"), `"STATIC_VALUE"`, `"CONSTANT"`, 1), "CONSTANT"},
		{"not JSON", `{"actionUrl":`, "Invalid input JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, body := callKey(t, s, "POST", "/automation/v4/actions/42", devKey, tc.body)
			wantStatus(t, rec, http.StatusBadRequest)
			wantErrorBody(t, body, "", tc.msg)
		})
	}
	rec, body := callKey(t, s, "GET", "/automation/v4/actions/app", devKey, "")
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", "appId")
	rec, body = callKey(t, s, "PATCH", "/automation/v4/actions/42/1", devKey, `{"id":"7"}`)
	wantStatus(t, rec, http.StatusBadRequest)
	wantErrorBody(t, body, "VALIDATION_ERROR", `"id"`)
	if s.DefinitionWrites() != 0 {
		t.Errorf("writes = %d after refused requests", s.DefinitionWrites())
	}

	// Injected failures apply to the definitions API too.
	s.FailNext("/automation/v4/actions/42", http.StatusBadGateway, 1)
	rec, _ = callKey(t, s, "GET", "/automation/v4/actions/42", devKey, "")
	wantStatus(t, rec, http.StatusBadGateway)
	rec, _ = callKey(t, s, "GET", "/automation/v4/actions/42", devKey, "")
	wantStatus(t, rec, http.StatusOK)
}

func TestDefinitionsEchoOptions(t *testing.T) {
	s := New(Options{})
	body := strings.Replace(definitionJSON("https://h.example.com/a", "A"), `"inputFields"`,
		`"outputFields":[{"typeDefinition":{"name":"out","type":"string","fieldType":"text"},"supportedValueTypes":["STATIC_VALUE"]}],"inputFields"`, 1)
	rec, got := callKey(t, s, "POST", "/automation/v4/actions/42", devKey, body)
	wantStatus(t, rec, http.StatusCreated)
	for _, key := range []string{"inputFields", "outputFields"} {
		td := got[key].([]any)[0].(map[string]any)["typeDefinition"].(map[string]any)
		if opts, ok := td["options"].([]any); !ok || len(opts) != 0 {
			t.Errorf("%s typeDefinition.options = %v, want [] as HubSpot answers", key, td["options"])
		}
	}
}
