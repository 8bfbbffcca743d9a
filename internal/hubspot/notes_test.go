package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
)

func TestCreateNoteRequest(t *testing.T) {
	rec := newRecorder(t, fixed(http.StatusCreated, `{"id":"512","properties":{}}`))
	ts := time.Date(2026, 1, 2, 3, 4, 5, 678_900_000, time.UTC)
	id, err := testClient(rec.srv.URL, nil).CreateNote(context.Background(), 7, Note{ContactID: 904, Timestamp: ts, Body: "<p>日本語</p>"})
	if err != nil || id != "512" {
		t.Fatalf("CreateNote = %q, %v", id, err)
	}
	r := rec.requests()[0]
	var got struct {
		Properties   map[string]string `json:"properties"`
		Associations []struct {
			To    map[string]string `json:"to"`
			Types []struct {
				Category string `json:"associationCategory"`
				TypeID   int    `json:"associationTypeId"`
			} `json:"types"`
		} `json:"associations"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil {
		t.Fatal(err)
	}
	if r.method != "POST" || r.uri != "/crm/v3/objects/notes" || got.Properties["hs_timestamp"] != "1767323045678" ||
		got.Properties["hs_note_body"] != "<p>日本語</p>" || len(got.Associations) != 1 || got.Associations[0].To["id"] != "904" ||
		len(got.Associations[0].Types) != 1 || got.Associations[0].Types[0].Category != "HUBSPOT_DEFINED" || got.Associations[0].Types[0].TypeID != 202 {
		t.Errorf("%s %s: %s", r.method, r.uri, r.body)
	}
}

func TestNotesAgainstSandbox(t *testing.T) {
	sb, c := sandbox(t, hubspotsandbox.Options{})
	ctx := context.Background()
	ts := time.UnixMilli(1767225600123)
	if _, err := c.CreateNote(ctx, 1, Note{ContactID: 904, Timestamp: ts, Body: "one"}); err != nil {
		t.Fatal(err)
	}
	var batch []Note
	for i := range 250 {
		batch = append(batch, Note{ContactID: int64(1000 + i), Timestamp: ts, Body: fmt.Sprintf("b-%d", i)})
	}
	batch[249].Timestamp = ts.Add(time.Millisecond)
	before := sb.Requests()
	n, err := c.CreateNotes(ctx, 1, batch)
	if err != nil || n != 250 {
		t.Fatalf("CreateNotes = %d, %v", n, err)
	}
	if got := sb.Requests() - before; got != 3 {
		t.Errorf("%d requests for 250 notes, want 3 (≤100 per call)", got)
	}
	if got := len(sb.Notes()); got != 251 {
		t.Fatalf("%d notes stored, want 251", got)
	}

	found, err := c.SearchNotes(ctx, 1, NoteQuery{Timestamp: ts})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 250 { // "one" and b-0..b-248, over two pages
		t.Fatalf("search found %d, want 250", len(found))
	}
	bodies := map[string]bool{}
	for _, f := range found {
		bodies[f.Body] = true
	}
	if !bodies["one"] || !bodies["b-248"] || bodies["b-249"] {
		t.Errorf("search matched the wrong notes")
	}

	// A batch HubSpot refuses writes nothing and reports how many went before it.
	bad := []Note{{ContactID: 1, Timestamp: ts, Body: "ok"}, {ContactID: 2, Timestamp: ts, Body: strings.Repeat("x", MaxNoteBody+1)}}
	n, err = c.CreateNotes(ctx, 1, bad)
	var ae *APIError
	if n != 0 || !errors.As(err, &ae) || ae.StatusCode != 400 || ae.Retryable() {
		t.Fatalf("oversized body: %d, %v", n, err)
	}
	if got := len(sb.Notes()); got != 251 {
		t.Errorf("a refused batch stored notes: %d", got)
	}

	sb.FailNext("/crm/v3/objects/notes", http.StatusForbidden, 1)
	if _, err := c.CreateNote(ctx, 1, Note{ContactID: 1, Timestamp: ts}); err == nil || !strings.Contains(err.Error(), "crm.objects.contacts.write") {
		t.Errorf("403 should name the scope notes need: %v", err)
	}
}

func TestSearchNotesSeesTheIndexLate(t *testing.T) {
	sb, c := sandbox(t, hubspotsandbox.Options{NoteSearchLag: time.Hour})
	ctx := context.Background()
	ts := time.UnixMilli(1767225600000)
	sb.FailNextNoteCreates(http.StatusBadGateway, 1)
	_, err := c.CreateNote(ctx, 1, Note{ContactID: 5, Timestamp: ts, Body: "x"})
	var ae *APIError
	if !errors.As(err, &ae) || !ae.Retryable() {
		t.Fatalf("injected 502: %v", err)
	}
	if len(sb.Notes()) != 1 {
		t.Fatal("the failed create should have taken effect")
	}
	if found, err := c.SearchNotes(ctx, 1, NoteQuery{Timestamp: ts}); err != nil || len(found) != 0 {
		t.Fatalf("search before the index caught up = %v, %v", found, err)
	}
}
