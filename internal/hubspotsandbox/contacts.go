package hubspotsandbox

import (
	"fmt"
	"maps"
	"net/http"
	"sort"
	"strconv"
	"sync"
	"time"
)

// Contact writes and search, as CRM v3 answers them: create (POST
// /crm/v3/objects/contacts), update (PATCH /crm/v3/objects/contacts/{id}) and search (POST
// /crm/v3/objects/contacts/search, EQ filters). A value of a unique property
// (UniqueContactProperty) may be on one contact only: a second gets 409. The search index
// lags like HubSpot's: a contact is found only ContactSearchLag after its creation.

// maxSearchLimit is HubSpot's page size limit for CRM search.
const maxSearchLimit = 200

// Per-Server settings and counters of this file, kept beside the Server (keyed by it) so
// the contact endpoints stand on their own: *Server -> time.Duration / int.
var contactSearchLag, contactWrites, contactCreateFails sync.Map

// FailNextContactCreates makes the next n contact creates take effect and then answer
// status, as a create whose answer was lost (a 5xx after the write, a timeout).
func (s *Server) FailNextContactCreates(status, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	contactCreateFails.Store(s, [2]int{status, n})
}

func (s *Server) registerContacts() {
	s.mux.HandleFunc("POST /crm/v3/objects/contacts", s.createContact)
	s.mux.HandleFunc("PATCH /crm/v3/objects/contacts/{id}", s.updateContact)
	s.mux.HandleFunc("POST /crm/v3/objects/contacts/search", s.searchContacts)
}

// SetContactSearchLag makes a new contact invisible to the contact search for d, as
// HubSpot's eventually consistent index does (0, the default: found at once).
func (s *Server) SetContactSearchLag(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	contactSearchLag.Store(s, d)
}

// ContactWrites counts contact creates and updates that took effect.
func (s *Server) ContactWrites() int {
	n, _ := contactWrites.Load(s)
	c, _ := n.(int)
	return c
}

// conflictLocked returns the ID of another contact holding one of props' unique values.
func (s *Server) conflictLocked(self string, props map[string]string) string {
	for name, v := range props {
		if v == "" || !s.UniqueContactProperty(name) {
			continue
		}
		for id, c := range s.contacts {
			if id != self && c.props[name] == v {
				return id
			}
		}
	}
	return ""
}

func (s *Server) countWriteLocked() {
	n, _ := contactWrites.Load(s)
	c, _ := n.(int)
	contactWrites.Store(s, c+1)
}

// nextContactIDLocked is one above the highest numeric contact ID.
func (s *Server) nextContactIDLocked() string {
	max := int64(100)
	for id := range s.contacts {
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > max {
			max = n
		}
	}
	return strconv.FormatInt(max+1, 10)
}

func validContactProps(w http.ResponseWriter, props map[string]string) bool {
	if len(props) == 0 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "properties must not be empty")
		return false
	}
	return true
}

func (s *Server) createContact(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Properties map[string]any `json:"properties"`
	}
	if !decode(w, r, &in) {
		return
	}
	props := stringify(in.Properties)
	if !validContactProps(w, props) {
		return
	}
	s.mu.Lock()
	if other := s.conflictLocked("", props); other != "" {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "CONFLICT", "Contact already exists. Existing ID: "+other)
		return
	}
	id := s.nextContactIDLocked()
	now := time.Now()
	c := contact{props: maps.Clone(props), created: now, updated: now}
	s.contacts[id] = c
	s.countWriteLocked()
	fail, _ := contactCreateFails.Load(s)
	f, _ := fail.([2]int)
	if f[1] > 0 {
		contactCreateFails.Store(s, [2]int{f[0], f[1] - 1})
	}
	s.mu.Unlock()
	if f[1] > 0 {
		writeError(w, f[0], categoryFor(f[0]), fmt.Sprintf("Injected failure after the write (HTTP %d).", f[0]))
		return
	}
	writeJSON(w, http.StatusCreated, contactJSON(id, c, nil))
}

func (s *Server) updateContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if r.URL.Query().Get("idProperty") != "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "the sandbox updates contacts by ID only")
		return
	}
	var in struct {
		Properties map[string]any `json:"properties"`
	}
	if !decode(w, r, &in) {
		return
	}
	props := stringify(in.Properties)
	if !validContactProps(w, props) {
		return
	}
	s.mu.Lock()
	c, ok := s.contacts[id]
	if !ok {
		s.mu.Unlock()
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found")
		return
	}
	if other := s.conflictLocked(id, props); other != "" {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "CONFLICT", "Contact already exists. Existing ID: "+other)
		return
	}
	c.props = maps.Clone(c.props)
	if c.props == nil {
		c.props = map[string]string{}
	}
	for k, v := range props {
		c.props[k] = v
	}
	c.updated = time.Now()
	s.contacts[id] = c
	s.countWriteLocked()
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, contactJSON(id, c, nil))
}

// searchContacts answers the contact search with EQ filters (ANDed in a group, groups
// ORed), oldest contact first, over the contacts created at least ContactSearchLag ago.
func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request) {
	in, offset, limit, ok := decodeSearch(w, r, func(op string) string {
		if op != "EQ" {
			return fmt.Sprintf("the sandbox's contact search supports EQ filters only, not %q", op)
		}
		return ""
	})
	if !ok {
		return
	}
	type hit struct {
		id string
		c  contact
	}
	var hits []hit
	s.mu.Lock()
	lag, _ := contactSearchLag.Load(s)
	d, _ := lag.(time.Duration)
	indexed := time.Now().Add(-d)
	for id, c := range s.contacts {
		if c.created.After(indexed) {
			continue // not in the search index yet
		}
		ok := len(in.FilterGroups) == 0
		for _, g := range in.FilterGroups {
			all := true
			for _, f := range g.Filters {
				if c.props[f.PropertyName] != filterString(f.Value) {
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
			hits = append(hits, hit{id, c})
		}
	}
	s.mu.Unlock()
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].c.created.Equal(hits[j].c.created) {
			return hits[i].c.created.Before(hits[j].c.created)
		}
		return hits[i].id < hits[j].id
	})
	props := in.Properties
	if props == nil {
		props = []string{}
	}
	results := []map[string]any{}
	for i := offset; i < len(hits) && i < offset+limit; i++ {
		results = append(results, contactJSON(hits[i].id, hits[i].c, props))
	}
	out := map[string]any{"total": len(hits), "results": results}
	if offset+limit < len(hits) {
		next := strconv.Itoa(offset + limit)
		out["paging"] = map[string]any{"next": map[string]any{"after": next, "link": "?after=" + next}}
	}
	writeJSON(w, http.StatusOK, out)
}
