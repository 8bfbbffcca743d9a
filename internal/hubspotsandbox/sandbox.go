// Package hubspotsandbox is a local fake of the HubSpot API endpoints hubline
// uses. It answers with HubSpot's status codes and error shapes, so the real
// client can be exercised offline: by `hubline dev` without a HubSpot
// account, by integration tests and by benchmarks.
package hubspotsandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// batchLimit is HubSpot's maximum number of inputs per batch call.
const batchLimit = 100

// maxBody bounds request bodies; real HubSpot payloads here are far smaller.
const maxBody = 4 << 20

// Options configures a Server.
type Options struct {
	// AccessToken is the accepted bearer token; "" accepts any non-empty one.
	AccessToken string
	// RateLimit is requests per RateInterval (rolling window); 0 = unlimited.
	RateLimit    int
	RateInterval time.Duration // default 10s
	// PrivateAppToken makes timeline creation answer 403, as HubSpot does
	// for private-app tokens.
	PrivateAppToken bool
	// OAuth makes the sandbox an OAuth app's HubSpot (see oauth.go).
	OAuth OAuthOptions
	// NoteSearchLag is how long a new note stays invisible to the notes search, as
	// HubSpot's eventually consistent index does (0: found at once).
	NoteSearchLag time.Duration
}

// Callback is a completed workflow action callback.
type Callback struct {
	ID           string            `json:"id"`
	OutputFields map[string]string `json:"outputFields"`
	At           time.Time         `json:"at"`
}

// TimelineEvent is a created timeline event.
type TimelineEvent struct {
	ID              string            `json:"id"`
	EventTemplateID string            `json:"eventTemplateId"`
	ObjectID        string            `json:"objectId"`
	Tokens          map[string]string `json:"tokens"`
	ExtraData       any               `json:"extraData,omitempty"`
	At              time.Time         `json:"at"`
}

type failRule struct {
	prefix string
	status int
	left   int
}

type contact struct {
	props            map[string]string
	created, updated time.Time
}

// Server is the fake API. It implements http.Handler and is safe for
// concurrent use.
type Server struct {
	opts  Options
	mux   *http.ServeMux
	oauth *oauthServer
	defs  *definitions // actions.go
	props *properties  // properties.go

	mu          sync.Mutex
	callbacks   []Callback
	completed   map[string]bool
	expired     map[string]bool
	events      []TimelineEvent
	eventIDs    map[string]bool
	contacts    map[string]contact
	fails       []*failRule
	window      []time.Time // accepted requests inside the rolling window
	requests    int
	rateLimited int

	notes noteStore // notes.go
}

// New returns a Server with no data.
func New(o Options) *Server {
	if o.RateInterval <= 0 {
		o.RateInterval = 10 * time.Second
	}
	s := &Server{
		opts: o, mux: http.NewServeMux(),
		completed: map[string]bool{}, expired: map[string]bool{},
		eventIDs: map[string]bool{}, contacts: map[string]contact{},
	}
	s.mux.HandleFunc("POST /automation/v4/actions/callbacks/{callbackId}/complete", s.completeCallback)
	s.mux.HandleFunc("POST /automation/v4/actions/callbacks/complete", s.completeCallbacks)
	s.mux.HandleFunc("POST /crm/v3/timeline/events", s.createEvent)
	s.mux.HandleFunc("POST /crm/v3/timeline/events/batch/create", s.createEvents)
	s.mux.HandleFunc("GET /crm/v3/objects/contacts/{id}", s.getContact)
	s.mux.HandleFunc("POST /crm/v3/objects/contacts/batch/read", s.readContacts)
	s.mux.HandleFunc("POST /crm/v3/objects/notes", s.createNote)
	s.mux.HandleFunc("POST /crm/v3/objects/notes/batch/create", s.createNotes)
	s.mux.HandleFunc("POST /crm/v3/objects/notes/search", s.searchNotes)
	s.oauth = newOAuthServer(o.OAuth)
	s.defs = newDefinitions(s)
	s.props = newProperties()
	s.registerProperties()
	s.registerContacts() // contacts.go
	return s
}

// ServeHTTP applies auth, injected failures and the rate limit, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sandbox" {
		s.sandboxPage(w, r) // page.go; ?format=json is the dump
		return
	}
	if strings.HasPrefix(r.URL.Path, "/oauth/") {
		s.oauth.ServeHTTP(w, r) // OAuth endpoints take client credentials, not bearer tokens
		return
	}
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
	if s.defs.owns(r) {
		s.serveDefinitions(w, r) // action definitions take the developer API key, not bearer tokens
		return
	}

	if !s.authorized(r) {
		s.setRateHeaders(w, s.remaining(time.Now()))
		writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found or invalid. This API supports OAuth 2.0 and private app access tokens.")
		return
	}
	if status, ok := s.injectedFailure(r.URL.Path); ok {
		s.setRateHeaders(w, s.remaining(time.Now()))
		if status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeError(w, status, categoryFor(status), fmt.Sprintf("Injected failure (HTTP %d).", status))
		return
	}
	if !s.admit(w) {
		s.tooMany(w)
		return
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "Resource not found: "+r.Method+" "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(tok) == "" {
		return false
	}
	if known, valid := s.oauth.check(tok, r); known {
		return valid
	}
	return s.opts.AccessToken == "" || tok == s.opts.AccessToken
}

func (s *Server) injectedFailure(path string) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, f := range s.fails {
		if strings.HasPrefix(path, f.prefix) {
			f.left--
			if f.left <= 0 {
				s.fails = append(s.fails[:i], s.fails[i+1:]...)
			}
			return f.status, true
		}
	}
	return 0, false
}

// admit counts the request against the rolling window and sets the rate
// headers; it reports false when the window is full. Rejected requests do not
// count, so a client that backs off recovers after one interval.
func (s *Server) admit(w http.ResponseWriter) bool {
	if s.opts.RateLimit <= 0 {
		return true
	}
	now := time.Now()
	s.mu.Lock()
	s.prune(now)
	if len(s.window) >= s.opts.RateLimit {
		s.mu.Unlock()
		s.setRateHeaders(w, 0)
		return false
	}
	s.window = append(s.window, now)
	left := s.opts.RateLimit - len(s.window)
	s.mu.Unlock()
	s.setRateHeaders(w, left)
	return true
}

// prune drops window entries older than the interval; s.mu must be held.
func (s *Server) prune(now time.Time) {
	cut := now.Add(-s.opts.RateInterval)
	i := 0
	for i < len(s.window) && !s.window[i].After(cut) {
		i++
	}
	s.window = s.window[i:]
}

func (s *Server) remaining(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.prune(now)
	return max(0, s.opts.RateLimit-len(s.window))
}

func (s *Server) setRateHeaders(w http.ResponseWriter, remaining int) {
	if s.opts.RateLimit <= 0 {
		return
	}
	h := w.Header()
	h.Set("X-HubSpot-RateLimit-Max", strconv.Itoa(s.opts.RateLimit))
	h.Set("X-HubSpot-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", strconv.FormatInt(s.opts.RateInterval.Milliseconds(), 10))
}

func (s *Server) tooMany(w http.ResponseWriter) {
	s.mu.Lock()
	s.rateLimited++
	s.mu.Unlock()
	writeJSON(w, http.StatusTooManyRequests, map[string]any{
		"status":        "error",
		"message":       "You have reached your ten_secondly_rolling limit.",
		"errorType":     "RATE_LIMIT",
		"policyName":    "TEN_SECONDLY_ROLLING",
		"correlationId": uuid.NewString(),
		"category":      "RATE_LIMITS",
	})
}

func categoryFor(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "INVALID_AUTHENTICATION"
	case status == http.StatusForbidden:
		return "MISSING_SCOPES"
	case status == http.StatusNotFound:
		return "OBJECT_NOT_FOUND"
	case status == http.StatusConflict:
		return "CONFLICT"
	case status >= 500:
		return "INTERNAL_ERROR"
	default:
		return "VALIDATION_ERROR"
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, category, msg string) {
	writeJSON(w, status, map[string]any{
		"status":        "error",
		"message":       msg,
		"correlationId": uuid.NewString(),
		"category":      category,
	})
}

// decode reads a JSON body; on failure it answers 400 and returns false.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, v)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "Invalid input JSON: "+err.Error())
		return false
	}
	return true
}

// stringify turns JSON values into the strings HubSpot stores them as.
func stringify(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
			out[k] = ""
		case string:
			out[k] = v
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}

// ---- workflow action callbacks ----

type callbackInput struct {
	CallbackID   string         `json:"callbackId"`
	OutputFields map[string]any `json:"outputFields"`
}

// checkCallback returns the HubSpot error message for a completion that
// would be rejected, or "". s.mu must be held.
func (s *Server) checkCallback(id string, fields map[string]any) string {
	switch {
	case id == "":
		return "callbackId is required"
	case s.expired[id]:
		return fmt.Sprintf("Callback %s has expired", id)
	case s.completed[id]:
		return fmt.Sprintf("Callback %s has already been completed", id)
	case fields == nil:
		return fmt.Sprintf("outputFields is required for callback %s", id)
	}
	switch st, _ := fields["hs_execution_state"].(string); st {
	case "SUCCESS", "FAIL_CONTINUE":
		return ""
	default:
		return fmt.Sprintf("Callback %s: hs_execution_state must be SUCCESS or FAIL_CONTINUE, got %q", id, st)
	}
}

func (s *Server) completeCallback(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("callbackId")
	var in struct {
		OutputFields map[string]any `json:"outputFields"`
	}
	if !decode(w, r, &in) {
		return
	}
	s.mu.Lock()
	if msg := s.checkCallback(id, in.OutputFields); msg != "" {
		s.mu.Unlock()
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
		return
	}
	s.completed[id] = true
	s.callbacks = append(s.callbacks, Callback{ID: id, OutputFields: stringify(in.OutputFields), At: time.Now()})
	s.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) completeCallbacks(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Inputs []callbackInput `json:"inputs"`
	}
	if !decode(w, r, &in) {
		return
	}
	if n := len(in.Inputs); n == 0 || n > batchLimit {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("inputs must contain between 1 and %d items, got %d", batchLimit, n))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Like HubSpot, one bad item fails the whole batch and nothing is stored.
	inBatch := map[string]bool{}
	for _, it := range in.Inputs {
		msg := s.checkCallback(it.CallbackID, it.OutputFields)
		if msg == "" && inBatch[it.CallbackID] {
			msg = fmt.Sprintf("Callback %s appears more than once in the batch", it.CallbackID)
		}
		if msg != "" {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
			return
		}
		inBatch[it.CallbackID] = true
	}
	now := time.Now()
	for _, it := range in.Inputs {
		s.completed[it.CallbackID] = true
		s.callbacks = append(s.callbacks, Callback{ID: it.CallbackID, OutputFields: stringify(it.OutputFields), At: now})
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- timeline events ----

type eventInput struct {
	ID              string         `json:"id"`
	EventTemplateID string         `json:"eventTemplateId"`
	ObjectID        any            `json:"objectId"` // HubSpot accepts a string or a number
	Tokens          map[string]any `json:"tokens"`
	ExtraData       any            `json:"extraData"`
	Timestamp       string         `json:"timestamp"`
}

func (e *eventInput) objectID() string {
	switch v := e.ObjectID.(type) {
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	return ""
}

func (e *eventInput) validate() string {
	if e.EventTemplateID == "" {
		return "eventTemplateId is required"
	}
	if e.objectID() == "" {
		return "objectId is required"
	}
	return ""
}

// store records the event and returns HubSpot's echo; s.mu must be held.
func (s *Server) storeEvent(e *eventInput, now time.Time) map[string]any {
	if e.ID == "" {
		e.ID = uuid.NewString()
	}
	ts := e.Timestamp
	if ts == "" {
		ts = now.UTC().Format("2006-01-02T15:04:05.000Z")
	}
	s.eventIDs[e.ID] = true
	s.events = append(s.events, TimelineEvent{
		ID: e.ID, EventTemplateID: e.EventTemplateID, ObjectID: e.objectID(), Tokens: stringify(e.Tokens),
		ExtraData: e.ExtraData, At: now,
	})
	return map[string]any{
		"id": e.ID, "eventTemplateId": e.EventTemplateID, "objectId": e.objectID(), "objectType": "contacts",
		"tokens": e.Tokens, "extraData": e.ExtraData, "timestamp": ts,
	}
}

func (s *Server) privateAppForbidden(w http.ResponseWriter) bool {
	if !s.opts.PrivateAppToken {
		return false
	}
	writeError(w, http.StatusForbidden, "MISSING_SCOPES",
		"This app hasn't been granted all required scopes to make this call: timeline events can only be created with an OAuth access token, not a private app token.")
	return true
}

func (s *Server) createEvent(w http.ResponseWriter, r *http.Request) {
	if s.privateAppForbidden(w) {
		return
	}
	var in eventInput
	if !decode(w, r, &in) {
		return
	}
	if msg := in.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
		return
	}
	s.mu.Lock()
	if in.ID != "" && s.eventIDs[in.ID] {
		s.mu.Unlock()
		writeError(w, http.StatusConflict, "CONFLICT", fmt.Sprintf("An event with id %s already exists.", in.ID))
		return
	}
	echo := s.storeEvent(&in, time.Now())
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, echo)
}

func (s *Server) createEvents(w http.ResponseWriter, r *http.Request) {
	if s.privateAppForbidden(w) {
		return
	}
	var in struct {
		Inputs []eventInput `json:"inputs"`
	}
	if !decode(w, r, &in) {
		return
	}
	if n := len(in.Inputs); n == 0 || n > batchLimit {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("inputs must contain between 1 and %d items, got %d", batchLimit, n))
		return
	}
	for i := range in.Inputs {
		if msg := in.Inputs[i].validate(); msg != "" {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("inputs[%d]: %s", i, msg))
			return
		}
	}
	s.mu.Lock()
	now := time.Now()
	results := []map[string]any{}
	var dup []string
	for i := range in.Inputs {
		e := &in.Inputs[i]
		if e.ID != "" && s.eventIDs[e.ID] {
			dup = append(dup, e.ID)
			continue
		}
		results = append(results, s.storeEvent(e, now))
	}
	s.mu.Unlock()
	if len(results) == 0 {
		writeError(w, http.StatusConflict, "CONFLICT", "Events with these ids already exist: "+strings.Join(dup, ", "))
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"status": "COMPLETE", "results": results,
		"startedAt": now.UTC().Format(time.RFC3339Nano), "completedAt": time.Now().UTC().Format(time.RFC3339Nano),
	})
}

// ---- contacts ----

// contactJSON renders a contact like CRM v3: requested properties without a
// value come back as null; hs_object_id and the dates are always present.
func contactJSON(id string, c contact, props []string) map[string]any {
	p := map[string]any{
		"hs_object_id":     id,
		"createdate":       c.created.UTC().Format(time.RFC3339Nano),
		"lastmodifieddate": c.updated.UTC().Format(time.RFC3339Nano),
	}
	if len(props) == 0 {
		for k, v := range c.props {
			p[k] = v
		}
	}
	for _, name := range props {
		if v, ok := c.props[name]; ok && v != "" {
			p[name] = v
		} else if _, fixed := p[name]; !fixed {
			p[name] = nil
		}
	}
	return map[string]any{
		"id": id, "properties": p, "archived": false,
		"createdAt": c.created.UTC().Format(time.RFC3339Nano), "updatedAt": c.updated.UTC().Format(time.RFC3339Nano),
	}
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	var props []string
	for _, v := range r.URL.Query()["properties"] {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				props = append(props, p)
			}
		}
	}
	s.mu.Lock()
	c, ok := s.contacts[id]
	s.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "resource not found")
		return
	}
	writeJSON(w, http.StatusOK, contactJSON(id, c, props))
}

func (s *Server) readContacts(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Properties []string `json:"properties"`
		Inputs     []struct {
			ID string `json:"id"`
		} `json:"inputs"`
	}
	if !decode(w, r, &in) {
		return
	}
	if n := len(in.Inputs); n == 0 || n > batchLimit {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("inputs must contain between 1 and %d items, got %d", batchLimit, n))
		return
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	results := []map[string]any{}
	var missing []string
	s.mu.Lock()
	for _, it := range in.Inputs {
		if c, ok := s.contacts[it.ID]; ok {
			results = append(results, contactJSON(it.ID, c, in.Properties))
		} else {
			missing = append(missing, it.ID)
		}
	}
	s.mu.Unlock()
	out := map[string]any{"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now}
	if len(missing) == 0 {
		writeJSON(w, http.StatusOK, out)
		return
	}
	out["numErrors"] = 1
	out["errors"] = []map[string]any{{
		"status":   "error",
		"category": "OBJECT_NOT_FOUND",
		"message":  "Could not get some CONTACT objects, they may be deleted or not exist. Check that ids are valid.",
		"context":  map[string]any{"ids": missing},
	}}
	writeJSON(w, http.StatusMultiStatus, out)
}

// ---- test hooks and records ----

// FailNext makes the next n requests whose path starts with pathPrefix answer
// status with a JSON error body (a 429 gets HubSpot's rate-limit body).
func (s *Server) FailNext(pathPrefix string, status int, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails = append(s.fails, &failRule{prefix: pathPrefix, status: status, left: n})
}

// SetContact creates or replaces a contact.
func (s *Server) SetContact(id string, props map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	created := now
	if c, ok := s.contacts[id]; ok {
		created = c.created
	}
	s.contacts[id] = contact{props: maps.Clone(props), created: created, updated: now}
}

// ExpireCallback makes later completions of id answer "has expired".
func (s *Server) ExpireCallback(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expired[id] = true
}

// Callbacks returns the completed callbacks in completion order.
func (s *Server) Callbacks() []Callback {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Callback, len(s.callbacks))
	for i, c := range s.callbacks {
		c.OutputFields = maps.Clone(c.OutputFields)
		out[i] = c
	}
	return out
}

// TimelineEvents returns the created timeline events in creation order.
func (s *Server) TimelineEvents() []TimelineEvent {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]TimelineEvent, len(s.events))
	for i, e := range s.events {
		e.Tokens = maps.Clone(e.Tokens)
		out[i] = e
	}
	return out
}

// Requests returns how many API requests arrived (any outcome).
func (s *Server) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// RateLimited returns how many requests were answered 429.
func (s *Server) RateLimited() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rateLimited
}

// dump shows what was "written to HubSpot", for a developer using hubline dev.
// It needs no auth because the sandbox only ever holds fake data.
func (s *Server) dump(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", "use GET")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"callbacks":      s.Callbacks(),
		"timelineEvents": s.TimelineEvents(),
		"notes":          s.Notes(),
		"contacts":       s.Contacts(),
		"portals":        s.ConnectedPortals(),
		"requests":       s.Requests(),
		"rateLimited":    s.RateLimited(),
	})
}
