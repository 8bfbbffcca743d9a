// Package actiondefs loads hubline's HubSpot custom workflow action definitions (the
// hubspot/*.action.json files) and registers them with a HubSpot app: missing ones are
// created, changed ones updated, so registering twice writes nothing the second time.
//
// The files hold routes, not URLs: actionUrl and every input's optionsUrl are paths on the
// starter ("/actions/send-line-message"), joined to HUBLINE_PUBLIC_URL when registering.
package actiondefs

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// FileSuffix names a definition file.
const FileSuffix = ".action.json"

// Languages every definition labels each field in: HubSpot requires en, and the workflow
// editor of a Japanese portal shows ja.
var Languages = []string{"en", "ja"}

// actionLabels must be set, non-empty, in every language.
var actionLabels = []string{"actionName", "actionDescription", "actionCardContent", "appDisplayName"}

// Definition is one action definition file.
type Definition struct {
	// File is the file's base name.
	File string
	// Route is the actionUrl path on the starter.
	Route string
	body  map[string]any
}

// Field is an input or output field's name and type definition.
type Field struct {
	Name       string
	Type       string
	FieldType  string
	OptionsURL string   // route of the options source, or ""
	Options    []string // values of static options
	ValueTypes []string // input fields: supportedValueTypes
}

// LoadDir reads every *.action.json in dir, sorted by name. Any problem in any file is an
// error naming the file, so nothing half-valid reaches HubSpot.
func LoadDir(dir string) ([]Definition, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*"+FileSuffix))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no *%s files in %s", FileSuffix, dir)
	}
	sort.Strings(paths)
	var defs []Definition
	var errs []error
	routes := map[string]string{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		d, err := Parse(filepath.Base(p), b)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if other, dup := routes[d.Route]; dup {
			errs = append(errs, fmt.Errorf("%s: actionUrl %s is also %s's: each action needs its own route", d.File, d.Route, other))
			continue
		}
		routes[d.Route] = d.File
		defs = append(defs, d)
	}
	return defs, errors.Join(errs...)
}

// Parse checks one definition file: valid JSON, routes rather than URLs, and labels and
// descriptions in every language for every field.
func Parse(name string, data []byte) (Definition, error) {
	var body map[string]any
	if err := json.Unmarshal(data, &body); err != nil {
		return Definition{}, fmt.Errorf("%s: %w", name, err)
	}
	d := Definition{File: name, body: body}
	var problems []string
	bad := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }

	d.Route, _ = body["actionUrl"].(string)
	if !isRoute(d.Route) {
		bad("actionUrl %q must be the starter's route, such as /actions/send-line-message (register prefixes HUBLINE_PUBLIC_URL)", d.Route)
	}
	if types, _ := body["objectTypes"].([]any); len(types) == 0 {
		bad("objectTypes must name at least one object type")
	}
	inputs, err := fields(body["inputFields"], true)
	if err != nil {
		bad("inputFields: %v", err)
	}
	outputs, err := fields(body["outputFields"], false)
	if err != nil {
		bad("outputFields: %v", err)
	}
	for _, f := range inputs {
		if f.OptionsURL != "" && !isRoute(f.OptionsURL) {
			bad("input %s: optionsUrl %q must be the starter's route, such as /actions/options/line-account", f.Name, f.OptionsURL)
		}
	}
	labels, _ := body["labels"].(map[string]any)
	for _, lang := range Languages {
		l, _ := labels[lang].(map[string]any)
		if l == nil {
			bad("labels.%s is missing", lang)
			continue
		}
		for _, k := range actionLabels {
			if s, _ := l[k].(string); strings.TrimSpace(s) == "" {
				bad("labels.%s.%s is missing", lang, k)
			}
		}
		checkNamed(bad, l, lang, "inputFieldLabels", inputs)
		checkNamed(bad, l, lang, "inputFieldDescriptions", inputs)
		checkNamed(bad, l, lang, "outputFieldLabels", outputs)
		// Static options (not optionsUrl ones) are shown by their translated labels.
		optLabels, _ := l["inputFieldOptionLabels"].(map[string]any)
		for _, f := range inputs {
			per, _ := optLabels[f.Name].(map[string]any)
			for _, v := range f.Options {
				if s, _ := per[v].(string); strings.TrimSpace(s) == "" {
					bad("labels.%s.inputFieldOptionLabels.%s has no label for option %q", lang, f.Name, v)
				}
			}
		}
	}
	if len(problems) > 0 {
		return Definition{}, fmt.Errorf("%s: %s", name, strings.Join(problems, "; "))
	}
	return d, nil
}

// checkNamed requires labels.<lang>.<key> to have a text for every field and nothing else
// (a label for a field that does not exist is a typo).
func checkNamed(bad func(string, ...any), l map[string]any, lang, key string, fs []Field) {
	m, _ := l[key].(map[string]any)
	known := map[string]bool{}
	for _, f := range fs {
		known[f.Name] = true
		if s, _ := m[f.Name].(string); strings.TrimSpace(s) == "" {
			bad("labels.%s.%s has no text for %s", lang, key, f.Name)
		}
	}
	var extra []string
	for k := range m {
		if !known[k] {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		bad("labels.%s.%s names %s, which is not a field", lang, key, k)
	}
}

func fields(v any, input bool) ([]Field, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("must be an array")
	}
	var out []Field
	seen := map[string]bool{}
	for i, item := range list {
		m, _ := item.(map[string]any)
		td, _ := m["typeDefinition"].(map[string]any)
		f := Field{}
		f.Name, _ = td["name"].(string)
		f.Type, _ = td["type"].(string)
		f.FieldType, _ = td["fieldType"].(string)
		f.OptionsURL, _ = td["optionsUrl"].(string)
		if f.Name == "" || f.Type == "" {
			return nil, fmt.Errorf("[%d] needs typeDefinition.name and typeDefinition.type", i)
		}
		if seen[f.Name] {
			return nil, fmt.Errorf("%s appears twice", f.Name)
		}
		seen[f.Name] = true
		opts, _ := td["options"].([]any)
		for _, o := range opts {
			om, _ := o.(map[string]any)
			if s, _ := om["value"].(string); s != "" {
				f.Options = append(f.Options, s)
			}
		}
		vts, _ := m["supportedValueTypes"].([]any)
		for _, vt := range vts {
			if s, _ := vt.(string); s != "" {
				f.ValueTypes = append(f.ValueTypes, s)
			}
		}
		if input && len(f.ValueTypes) == 0 {
			return nil, fmt.Errorf("%s: supportedValueTypes must not be empty", f.Name)
		}
		out = append(out, f)
	}
	return out, nil
}

// isRoute reports whether s is an absolute path on this host (not a URL).
func isRoute(s string) bool {
	return strings.HasPrefix(s, "/") && !strings.HasPrefix(s, "//") && !strings.ContainsAny(s, "?# ")
}

// InputFields lists the definition's input fields in order.
func (d Definition) InputFields() []Field {
	fs, _ := fields(d.body["inputFields"], true)
	return fs
}

// OutputFields lists the definition's output fields in order.
func (d Definition) OutputFields() []Field {
	fs, _ := fields(d.body["outputFields"], false)
	return fs
}

// Labels returns labels.<lang> (nil if absent).
func (d Definition) Labels(lang string) map[string]any {
	labels, _ := d.body["labels"].(map[string]any)
	l, _ := labels[lang].(map[string]any)
	return l
}

// ObjectProperties lists objectRequestOptions.properties: the contact properties HubSpot
// sends with each execution.
func (d Definition) ObjectProperties() []string {
	o, _ := d.body["objectRequestOptions"].(map[string]any)
	ps, _ := o["properties"].([]any)
	var out []string
	for _, p := range ps {
		if s, ok := p.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Body is the definition as sent to HubSpot: a copy whose actionUrl and optionsUrls are
// publicURL joined with their routes.
func (d Definition) Body(publicURL string) map[string]any {
	b, _ := json.Marshal(d.body)
	var out map[string]any
	_ = json.Unmarshal(b, &out) // a copy: the caller may change it
	base := strings.TrimRight(publicURL, "/")
	out["actionUrl"] = base + d.Route
	inputs, _ := out["inputFields"].([]any)
	for _, item := range inputs {
		m, _ := item.(map[string]any)
		td, _ := m["typeDefinition"].(map[string]any)
		if r, ok := td["optionsUrl"].(string); ok {
			td["optionsUrl"] = base + r
		}
	}
	return out
}
