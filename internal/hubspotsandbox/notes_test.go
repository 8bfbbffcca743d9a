package hubspotsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// callCode is call with the status alone.
func callCode(t *testing.T, s *Server, method, path, body string) (int, map[string]any) {
	t.Helper()
	rec, out := call(t, s, method, path, body)
	return rec.Code, out
}

func note(ts, body string, contact string, typeID int) string {
	b, _ := json.Marshal(map[string]any{
		"properties": map[string]string{"hs_timestamp": ts, "hs_note_body": body},
		"associations": []map[string]any{{
			"to":    map[string]string{"id": contact},
			"types": []map[string]any{{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": typeID}},
		}},
	})
	return string(b)
}

func TestNoteCreateValidation(t *testing.T) {
	s := New(Options{})
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"ok, ms timestamp", note("1767225600000", "<p>hi</p>", "904", 202), 201},
		{"ok, ISO timestamp", note("2026-01-01T00:00:00.000Z", "x", "904", 202), 201},
		{"bad timestamp", note("yesterday", "x", "904", 202), 400},
		{"body over 65,536", note("1767225600000", strings.Repeat("あ", 65537), "904", 202), 400},
		{"body at the limit", note("1767225600000", strings.Repeat("あ", 65536), "904", 202), 201},
		{"wrong association type", note("1767225600000", "x", "904", 1), 400},
		{"bad contact id", note("1767225600000", "x", "abc", 202), 400},
		{"unknown property", `{"properties":{"hs_timestamp":"1","hubline_x":"y"}}`, 400},
		{"not JSON", `{`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := callCode(t, s, "POST", "/crm/v3/objects/notes", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %v", status, tc.status, out)
			}
			if status == 201 && (out["id"] == "" || out["properties"].(map[string]any)["hs_timestamp"] == nil) {
				t.Errorf("echo: %v", out)
			}
			if status == 400 && out["category"] != "VALIDATION_ERROR" {
				t.Errorf("error shape: %v", out)
			}
		})
	}
	if n := len(s.Notes()); n != 3 {
		t.Errorf("%d notes stored, want 3", n)
	}
	if got := s.Notes()[0]; got.Body != "<p>hi</p>" || len(got.ContactIDs) != 1 || got.ContactIDs[0] != "904" ||
		!got.Timestamp.Equal(time.UnixMilli(1767225600000)) {
		t.Errorf("stored note: %+v", got)
	}
}

func TestNoteBatchCreate(t *testing.T) {
	s := New(Options{})
	batch := func(bodies ...string) string {
		return `{"inputs":[` + strings.Join(bodies, ",") + `]}`
	}
	var many []string
	for i := range 101 {
		many = append(many, note("1", fmt.Sprint(i), "1", 202))
	}
	if status, _ := callCode(t, s, "POST", "/crm/v3/objects/notes/batch/create", batch(many...)); status != 400 {
		t.Errorf("101 inputs: %d", status)
	}
	if status, _ := callCode(t, s, "POST", "/crm/v3/objects/notes/batch/create", batch(note("1", "a", "1", 202), note("x", "b", "1", 202))); status != 400 {
		t.Errorf("one bad input: %d", status)
	}
	if len(s.Notes()) != 0 {
		t.Fatal("a refused batch stored notes")
	}
	status, out := callCode(t, s, "POST", "/crm/v3/objects/notes/batch/create", batch(many[:100]...))
	if status != 201 || out["status"] != "COMPLETE" || len(out["results"].([]any)) != 100 {
		t.Fatalf("100 inputs: %d %v", status, out["status"])
	}
	// A create answered 5xx after it took effect: the note exists, and a repeat is a second one.
	s.FailNextNoteCreates(http.StatusServiceUnavailable, 1)
	if status, _ := callCode(t, s, "POST", "/crm/v3/objects/notes/batch/create", batch(many[0])); status != 503 {
		t.Fatalf("injected failure: %d", status)
	}
	if status, _ := callCode(t, s, "POST", "/crm/v3/objects/notes/batch/create", batch(many[0])); status != 201 {
		t.Fatalf("after the injected failure: %d", status)
	}
	if n := len(s.Notes()); n != 102 {
		t.Errorf("%d notes, want 102 (notes have no idempotency key)", n)
	}
}

func TestNoteSearch(t *testing.T) {
	s := New(Options{NoteSearchLag: 200 * time.Millisecond})
	for i, c := range []string{"904", "905", "904"} {
		ts := "1767225600000"
		if i == 2 {
			ts = "1767225600001"
		}
		if status, _ := callCode(t, s, "POST", "/crm/v3/objects/notes", note(ts, "n"+fmt.Sprint(i), c, 202)); status != 201 {
			t.Fatal(status)
		}
	}
	search := func(filters string) (int, map[string]any) {
		return callCode(t, s, "POST", "/crm/v3/objects/notes/search",
			`{"filterGroups":[{"filters":[`+filters+`]}],"properties":["hs_note_body"],"limit":1}`)
	}
	byTime := `{"propertyName":"hs_timestamp","operator":"EQ","value":"1767225600000"}`
	if _, out := search(byTime); out["total"] != 0.0 {
		t.Fatalf("found notes before the index caught up: %v", out)
	}
	time.Sleep(250 * time.Millisecond)
	_, out := search(byTime)
	if out["total"] != 2.0 || out["paging"] == nil {
		t.Fatalf("by timestamp: %v", out)
	}
	after := out["paging"].(map[string]any)["next"].(map[string]any)["after"].(string)
	status, page2 := callCode(t, s, "POST", "/crm/v3/objects/notes/search",
		`{"filterGroups":[{"filters":[`+byTime+`]}],"properties":["hs_note_body"],"limit":1,"after":"`+after+`"}`)
	if status != 200 || len(page2["results"].([]any)) != 1 || page2["paging"] != nil {
		t.Fatalf("page 2: %d %v", status, page2)
	}
	body := page2["results"].([]any)[0].(map[string]any)["properties"].(map[string]any)["hs_note_body"]
	if body != "n1" {
		t.Errorf("page 2 body %v", body)
	}
	_, out = search(byTime + `,{"propertyName":"associations.contact","operator":"EQ","value":"904"}`)
	if out["total"] != 1.0 {
		t.Errorf("by timestamp and contact: %v", out)
	}
	_, out = search(`{"propertyName":"hs_timestamp","operator":"EQ","value":"2026-01-01T00:00:00.001Z"}`)
	if out["total"] != 1.0 {
		t.Errorf("by ISO timestamp: %v", out)
	}
	if status, _ := search(`{"propertyName":"hs_timestamp","operator":"LIKE","value":"1"}`); status != 400 {
		t.Errorf("unknown operator: %d", status)
	}
}
