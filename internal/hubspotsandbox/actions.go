package hubspotsandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Custom workflow action definitions: GET/POST /automation/v4/actions/{appId} and
// GET/PATCH/DELETE /automation/v4/actions/{appId}/{definitionId}. HubSpot authenticates
// these with the app's developer API key in ?hapikey=, not with a portal's bearer token,
// so ServeHTTP hands them here before its bearer check.

// defaultDefinitionsPage is the page size of the definitions list when no limit is given.
const defaultDefinitionsPage = 10

// definitionFields are the top-level fields a definition may carry on create; HubSpot adds
// id, revisionId and functions to what it returns. PATCH takes the same minus functions.
var definitionFields = []string{
	"actionUrl", "published", "objectTypes", "inputFields", "outputFields", "inputFieldDependencies",
	"objectRequestOptions", "labels", "executionRules", "functions",
}

type actionDefinition struct {
	id       int
	revision int
	body     map[string]any
}

// definitions holds every app's action definitions.
type definitions struct {
	mux *http.ServeMux

	mu       sync.Mutex
	apiKey   string // "" accepts any non-empty key
	pageSize int
	nextID   int
	apps     map[string][]*actionDefinition // appId -> definitions in creation order
	writes   int
}

func newDefinitions(s *Server) *definitions {
	d := &definitions{mux: http.NewServeMux(), pageSize: defaultDefinitionsPage, nextID: 1000, apps: map[string][]*actionDefinition{}}
	const base = "/automation/v4/actions/{appId}"
	d.mux.HandleFunc("GET "+base, s.listDefinitions)
	d.mux.HandleFunc("POST "+base, s.createDefinition)
	d.mux.HandleFunc("GET "+base+"/{definitionId}", s.getDefinition)
	d.mux.HandleFunc("PATCH "+base+"/{definitionId}", s.patchDefinition)
	d.mux.HandleFunc("DELETE "+base+"/{definitionId}", s.deleteDefinition)
	return d
}

// owns reports whether r is a definitions request (the callbacks routes share the prefix).
func (d *definitions) owns(r *http.Request) bool {
	rest, ok := strings.CutPrefix(r.URL.Path, "/automation/v4/actions/")
	if !ok || rest == "callbacks" || strings.HasPrefix(rest, "callbacks/") {
		return false
	}
	_, pattern := d.mux.Handler(r)
	return pattern != ""
}

// serveDefinitions checks the developer API key and injected failures, then routes.
func (s *Server) serveDefinitions(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Query().Get("hapikey")
	s.defs.mu.Lock()
	want := s.defs.apiKey
	s.defs.mu.Unlock()
	switch {
	case key == "":
		writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"Authentication credentials not found. This API supports both API Key and OAuth 2.0 authentication.")
		return
	case want != "" && key != want:
		writeError(w, http.StatusUnauthorized, "INVALID_AUTHENTICATION",
			"The API key provided is invalid. View or manage your API key in your developer account.")
		return
	}
	if status, ok := s.injectedFailure(r.URL.Path); ok {
		if status == http.StatusTooManyRequests {
			s.tooMany(w)
			return
		}
		writeError(w, status, categoryFor(status), fmt.Sprintf("Injected failure (HTTP %d).", status))
		return
	}
	s.defs.mux.ServeHTTP(w, r)
}

func validAppID(w http.ResponseWriter, r *http.Request) (string, bool) {
	app := r.PathValue("appId")
	if n, err := strconv.ParseUint(app, 10, 64); err != nil || n == 0 {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("appId must be a positive number, got %q", app))
		return "", false
	}
	return app, true
}

// render is a definition as HubSpot returns it: with its id, revisionId and functions, and
// every field's typeDefinition.options, which HubSpot's model always has ([] for none).
// d.mu must be held.
func (a *actionDefinition) render() map[string]any {
	b, _ := json.Marshal(a.body)
	var out map[string]any
	_ = json.Unmarshal(b, &out) // a copy: the stored body stays as sent
	for _, key := range []string{"inputFields", "outputFields"} {
		fields, _ := out[key].([]any)
		for _, f := range fields {
			m, _ := f.(map[string]any)
			if td, ok := m["typeDefinition"].(map[string]any); ok && td["options"] == nil {
				td["options"] = []any{}
			}
		}
	}
	out["id"] = strconv.Itoa(a.id)
	out["revisionId"] = strconv.Itoa(a.revision)
	if _, ok := out["functions"]; !ok {
		out["functions"] = []any{}
	}
	return out
}

func (s *Server) listDefinitions(w http.ResponseWriter, r *http.Request) {
	app, ok := validAppID(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	d := s.defs
	d.mu.Lock()
	defer d.mu.Unlock()
	limit := d.pageSize
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("limit must be a positive number, got %q", v))
			return
		}
		limit = min(n, 100)
	}
	start := 0
	if v := q.Get("after"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("invalid paging cursor %q", v))
			return
		}
		start = n
	}
	all := d.apps[app]
	results := []map[string]any{}
	for i := start; i < len(all) && len(results) < limit; i++ {
		results = append(results, all[i].render())
	}
	out := map[string]any{"results": results}
	if next := start + limit; next < len(all) {
		after := strconv.Itoa(next)
		link := (&url.URL{Path: r.URL.Path, RawQuery: url.Values{"after": {after}}.Encode()}).String()
		out["paging"] = map[string]any{"next": map[string]any{"after": after, "link": link}}
	}
	writeJSON(w, http.StatusOK, out)
}

// findDefinition returns the definition and its index; d.mu must be held.
func (d *definitions) find(app, id string) (*actionDefinition, int) {
	for i, a := range d.apps[app] {
		if strconv.Itoa(a.id) == id {
			return a, i
		}
	}
	return nil, -1
}

func notFound(w http.ResponseWriter, app, id string) {
	writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("No action definition %s for app %s", id, app))
}

func (s *Server) getDefinition(w http.ResponseWriter, r *http.Request) {
	app, ok := validAppID(w, r)
	if !ok {
		return
	}
	id := r.PathValue("definitionId")
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	a, _ := s.defs.find(app, id)
	if a == nil {
		notFound(w, app, id)
		return
	}
	writeJSON(w, http.StatusOK, a.render())
}

func (s *Server) createDefinition(w http.ResponseWriter, r *http.Request) {
	app, ok := validAppID(w, r)
	if !ok {
		return
	}
	var body map[string]any
	if !decode(w, r, &body) {
		return
	}
	if msg := checkDefinition(body, definitionFields); msg != "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
		return
	}
	d := s.defs
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextID++
	a := &actionDefinition{id: d.nextID, revision: 1, body: body}
	d.apps[app] = append(d.apps[app], a)
	d.writes++
	writeJSON(w, http.StatusCreated, a.render())
}

func (s *Server) patchDefinition(w http.ResponseWriter, r *http.Request) {
	app, ok := validAppID(w, r)
	if !ok {
		return
	}
	id := r.PathValue("definitionId")
	var patch map[string]any
	if !decode(w, r, &patch) {
		return
	}
	patchable := slices.DeleteFunc(slices.Clone(definitionFields), func(f string) bool { return f == "functions" })
	for k := range patch {
		if !slices.Contains(patchable, k) {
			writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Unrecognized field %q: a PATCH takes %s", k, strings.Join(patchable, ", ")))
			return
		}
	}
	d := s.defs
	d.mu.Lock()
	defer d.mu.Unlock()
	a, _ := d.find(app, id)
	if a == nil {
		notFound(w, app, id)
		return
	}
	merged := make(map[string]any, len(a.body)+len(patch))
	for k, v := range a.body {
		merged[k] = v
	}
	for k, v := range patch {
		merged[k] = v
	}
	if msg := checkDefinition(merged, definitionFields); msg != "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
		return
	}
	a.body = merged
	a.revision++
	d.writes++
	writeJSON(w, http.StatusOK, a.render())
}

func (s *Server) deleteDefinition(w http.ResponseWriter, r *http.Request) {
	app, ok := validAppID(w, r)
	if !ok {
		return
	}
	id := r.PathValue("definitionId")
	d := s.defs
	d.mu.Lock()
	defer d.mu.Unlock()
	_, i := d.find(app, id)
	if i < 0 {
		notFound(w, app, id)
		return
	}
	d.apps[app] = slices.Delete(d.apps[app], i, i+1)
	d.writes++
	w.WriteHeader(http.StatusNoContent)
}

// checkDefinition returns HubSpot's validation message for a definition it would refuse, or "".
func checkDefinition(b map[string]any, allowed []string) string {
	keys := make([]string, 0, len(b))
	for k := range b {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !slices.Contains(allowed, k) {
			return fmt.Sprintf("Unrecognized field %q", k)
		}
	}
	if u, _ := b["actionUrl"].(string); !absoluteURL(u) {
		return fmt.Sprintf("actionUrl must be an absolute http(s) URL, got %q", u)
	}
	if types, _ := b["objectTypes"].([]any); len(types) == 0 {
		return "objectTypes must name at least one object type"
	}
	labels, _ := b["labels"].(map[string]any)
	en, _ := labels["en"].(map[string]any)
	if name, _ := en["actionName"].(string); name == "" {
		return "labels.en.actionName is required"
	}
	for lang, l := range labels {
		if _, ok := l.(map[string]any); !ok {
			return fmt.Sprintf("labels.%s must be an object", lang)
		}
	}
	seen := map[string]bool{}
	inputs, ok := b["inputFields"].([]any)
	if !ok && b["inputFields"] != nil {
		return "inputFields must be an array"
	}
	for i, f := range inputs {
		field, _ := f.(map[string]any)
		td, _ := field["typeDefinition"].(map[string]any)
		name, _ := td["name"].(string)
		typ, _ := td["type"].(string)
		if name == "" || typ == "" {
			return fmt.Sprintf("inputFields[%d].typeDefinition needs a name and a type", i)
		}
		if seen[name] {
			return fmt.Sprintf("inputFields: %q appears more than once", name)
		}
		seen[name] = true
		if u, ok := td["optionsUrl"]; ok {
			if s, _ := u.(string); !absoluteURL(s) {
				return fmt.Sprintf("inputFields[%d].typeDefinition.optionsUrl must be an absolute http(s) URL, got %v", i, u)
			}
		}
		vts, _ := field["supportedValueTypes"].([]any)
		if len(vts) == 0 {
			return fmt.Sprintf("inputFields[%d].supportedValueTypes must not be empty", i)
		}
		for _, vt := range vts {
			if vt != "STATIC_VALUE" && vt != "OBJECT_PROPERTY" {
				return fmt.Sprintf("inputFields[%d].supportedValueTypes: unknown value type %v", i, vt)
			}
		}
	}
	outputs, ok := b["outputFields"].([]any)
	if !ok && b["outputFields"] != nil {
		return "outputFields must be an array"
	}
	for i, f := range outputs {
		field, _ := f.(map[string]any)
		td, _ := field["typeDefinition"].(map[string]any)
		if name, _ := td["name"].(string); name == "" {
			return fmt.Sprintf("outputFields[%d].typeDefinition needs a name", i)
		}
	}
	return ""
}

func absoluteURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// ---- test hooks ----

// SetDeveloperAPIKey makes the definitions API accept only key in ?hapikey=; by default it
// accepts any non-empty key (as `hubline dev` wants).
func (s *Server) SetDeveloperAPIKey(key string) {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	s.defs.apiKey = key
}

// SetDefinitionsPageSize sets the definitions list's default page size (tests page with it).
func (s *Server) SetDefinitionsPageSize(n int) {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	s.defs.pageSize = max(1, n)
}

// ActionDefinitions returns an app's definitions as HubSpot would list them.
func (s *Server) ActionDefinitions(appID string) []map[string]any {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	var out []map[string]any
	for _, a := range s.defs.apps[appID] {
		out = append(out, a.render()) // its own copy
	}
	return out
}

// DefinitionWrites counts accepted creates, updates and deletes of action definitions.
func (s *Server) DefinitionWrites() int {
	s.defs.mu.Lock()
	defer s.defs.mu.Unlock()
	return s.defs.writes
}
