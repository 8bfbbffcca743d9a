package hubspotsandbox

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"sync"
	"time"
)

// Contact property definitions: GET /crm/v3/properties/contacts/{name}, POST
// /crm/v3/properties/contacts, and the groups: GET /crm/v3/properties/contacts/groups/{name},
// POST /crm/v3/properties/contacts/groups. Like HubSpot: a name that exists answers 409 and
// changes nothing, a property can be made unique only when it is created, and a contact
// may have at most maxUniqueProperties unique custom properties.

// maxUniqueProperties is HubSpot's limit of unique custom properties per object.
const maxUniqueProperties = 10

var propertyNameRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,99}$`)

// fieldTypes lists the fieldType values HubSpot accepts with each type.
var fieldTypes = map[string][]string{
	"string":      {"text", "textarea", "phonenumber", "html", "file"},
	"number":      {"number", "calculation_equation"},
	"date":        {"date"},
	"datetime":    {"date"},
	"enumeration": {"booleancheckbox", "checkbox", "radio", "select", "calculation_equation"},
	"bool":        {"booleancheckbox", "calculation_equation"},
}

// Property is a contact property definition as the sandbox keeps it.
type Property struct {
	Name           string           `json:"name"`
	Label          string           `json:"label"`
	Description    string           `json:"description"`
	GroupName      string           `json:"groupName"`
	Type           string           `json:"type"`
	FieldType      string           `json:"fieldType"`
	Options        []PropertyOption `json:"options"`
	HasUniqueValue bool             `json:"hasUniqueValue"`
	DisplayOrder   int              `json:"displayOrder"`
	FormField      bool             `json:"formField"`
	Hidden         bool             `json:"hidden"`
	HubSpotDefined bool             `json:"hubspotDefined"`
}

// PropertyOption is one value of an enumeration property.
type PropertyOption struct {
	Label        string `json:"label"`
	Value        string `json:"value"`
	DisplayOrder int    `json:"displayOrder"`
	Hidden       bool   `json:"hidden"`
}

type storedProperty struct {
	Property
	created, updated time.Time
}

type propertyGroup struct {
	Name         string `json:"name"`
	Label        string `json:"label"`
	DisplayOrder int    `json:"displayOrder"`
	Archived     bool   `json:"archived"`
}

// properties holds the contact property definitions; it has its own lock because the
// contact endpoints consult it while holding theirs.
type properties struct {
	mu     sync.Mutex
	props  map[string]storedProperty
	groups map[string]propertyGroup
	writes int
}

// newProperties starts with a few of HubSpot's own contact properties and their group, so
// reading a default property answers as HubSpot does.
func newProperties() *properties {
	ps := &properties{props: map[string]storedProperty{}, groups: map[string]propertyGroup{
		"contactinformation": {Name: "contactinformation", Label: "Contact information", DisplayOrder: -1},
	}}
	now := time.Now()
	for _, p := range []Property{
		{Name: "firstname", Label: "First Name", Type: "string", FieldType: "text"},
		{Name: "lastname", Label: "Last Name", Type: "string", FieldType: "text"},
		{Name: "email", Label: "Email", Type: "string", FieldType: "text"},
		{Name: "hs_object_id", Label: "Record ID", Type: "number", FieldType: "number", HasUniqueValue: true},
	} {
		p.GroupName, p.HubSpotDefined, p.FormField, p.DisplayOrder = "contactinformation", true, true, -1
		ps.props[p.Name] = storedProperty{Property: p, created: now, updated: now}
	}
	return ps
}

func (s *Server) registerProperties() {
	s.mux.HandleFunc("GET /crm/v3/properties/contacts/{name}", s.getProperty)
	s.mux.HandleFunc("POST /crm/v3/properties/contacts", s.createProperty)
	s.mux.HandleFunc("GET /crm/v3/properties/contacts/groups/{name}", s.getPropertyGroup)
	s.mux.HandleFunc("POST /crm/v3/properties/contacts/groups", s.createPropertyGroup)
}

func propertyJSON(p storedProperty) map[string]any {
	opts := p.Options
	if opts == nil {
		opts = []PropertyOption{}
	}
	return map[string]any{
		"name": p.Name, "label": p.Label, "description": p.Description, "groupName": p.GroupName,
		"type": p.Type, "fieldType": p.FieldType, "options": opts, "hasUniqueValue": p.HasUniqueValue,
		"displayOrder": p.DisplayOrder, "formField": p.FormField, "hidden": p.Hidden,
		"hubspotDefined": p.HubSpotDefined, "calculated": false, "externalOptions": false, "archived": false,
		"createdAt": p.created.UTC().Format(time.RFC3339Nano), "updatedAt": p.updated.UTC().Format(time.RFC3339Nano),
		"modificationMetadata": map[string]any{
			"archivable": !p.HubSpotDefined, "readOnlyDefinition": p.HubSpotDefined, "readOnlyValue": false,
		},
	}
}

func (s *Server) getProperty(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.props.mu.Lock()
	p, ok := s.props.props[name]
	s.props.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("Unable to find property with name: %s", name))
		return
	}
	writeJSON(w, http.StatusOK, propertyJSON(p))
}

// validate returns HubSpot's message for a definition it would refuse, or "".
func (p *Property) validate() string {
	switch {
	case !propertyNameRE.MatchString(p.Name):
		return fmt.Sprintf("Property name %q is invalid: use lowercase letters, digits and underscores, starting with a letter", p.Name)
	case p.Label == "":
		return "label is required"
	case p.GroupName == "":
		return "groupName is required"
	case fieldTypes[p.Type] == nil:
		return fmt.Sprintf("%q is not a valid property type", p.Type)
	case !slices.Contains(fieldTypes[p.Type], p.FieldType):
		return fmt.Sprintf("fieldType %q is not valid for a property of type %s", p.FieldType, p.Type)
	case p.Type == "enumeration" && len(p.Options) == 0:
		return "enumeration properties need at least one option"
	case p.HasUniqueValue && !(p.Type == "string" && p.FieldType == "text") && p.Type != "number":
		return "only single-line text and number properties can require unique values"
	}
	seen := map[string]bool{}
	for _, o := range p.Options {
		if o.Value == "" || o.Label == "" || seen[o.Value] {
			return fmt.Sprintf("option %q: every option needs a label and a distinct value", o.Value)
		}
		seen[o.Value] = true
	}
	return ""
}

func (s *Server) createProperty(w http.ResponseWriter, r *http.Request) {
	var in Property
	if !decode(w, r, &in) {
		return
	}
	in.HubSpotDefined = false // not settable through the API
	if msg := in.validate(); msg != "" {
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", msg)
		return
	}
	ps := s.props
	ps.mu.Lock()
	if _, ok := ps.props[in.Name]; ok {
		ps.mu.Unlock()
		writeError(w, http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("Property named '%s' already exists.", in.Name))
		return
	}
	if _, ok := ps.groups[in.GroupName]; !ok {
		ps.mu.Unlock()
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Unable to find property group %s", in.GroupName))
		return
	}
	if in.HasUniqueValue && ps.uniqueCustom() >= maxUniqueProperties {
		ps.mu.Unlock()
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR",
			fmt.Sprintf("Cannot create property %s with unique values: contacts already have the maximum of %d unique properties.", in.Name, maxUniqueProperties))
		return
	}
	now := time.Now()
	p := storedProperty{Property: in, created: now, updated: now}
	ps.props[in.Name] = p
	ps.writes++
	ps.mu.Unlock()
	writeJSON(w, http.StatusCreated, propertyJSON(p))
}

// uniqueCustom counts the unique properties a portal created; ps.mu must be held.
func (ps *properties) uniqueCustom() int {
	n := 0
	for _, p := range ps.props {
		if p.HasUniqueValue && !p.HubSpotDefined {
			n++
		}
	}
	return n
}

func (s *Server) getPropertyGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	s.props.mu.Lock()
	g, ok := s.props.groups[name]
	s.props.mu.Unlock()
	if !ok {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", fmt.Sprintf("Unable to find property group %s", name))
		return
	}
	writeJSON(w, http.StatusOK, g)
}

func (s *Server) createPropertyGroup(w http.ResponseWriter, r *http.Request) {
	var in propertyGroup
	if !decode(w, r, &in) {
		return
	}
	switch {
	case !propertyNameRE.MatchString(in.Name):
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", fmt.Sprintf("Property group name %q is invalid", in.Name))
		return
	case in.Label == "":
		writeError(w, http.StatusBadRequest, "VALIDATION_ERROR", "label is required")
		return
	}
	in.Archived = false
	ps := s.props
	ps.mu.Lock()
	if _, ok := ps.groups[in.Name]; ok {
		ps.mu.Unlock()
		writeError(w, http.StatusConflict, "OBJECT_ALREADY_EXISTS", fmt.Sprintf("A property group named '%s' already exists.", in.Name))
		return
	}
	ps.groups[in.Name] = in
	ps.writes++
	ps.mu.Unlock()
	writeJSON(w, http.StatusCreated, in)
}

// ---- test hooks ----

// SetContactProperty creates or replaces a contact property definition (and its group),
// bypassing HubSpot's rules: for tests that start from a portal set up by hand.
func (s *Server) SetContactProperty(p Property) {
	ps := s.props
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if _, ok := ps.groups[p.GroupName]; !ok && p.GroupName != "" {
		ps.groups[p.GroupName] = propertyGroup{Name: p.GroupName, Label: p.GroupName}
	}
	now := time.Now()
	ps.props[p.Name] = storedProperty{Property: p, created: now, updated: now}
}

// ContactProperties lists the contact property definitions by name, HubSpot's own
// included.
func (s *Server) ContactProperties() []Property {
	ps := s.props
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]Property, 0, len(ps.props))
	for _, p := range ps.props {
		c := p.Property
		c.Options = slices.Clone(p.Options)
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ContactPropertyGroups lists the names of the contact property groups, sorted.
func (s *Server) ContactPropertyGroups() []string {
	ps := s.props
	ps.mu.Lock()
	defer ps.mu.Unlock()
	out := make([]string, 0, len(ps.groups))
	for name := range ps.groups {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// UniqueContactProperty reports whether the contact property exists and requires unique
// values, for the contact endpoints, which refuse a second contact with the same value.
func (s *Server) UniqueContactProperty(name string) bool {
	ps := s.props
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.props[name].HasUniqueValue
}

// PropertyWrites counts the property and group definitions created through the API.
func (s *Server) PropertyWrites() int {
	ps := s.props
	ps.mu.Lock()
	defer ps.mu.Unlock()
	return ps.writes
}
