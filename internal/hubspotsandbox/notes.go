package hubspotsandbox

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Notes, as CRM v3 has them: created one by one or in batches with their associations,
// no idempotency key (a repeated create is a second note), and a search that only sees a
// note once the index has caught up (Options.NoteSearchLag).

// noteToContact is HubSpot's association type ID for note → contact.
const noteToContact = 202

// maxNoteBody is HubSpot's limit on hs_note_body, in characters (UTF-16 code units).
const maxNoteBody = 65536

// Note is a created note.
type Note struct {
	ID        string    `json:"id"`
	Body      string    `json:"body"`
	Timestamp time.Time `json:"timestamp"`
	// ContactIDs are the contacts it is associated with (type 202).
	ContactIDs []string  `json:"contactIds"`
	CreatedAt  time.Time `json:"createdAt"`
}

// noteStore holds the notes; its own lock, so note handlers never hold the server's.
type noteStore struct {
	mu     sync.Mutex
	notes  []Note
	nextID int64
	// failAfter counts creates whose answer is replaced by a 5xx after they took effect.
	failAfter       int
	failAfterStatus int
}

type noteInput struct {
	Properties   map[string]any `json:"properties"`
	Associations []struct {
		To struct {
			ID any `json:"id"`
		} `json:"to"`
		Types []struct {
			Category string `json:"associationCategory"`
			TypeID   int    `json:"associationTypeId"`
		} `json:"types"`
	} `json:"associations"`
}

// parseTimestamp accepts what HubSpot accepts for datetime properties: epoch milliseconds
// or ISO 8601.
func parseTimestamp(v string) (time.Time, bool) {
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil {
		return time.UnixMilli(ms).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// validate turns an input into a note (without ID) or returns HubSpot's error message.
func (in *noteInput) validate() (Note, string) {
	props := stringify(in.Properties)
	for k := range props {
		switch k {
		case "hs_timestamp", "hs_note_body", "hubspot_owner_id", "hs_attachment_ids":
		default:
			return Note{}, fmt.Sprintf("Property values were not valid: property %q does not exist", k)
		}
	}
	ts, ok := parseTimestamp(props["hs_timestamp"])
	if !ok {
		return Note{}, fmt.Sprintf("Property values were not valid: hs_timestamp %q is not a valid datetime (epoch milliseconds or ISO 8601)", props["hs_timestamp"])
	}
	if n := utf16Len(props["hs_note_body"]); n > maxNoteBody {
		return Note{}, fmt.Sprintf("Property values were not valid: hs_note_body is %d characters, the limit is %d", n, maxNoteBody)
	}
	note := Note{Body: props["hs_note_body"], Timestamp: ts}
	for _, a := range in.Associations {
		id := ""
		switch v := a.To.ID.(type) {
		case string:
			id = v
		case float64:
			id = strconv.FormatFloat(v, 'f', -1, 64)
		}
		if _, err := strconv.ParseInt(id, 10, 64); err != nil {
			return Note{}, fmt.Sprintf("associations: to.id %v is not a valid object id", a.To.ID)
		}
		if len(a.Types) == 0 {
			return Note{}, "associations: types is required"
		}
		for _, t := range a.Types {
			if t.Category != "HUBSPOT_DEFINED" || t.TypeID != noteToContact {
				// The sandbox knows contacts only.
				return Note{}, fmt.Sprintf("associations: type %s/%d is not a note to contact association (HUBSPOT_DEFINED/%d)", t.Category, t.TypeID, noteToContact)
			}
		}
		note.ContactIDs = append(note.ContactIDs, id)
	}
	return note, ""
}

// add stores notes and returns HubSpot's echo of each; ns.mu must be held.
func (ns *noteStore) add(notes []Note, now time.Time) []map[string]any {
	out := make([]map[string]any, len(notes))
	for i := range notes {
		ns.nextID++
		n := notes[i]
		n.ID = strconv.FormatInt(90000000000+ns.nextID, 10)
		n.CreatedAt = now
		ns.notes = append(ns.notes, n)
		out[i] = noteJSON(n, nil)
	}
	return out
}

// noteJSON renders a note like CRM v3; props nil means the default set.
func noteJSON(n Note, props []string) map[string]any {
	all := map[string]any{
		"hs_object_id":        n.ID,
		"hs_timestamp":        n.Timestamp.Format("2006-01-02T15:04:05.000Z"),
		"hs_note_body":        n.Body,
		"hs_createdate":       n.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
		"hs_lastmodifieddate": n.CreatedAt.UTC().Format("2006-01-02T15:04:05.000Z"),
	}
	p := all
	if props != nil {
		p = map[string]any{"hs_object_id": n.ID, "hs_createdate": all["hs_createdate"], "hs_lastmodifieddate": all["hs_lastmodifieddate"]}
		for _, name := range props {
			p[name] = all[name] // unknown names come back null, as HubSpot does
		}
	}
	return map[string]any{
		"id": n.ID, "properties": p, "archived": false,
		"createdAt": all["hs_createdate"], "updatedAt": all["hs_lastmodifieddate"],
	}
}

// takeFailAfter reports whether this create's answer is to be replaced by a failure.
func (ns *noteStore) takeFailAfter() (int, bool) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.failAfter <= 0 {
		return 0, false
	}
	ns.failAfter--
	return ns.failAfterStatus, true
}

func (s *Server) createNote(w http.ResponseWriter, r *http.Request) {
	var in noteInput
	if !decode(w, r, &in) {
		return
	}
	note, msg := in.validate()
	if msg != "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
		return
	}
	s.notes.mu.Lock()
	echo := s.notes.add([]Note{note}, time.Now())[0]
	s.notes.mu.Unlock()
	if status, ok := s.notes.takeFailAfter(); ok {
		writeError(w, status, categoryFor(status), "Injected failure after the note was created.")
		return
	}
	writeJSON(w, http.StatusCreated, echo)
}

func (s *Server) createNotes(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Inputs []noteInput `json:"inputs"`
	}
	if !decode(w, r, &in) {
		return
	}
	if n := len(in.Inputs); n == 0 || n > batchLimit {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("inputs must contain between 1 and %d items, got %d", batchLimit, n))
		return
	}
	notes := make([]Note, len(in.Inputs))
	for i := range in.Inputs {
		note, msg := in.Inputs[i].validate()
		if msg != "" {
			// Like HubSpot, one invalid input fails the whole batch and nothing is stored.
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %s", i, msg))
			return
		}
		notes[i] = note
	}
	now := time.Now()
	s.notes.mu.Lock()
	results := s.notes.add(notes, now)
	s.notes.mu.Unlock()
	if status, ok := s.notes.takeFailAfter(); ok {
		writeError(w, status, categoryFor(status), "Injected failure after the notes were created.")
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"status": "COMPLETE", "results": results,
		"startedAt": now.UTC().Format(time.RFC3339Nano), "completedAt": time.Now().UTC().Format(time.RFC3339Nano),
	})
}

type searchFilter struct {
	PropertyName string `json:"propertyName"`
	Operator     string `json:"operator"`
	Value        any    `json:"value"`
	Values       []any  `json:"values"`
}

func filterString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	}
	return ""
}

// value returns a note's value for a search property, as a string.
func noteValue(n Note, prop string) (string, []string) {
	switch prop {
	case "hs_timestamp":
		return strconv.FormatInt(n.Timestamp.UnixMilli(), 10), nil
	case "hs_note_body":
		return n.Body, nil
	case "hs_object_id":
		return n.ID, nil
	case "associations.contact":
		return "", n.ContactIDs
	}
	return "", nil
}

// matches applies one filter. Datetime values compare as epoch milliseconds.
func (f searchFilter) matches(n Note) bool {
	v, multi := noteValue(n, f.PropertyName)
	want := filterString(f.Value)
	if f.PropertyName == "hs_timestamp" {
		if t, ok := parseTimestamp(want); ok {
			want = strconv.FormatInt(t.UnixMilli(), 10)
		}
	}
	if multi != nil {
		switch f.Operator {
		case "EQ":
			return slices.Contains(multi, want)
		case "IN":
			for _, x := range f.Values {
				if slices.Contains(multi, filterString(x)) {
					return true
				}
			}
		}
		return false
	}
	switch f.Operator {
	case "EQ":
		return v == want
	case "NEQ":
		return v != want
	case "IN":
		for _, x := range f.Values {
			if v == filterString(x) {
				return true
			}
		}
		return false
	case "CONTAINS_TOKEN":
		return strings.Contains(strings.ToLower(v), strings.ToLower(strings.Trim(want, "*")))
	case "HAS_PROPERTY":
		return v != ""
	case "GTE", "LTE", "GT", "LT":
		a, err1 := strconv.ParseInt(v, 10, 64)
		b, err2 := strconv.ParseInt(want, 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		switch f.Operator {
		case "GTE":
			return a >= b
		case "LTE":
			return a <= b
		case "GT":
			return a > b
		default:
			return a < b
		}
	}
	return false
}

func validOperator(op string) bool {
	switch op {
	case "EQ", "NEQ", "IN", "CONTAINS_TOKEN", "HAS_PROPERTY", "GTE", "LTE", "GT", "LT":
		return true
	}
	return false
}

// searchNotes answers POST /crm/v3/objects/notes/search. Filters in a group are ANDed,
// groups are ORed; only notes older than NoteSearchLag are indexed.
func (s *Server) searchNotes(w http.ResponseWriter, r *http.Request) {
	in, offset, limit, ok := decodeSearch(w, r, func(op string) string {
		if !validOperator(op) {
			return fmt.Sprintf("unknown operator %q", op)
		}
		return ""
	})
	if !ok {
		return
	}
	if offset+limit > 10000 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "search results are limited to 10,000")
		return
	}
	indexed := time.Now().Add(-s.opts.NoteSearchLag)
	var hits []Note
	s.notes.mu.Lock()
	for _, n := range s.notes.notes {
		if n.CreatedAt.After(indexed) {
			continue // not in the search index yet
		}
		ok := len(in.FilterGroups) == 0
		for _, g := range in.FilterGroups {
			all := true
			for _, f := range g.Filters {
				if !f.matches(n) {
					all = false
					break
				}
			}
			if all {
				ok = true
				break
			}
		}
		if ok {
			hits = append(hits, n)
		}
	}
	s.notes.mu.Unlock()
	props := in.Properties
	if props == nil {
		props = []string{}
	}
	results := []map[string]any{}
	for i := offset; i < len(hits) && i < offset+limit; i++ {
		results = append(results, noteJSON(hits[i], props))
	}
	out := map[string]any{"total": len(hits), "results": results}
	if offset+limit < len(hits) {
		next := strconv.Itoa(offset + limit)
		out["paging"] = map[string]any{"next": map[string]any{"after": next, "link": "?after=" + next}}
	}
	writeJSON(w, http.StatusOK, out)
}

// FailNextNoteCreates makes the next n note creates (single or batch) take effect and
// then answer status (a 5xx): the case where a client cannot know its note exists.
func (s *Server) FailNextNoteCreates(status, n int) {
	s.notes.mu.Lock()
	defer s.notes.mu.Unlock()
	s.notes.failAfter, s.notes.failAfterStatus = n, status
}

// Notes returns the created notes in creation order.
func (s *Server) Notes() []Note {
	s.notes.mu.Lock()
	defer s.notes.mu.Unlock()
	out := make([]Note, len(s.notes.notes))
	for i, n := range s.notes.notes {
		n.ContactIDs = slices.Clone(n.ContactIDs)
		out[i] = n
	}
	return out
}

// searchRequest is a CRM search body (contacts and notes alike).
type searchRequest struct {
	FilterGroups []struct {
		Filters []searchFilter `json:"filters"`
	} `json:"filterGroups"`
	Properties []string `json:"properties"`
	Limit      int      `json:"limit"`
	After      string   `json:"after"`
}

// decodeSearch reads a CRM search body and checks it as HubSpot does (at most 5 filter groups
// of 6 filters, page size 1 to 200, a numeric paging token); badOperator names what is wrong
// with an operator ("" if fine). Not ok: the 400 is written.
func decodeSearch(w http.ResponseWriter, r *http.Request, badOperator func(string) string) (in searchRequest, offset, limit int, ok bool) {
	if !decode(w, r, &in) {
		return in, 0, 0, false
	}
	if len(in.FilterGroups) > 5 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "at most 5 filterGroups are allowed")
		return in, 0, 0, false
	}
	for _, g := range in.FilterGroups {
		if len(g.Filters) > 6 {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "at most 6 filters per filterGroup are allowed")
			return in, 0, 0, false
		}
		for _, f := range g.Filters {
			if msg := badOperator(f.Operator); msg != "" {
				writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
				return in, 0, 0, false
			}
		}
	}
	if limit = in.Limit; limit <= 0 {
		limit = 10
	}
	if limit > maxSearchLimit {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "limit must be at most 200")
		return in, 0, 0, false
	}
	if in.After != "" {
		var err error
		if offset, err = strconv.Atoi(in.After); err != nil || offset < 0 {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("after %q is not a valid paging token", in.After))
			return in, 0, 0, false
		}
	}
	return in, offset, limit, true
}
