package actiondefs_test

import (
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/hubline/hubline/internal/actiondefs"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// optionsRoute is the starter's route listing a portal's LINE accounts for the line_account
// select (HubSpot's optionsUrl); the contract named in issue 9.
const optionsRoute = "/actions/options/line-account"

func loadRepo(t *testing.T) []actiondefs.Definition {
	t.Helper()
	defs, err := actiondefs.LoadDir("../../hubspot")
	if err != nil {
		t.Fatal(err)
	}
	return defs
}

// TestRepositoryDefinitionsMatchTheStarter: every definition file loads (valid JSON, en and
// ja labels for every field) and its actionUrl and optionsUrls are routes the starter serves.
func TestRepositoryDefinitionsMatchTheStarter(t *testing.T) {
	defs := loadRepo(t)
	engine, ok := starter.New(starter.Options{}).Handler().(*gin.Engine)
	if !ok {
		t.Fatal("the starter's handler is no longer a gin engine: update this test")
	}
	routes := map[string]bool{}
	for _, r := range engine.Routes() {
		if r.Method == http.MethodPost {
			routes[r.Path] = true
		}
	}
	for _, d := range defs {
		if !routes[d.Route] {
			t.Errorf("%s: actionUrl %s is not a POST route of the starter", d.File, d.Route)
		}
		for _, f := range d.InputFields() {
			if f.OptionsURL == "" {
				continue
			}
			if !routes[f.OptionsURL] {
				t.Errorf("%s: %s optionsUrl %s is not a POST route of the starter", d.File, f.Name, f.OptionsURL)
			}
		}
	}
}

// TestRepositoryDefinitionsKeepTheFieldContract: the input and output field names each
// action reads and returns today (HubSpot workflows built on them break if one changes).
func TestRepositoryDefinitionsKeepTheFieldContract(t *testing.T) {
	messages := starter.MessageInputs
	line := append([]string{starter.InputLineUserID, starter.InputLineAccount}, messages...)
	line = append(line, starter.InputAnalyticsTag)
	lineOut := []string{workflows.FieldLineRequestID, workflows.FieldErrorCode, workflows.FieldErrorMessage}
	v2 := append([]string{starter.InputLineAccount}, messages...)
	v2 = append(v2, starter.InputAnalyticsTag)
	want := map[string]struct {
		inputs, outputs, properties []string
	}{
		"/actions/send-line-message":       {line, lineOut, []string{"firstname", "lastname", "email", "line_user_id"}},
		"/actions/send-line-message-v2":    {v2, lineOut, []string{"firstname", "lastname", "email", starter.DefaultLineUserIDProperty(1)}},
		"/actions/send-line-message-queue": {append(slices.Clone(line), starter.InputWaitForDelivery), lineOut, []string{"firstname", "lastname", "email", "line_user_id"}},
		"/actions/set-line-rich-menu": {
			[]string{starter.InputLineUserID, starter.InputLineAccount, starter.InputRichMenuID}, lineOut, []string{"line_user_id"},
		},
		"/actions/send-data": {
			[]string{starter.InputWebhookURL, starter.InputData, starter.InputRequestSignature},
			[]string{workflows.FieldHTTPStatus, workflows.FieldErrorCode, workflows.FieldErrorMessage},
			[]string{"firstname", "lastname", "email"},
		},
	}
	got := map[string]bool{}
	for _, d := range loadRepo(t) {
		got[d.Route] = true
		w, ok := want[d.Route]
		if !ok {
			continue // a later action: the loader and the starter test above cover it
		}
		if names := fieldNames(d.InputFields()); !slices.Equal(sorted(names), sorted(w.inputs)) {
			t.Errorf("%s inputs = %v, want %v", d.File, names, w.inputs)
		}
		if names := fieldNames(d.OutputFields()); !slices.Equal(sorted(names), sorted(w.outputs)) {
			t.Errorf("%s outputs = %v, want %v", d.File, names, w.outputs)
		}
		for _, p := range w.properties {
			if !slices.Contains(d.ObjectProperties(), p) {
				t.Errorf("%s: objectRequestOptions.properties lacks %s", d.File, p)
			}
		}
		for _, f := range d.InputFields() {
			switch f.Name {
			case starter.InputLineUserID:
				if !slices.Contains(f.ValueTypes, "OBJECT_PROPERTY") {
					t.Errorf("%s: line_user_id cannot be bound to a contact property (supportedValueTypes %v)", d.File, f.ValueTypes)
				}
			case starter.InputLineAccount:
				if f.Type != "enumeration" || f.FieldType != "select" || f.OptionsURL != optionsRoute || len(f.Options) != 0 {
					t.Errorf("%s: line_account = %+v, want a select whose options come from %s", d.File, f, optionsRoute)
				}
			}
		}
	}
	for route := range want {
		if !got[route] {
			t.Errorf("no definition file for %s", route)
		}
	}
}

// TestJapaneseLabelsAreJapanese: a ja label copied from en would pass the presence check.
func TestJapaneseLabelsAreJapanese(t *testing.T) {
	for _, d := range loadRepo(t) {
		ja := d.Labels("ja")
		for _, k := range []string{"actionName", "actionDescription", "actionCardContent"} {
			if s, _ := ja[k].(string); !hasJapanese(s) {
				t.Errorf("%s: labels.ja.%s = %q has no Japanese", d.File, k, s)
			}
		}
		for _, group := range []string{"inputFieldLabels", "inputFieldDescriptions", "outputFieldLabels"} {
			m, _ := ja[group].(map[string]any)
			for name, v := range m {
				s, _ := v.(string)
				if !hasJapanese(s) && s != "Webhook URL" { // a term Japanese UIs keep in English
					t.Errorf("%s: labels.ja.%s.%s = %q has no Japanese", d.File, group, name, s)
				}
			}
		}
	}
}

func hasJapanese(s string) bool {
	return strings.IndexFunc(s, func(r rune) bool {
		return (r >= 0x3040 && r <= 0x30ff) || (r >= 0x4e00 && r <= 0x9fff)
	}) >= 0
}

func fieldNames(fs []actiondefs.Field) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Name)
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}
