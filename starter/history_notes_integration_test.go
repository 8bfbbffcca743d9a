package starter_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
)

// With HUBLINE_TIMELINE=notes (the default for apps without a timeline template), each
// delivery becomes one note on the contact, also when HubSpot's answer to the create is
// lost after the note was stored.
func TestDeliveryNoteOnTheContact(t *testing.T) {
	env := testenv.New(t, testenv.Options{Timeline: "notes", HubSpot: hubspotsandbox.Options{NoteSearchLag: 200 * time.Millisecond}})
	env.HubSpot.FailNextNoteCreates(http.StatusBadGateway, 1)
	r := env.Post(route, hello("cb-note-1"))
	if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	res := waitResult(t, env, "cb-note-1")
	if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.TimelineError != "" {
		t.Fatalf("result: %+v", res)
	}
	notes := env.HubSpot.Notes()
	if len(notes) != 1 {
		t.Fatalf("%d notes, want 1 (the retry must find the first)", len(notes))
	}
	n := notes[0]
	for _, want := range []string{"Hello Aiko", "delivered / 配信済み", "spring_sale", res.OutputFields["line_request_id"], "[hubline-cb-note-1]"} {
		if !strings.Contains(n.Body, want) {
			t.Errorf("note lacks %q: %s", want, n.Body)
		}
	}
	if len(n.ContactIDs) != 1 || n.ContactIDs[0] != "904" {
		t.Errorf("note associated with %v", n.ContactIDs)
	}
	if evs := env.HubSpot.TimelineEvents(); len(evs) != 0 {
		t.Errorf("notes mode wrote timeline events: %+v", evs)
	}
}

func TestQueueDeliveryNotes(t *testing.T) {
	q := newQueueEnv(t, testenv.Options{Timeline: "notes"}, starter.QueueOptions{Shards: 1}, 100)
	const n = 3
	q.postAll(0, n, n, func(int) string { return "" })
	testenv.Eventually(t, "notes", 30*time.Second, func() bool { return len(q.HubSpot.Notes()) == n })
	for _, note := range q.HubSpot.Notes() {
		for _, want := range []string{"Send LINE Message by Queue", "Hello Aiko", "Batch workflow / バッチワークフロー: ", "[hubline-qcb-"} {
			if !strings.Contains(note.Body, want) {
				t.Errorf("note lacks %q: %s", want, note.Body)
			}
		}
	}
	if evs := q.HubSpot.TimelineEvents(); len(evs) != 0 {
		t.Errorf("notes mode wrote timeline events: %d", len(evs))
	}
}
