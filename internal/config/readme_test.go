package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// TestREADMESettingsTable keeps the settings table (docs/settings.md) in step with Settings: every
// setting has exactly the row Settings describes.
func TestREADMESettingsTable(t *testing.T) {
	b, err := os.ReadFile("../../docs/settings.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
		rows[name] = line
	}
	for _, s := range Settings {
		def := "unset"
		if s.Default != "" {
			def = "`" + s.Default + "`"
		}
		// Markdown would read <n> as an HTML tag outside code spans.
		usage := strings.ReplaceAll(s.Usage, "<", `\<`)
		want := fmt.Sprintf("| `%s` | %s | %s | %s |", s.Name, def, strings.Join(s.Commands, ", "), usage)
		if got := rows[s.Name]; got != want {
			t.Errorf("docs/settings.md row of %s:\n got: %s\nwant: %s", s.Name, got, want)
		}
	}
}
