package actiondefs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// minimal is a valid definition; the cases below break one thing each.
const minimal = `{
  "actionUrl": "/actions/a",
  "objectTypes": ["CONTACT"],
  "inputFields": [
    {"typeDefinition": {"name": "acct", "type": "enumeration", "fieldType": "select", "optionsUrl": "/actions/options/x"}, "supportedValueTypes": ["STATIC_VALUE"]},
    {"typeDefinition": {"name": "mode", "type": "enumeration", "fieldType": "select", "options": [{"value": "on", "label": "On"}]}, "supportedValueTypes": ["STATIC_VALUE"]}
  ],
  "outputFields": [{"typeDefinition": {"name": "out", "type": "string", "fieldType": "text"}, "supportedValueTypes": ["STATIC_VALUE"]}],
  "labels": {
    "en": {"actionName": "A", "actionDescription": "Does A", "actionCardContent": "A", "appDisplayName": "hubline",
      "inputFieldLabels": {"acct": "Account", "mode": "Mode"}, "inputFieldDescriptions": {"acct": "Which", "mode": "How"},
      "outputFieldLabels": {"out": "Out"}, "inputFieldOptionLabels": {"mode": {"on": "On"}}},
    "ja": {"actionName": "エー", "actionDescription": "Aをする", "actionCardContent": "エー", "appDisplayName": "hubline",
      "inputFieldLabels": {"acct": "アカウント", "mode": "モード"}, "inputFieldDescriptions": {"acct": "どれ", "mode": "どう"},
      "outputFieldLabels": {"out": "出力"}, "inputFieldOptionLabels": {"mode": {"on": "オン"}}}
  }
}`

func TestParse(t *testing.T) {
	d, err := Parse("a.action.json", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	body := d.Body("https://h.example.com/")
	if body["actionUrl"] != "https://h.example.com/actions/a" {
		t.Errorf("actionUrl = %v", body["actionUrl"])
	}
	td := body["inputFields"].([]any)[0].(map[string]any)["typeDefinition"].(map[string]any)
	if td["optionsUrl"] != "https://h.example.com/actions/options/x" {
		t.Errorf("optionsUrl = %v", td["optionsUrl"])
	}
	// Body is a copy: the definition itself keeps its routes.
	if again := d.Body("https://other.example.com"); again["actionUrl"] != "https://other.example.com/actions/a" {
		t.Errorf("second Body: actionUrl = %v", again["actionUrl"])
	}
}

func TestParseRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, want string
	}{
		{"not JSON", `"objectTypes"`, `objectTypes`, "invalid character"},
		{"trailing data", "\n}", "\n}{}", "invalid character"},
		{"absolute actionUrl", `"/actions/a"`, `"https://h.example.com/actions/a"`, "actionUrl"},
		{"absolute optionsUrl", `"/actions/options/x"`, `"https://h.example.com/x"`, "optionsUrl"},
		{"no objectTypes", `"objectTypes": ["CONTACT"],`, ``, "objectTypes"},
		{"no ja", `"ja": {"actionName"`, `"fr": {"actionName"`, "labels.ja is missing"},
		{"ja label missing", `"inputFieldLabels": {"acct": "アカウント", "mode": "モード"}`, `"inputFieldLabels": {"acct": "アカウント"}`, "labels.ja.inputFieldLabels has no text for mode"},
		{"ja description empty", `"acct": "どれ"`, `"acct": " "`, "labels.ja.inputFieldDescriptions has no text for acct"},
		{"ja output label missing", `"outputFieldLabels": {"out": "出力"}`, `"outputFieldLabels": {}`, "labels.ja.outputFieldLabels has no text for out"},
		{"ja option label missing", `{"mode": {"on": "オン"}}`, `{"mode": {}}`, `labels.ja.inputFieldOptionLabels.mode has no label for option "on"`},
		{"ja card missing", `"actionCardContent": "エー",`, ``, "labels.ja.actionCardContent"},
		{"label for no field", `"outputFieldLabels": {"out": "Out"}`, `"outputFieldLabels": {"out": "Out", "outt": "Typo"}`, "names outt, which is not a field"},
		{"duplicate field", `"name": "mode"`, `"name": "acct"`, "acct appears twice"},
		{"no value types", `"supportedValueTypes": ["STATIC_VALUE"]},
    {"typeDefinition": {"name": "mode"`, `"supportedValueTypes": []},
    {"typeDefinition": {"name": "mode"`, "supportedValueTypes must not be empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(minimal, tc.from, tc.to, 1)
			if src == minimal {
				t.Fatalf("case does not change the file: %q not found", tc.from)
			}
			_, err := Parse("a.action.json", []byte(src))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "a.action.json: ") {
				t.Fatalf("err = %v, want one naming the file and containing %q", err, tc.want)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "no *.action.json files") {
		t.Fatalf("empty dir: %v", err)
	}
	write("b.action.json", minimal)
	write("notes.json", "not a definition") // other files are not definitions
	write("a.action.json", strings.Replace(minimal, "/actions/a", "/actions/z", 1))
	defs, err := LoadDir(dir)
	if err != nil || len(defs) != 2 || defs[0].File != "a.action.json" || defs[0].Route != "/actions/z" {
		t.Fatalf("LoadDir = %+v, %v", defs, err)
	}
	write("c.action.json", minimal) // same route as b
	if _, err := LoadDir(dir); err == nil || !strings.Contains(err.Error(), "c.action.json: actionUrl /actions/a is also b.action.json's") {
		t.Fatalf("duplicate route: %v", err)
	}
}
