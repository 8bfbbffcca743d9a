package line

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/hubline/hubline/internal/tokens"
)

// FuzzBuildMessage: BuildMessage never panics; it refuses only with a ValidationError of a
// known code; what it accepts is one LINE message object of a known type, within
// MaxMessageBytes, that passes validation again as it stands (a text within LINE's 5,000
// UTF-16 units, not blank), and plain text comes out as the trimmed rendering of the input.
func FuzzBuildMessage(f *testing.F) {
	f.Add("Hello {{contact.firstname}}", "Aiko")
	f.Fuzz(func(t *testing.T, raw, value string) {
		props := map[string]string{"firstname": value}
		msg, _, err := BuildMessage(raw, props)
		if err != nil {
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %v is not a *ValidationError", err)
			}
			if !slices.Contains([]string{CodeEmptyMessage, CodeMessageTooLong, CodeInvalidMessage}, ve.Code) || ve.Message == "" {
				t.Fatalf("refusal %q: %q", ve.Code, ve.Message)
			}
			return
		}
		if len(msg) > MaxMessageBytes || !json.Valid(msg) {
			t.Fatalf("accepted %d bytes, valid JSON %v", len(msg), json.Valid(msg))
		}
		if err := validateObject(msg); err != nil {
			t.Fatalf("accepted a message that does not validate: %v", err)
		}
		var m map[string]any
		dec := json.NewDecoder(bytes.NewReader(msg))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		typ, _ := m["type"].(string)
		if !slices.Contains(KnownMessageTypes, typ) {
			t.Fatalf("accepted type %q", typ)
		}
		if typ == "text" {
			text, _ := m["text"].(string)
			if strings.TrimSpace(text) == "" || UTF16Len(text) > MaxTextUTF16 {
				t.Fatalf("accepted a text of %d UTF-16 units", UTF16Len(text))
			}
		}
		if trimmed := strings.TrimSpace(raw); !strings.HasPrefix(trimmed, "{") || !hasTypeField(trimmed) {
			want, _, err := tokens.Render(raw, props, 1<<20)
			// JSON carries invalid UTF-8 as U+FFFD: compare what the message carries.
			carried, _ := json.Marshal(strings.TrimSpace(want))
			_ = json.Unmarshal(carried, &want)
			if err != nil || typ != "text" || m["text"] != want {
				t.Fatalf("plain text %q became %s", raw, msg)
			}
		}
	})
}
