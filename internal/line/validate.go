// Package line wraps the LINE Messaging API: message building and validation
// (this file) and a push/multicast client (client.go).
package line

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/hubline/hubline/internal/tokens"
)

// Limits documented by LINE.
const (
	MaxTextUTF16    = 5000
	MaxAltTextUTF16 = 1500
	MaxURLLength    = 2000
)

// MaxMessageBytes bounds a LINE message object's JSON after its contact tokens render:
// hubline's own bound, far above what a sensible message needs, so that tokens cannot
// inflate a request (three messages still fit LINE's 2 MB request body).
const MaxMessageBytes = 64 << 10

// maxTextRenderBytes bounds a text message while its tokens render. A text within LINE's
// limit takes at most 3 bytes per UTF-16 code unit; the rest leaves room for surrounding
// whitespace, which is trimmed before the exact check.
const maxTextRenderBytes = 4 * MaxTextUTF16

// Validation error codes.
const (
	CodeEmptyMessage   = "empty_message"
	CodeMessageTooLong = "message_too_long"
	CodeInvalidMessage = "invalid_message"
)

var (
	userIDRE          = regexp.MustCompile(`^U[0-9a-f]{32}$`)
	aggregationUnitRE = regexp.MustCompile(`^[a-zA-Z0-9_]{1,30}$`)
)

// ValidUserID reports whether s has the shape of a LINE user ID.
func ValidUserID(s string) bool { return userIDRE.MatchString(s) }

// ValidAggregationUnit reports whether s is a valid customAggregationUnits name.
func ValidAggregationUnit(s string) bool { return aggregationUnitRE.MatchString(s) }

// ValidationError explains why a message cannot be sent. Message names fields
// at most; it never quotes message content, which may hold personal data.
type ValidationError struct {
	Code    string
	Message string
}

func (e *ValidationError) Error() string { return e.Message }

func invalid(format string, a ...any) *ValidationError {
	return &ValidationError{Code: CodeInvalidMessage, Message: fmt.Sprintf(format, a...)}
}

// KnownMessageTypes are the LINE message types BuildMessage accepts.
var KnownMessageTypes = []string{"text", "sticker", "image", "video", "audio", "location", "imagemap", "template", "flex"}

// UTF16Len counts UTF-16 code units, the unit LINE uses for text limits.
func UTF16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// BuildMessage turns an action input into one LINE message object. Input that
// is a JSON object with a "type" field is taken as a LINE message object (tokens
// render inside its string values only); anything else is plain text.
// missing lists contact properties that were absent or blank.
func BuildMessage(raw string, props map[string]string) (msg json.RawMessage, missing []string, err error) {
	trimmed := strings.TrimSpace(raw)
	if strings.HasPrefix(trimmed, "{") && hasTypeField(trimmed) {
		out, missing, err := tokens.RenderJSON([]byte(trimmed), props, MaxMessageBytes)
		if errors.Is(err, tokens.ErrTooLarge) {
			return nil, nil, &ValidationError{Code: CodeMessageTooLong,
				Message: fmt.Sprintf("message object is over %d bytes after its contact tokens render", MaxMessageBytes)}
		}
		if err != nil {
			return nil, missing, invalid("message is not valid JSON")
		}
		if err := validateObject(out); err != nil {
			return nil, missing, err
		}
		return out, missing, nil
	}

	text, missing, err := tokens.Render(raw, props, maxTextRenderBytes)
	if err != nil { // only ErrTooLarge
		return nil, nil, &ValidationError{Code: CodeMessageTooLong,
			Message: fmt.Sprintf("message is over LINE's limit of %d UTF-16 characters after its contact tokens render", MaxTextUTF16)}
	}
	// Surrounding whitespace (often a trailing newline from a form field)
	// would show as blank lines in the chat bubble.
	text = strings.TrimSpace(text)
	if err := checkText(text, "message"); err != nil {
		return nil, missing, err
	}
	out, err := marshalNoHTML(map[string]string{"type": "text", "text": text})
	if err != nil {
		return nil, missing, err
	}
	return out, missing, nil
}

func hasTypeField(s string) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(s), &obj) != nil {
		return false
	}
	_, ok := obj["type"]
	return ok
}

func checkText(text, what string) error {
	if strings.TrimSpace(text) == "" {
		return &ValidationError{Code: CodeEmptyMessage, Message: what + " is empty"}
	}
	if n := UTF16Len(text); n > MaxTextUTF16 {
		return &ValidationError{Code: CodeMessageTooLong,
			Message: fmt.Sprintf("%s is %d UTF-16 characters long; LINE allows at most %d", what, n, MaxTextUTF16)}
	}
	return nil
}

// marshalNoHTML encodes v without escaping <, > and &, keeping text readable.
func marshalNoHTML(v any) (json.RawMessage, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// object is a decoded JSON object with typed field accessors that produce
// field-naming validation errors.
type object struct {
	path string // e.g. "template" for nested objects, "" at top level
	m    map[string]any
}

func (o object) name(f string) string {
	if o.path == "" {
		return f
	}
	return o.path + "." + f
}

func (o object) str(f string) (string, error) {
	v, ok := o.m[f]
	if !ok || v == nil {
		return "", invalid("%s is required", o.name(f))
	}
	s, ok := v.(string)
	if !ok {
		return "", invalid("%s must be a string", o.name(f))
	}
	if strings.TrimSpace(s) == "" {
		return "", invalid("%s must not be empty", o.name(f))
	}
	return s, nil
}

func (o object) num(f string) error {
	v, ok := o.m[f]
	if !ok || v == nil {
		return invalid("%s is required", o.name(f))
	}
	if _, ok := v.(json.Number); !ok {
		return invalid("%s must be a number", o.name(f))
	}
	return nil
}

func (o object) obj(f string) (object, error) {
	v, ok := o.m[f]
	if !ok || v == nil {
		return object{}, invalid("%s is required", o.name(f))
	}
	m, ok := v.(map[string]any)
	if !ok {
		return object{}, invalid("%s must be an object", o.name(f))
	}
	return object{path: o.name(f), m: m}, nil
}

func (o object) httpsURL(f string) error {
	s, err := o.str(f)
	if err != nil {
		return err
	}
	if len(s) > MaxURLLength {
		return invalid("%s is longer than %d characters", o.name(f), MaxURLLength)
	}
	u, perr := url.Parse(s)
	if perr != nil || u.Scheme != "https" || u.Host == "" {
		return invalid("%s must be an https URL", o.name(f))
	}
	return nil
}

func (o object) altText() error {
	s, err := o.str("altText")
	if err != nil {
		return err
	}
	if n := UTF16Len(s); n > MaxAltTextUTF16 {
		return &ValidationError{Code: CodeMessageTooLong,
			Message: fmt.Sprintf("altText is %d characters long; LINE allows at most %d", n, MaxAltTextUTF16)}
	}
	return nil
}

func validateObject(raw []byte) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return invalid("message must be a JSON object")
	}
	o := object{m: m}
	typ, ok := m["type"].(string)
	if !ok {
		return invalid("type must be a string")
	}
	switch typ {
	case "text":
		v, ok := m["text"]
		if !ok || v == nil {
			return invalid("text is required")
		}
		s, ok := v.(string)
		if !ok {
			return invalid("text must be a string")
		}
		return checkText(s, "text")
	case "sticker":
		return first(func() error { _, err := o.str("packageId"); return err },
			func() error { _, err := o.str("stickerId"); return err })
	case "image", "video":
		return first(func() error { return o.httpsURL("originalContentUrl") },
			func() error { return o.httpsURL("previewImageUrl") })
	case "audio":
		return first(func() error { return o.httpsURL("originalContentUrl") },
			func() error { return o.num("duration") })
	case "location":
		return first(func() error { _, err := o.str("title"); return err },
			func() error { _, err := o.str("address"); return err },
			func() error { return o.num("latitude") },
			func() error { return o.num("longitude") })
	case "imagemap":
		return first(func() error { return o.httpsURL("baseUrl") },
			o.altText,
			func() error {
				bs, err := o.obj("baseSize")
				if err != nil {
					return err
				}
				return first(func() error { return bs.num("width") }, func() error { return bs.num("height") })
			},
			func() error {
				a, ok := m["actions"]
				if !ok || a == nil {
					return invalid("actions is required")
				}
				arr, ok := a.([]any)
				if !ok {
					return invalid("actions must be an array")
				}
				if len(arr) == 0 {
					return invalid("actions must not be empty")
				}
				return nil
			})
	case "template":
		return first(o.altText, func() error {
			tpl, err := o.obj("template")
			if err != nil {
				return err
			}
			tt, err := tpl.str("type")
			if err != nil {
				return err
			}
			switch tt {
			case "buttons", "confirm", "carousel", "image_carousel":
				return nil
			}
			return invalid("template.type must be one of buttons, confirm, carousel, image_carousel")
		})
	case "flex":
		return first(o.altText, func() error {
			c, err := o.obj("contents")
			if err != nil {
				return err
			}
			ct, err := c.str("type")
			if err != nil {
				return err
			}
			if ct != "bubble" && ct != "carousel" {
				return invalid("contents.type must be bubble or carousel")
			}
			return nil
		})
	}
	// The type is user input; quote a bounded prefix only.
	if len(typ) > 20 {
		typ = typ[:20] + "..."
	}
	return invalid("unknown message type %q; known types: %s", typ, strings.Join(KnownMessageTypes, ", "))
}

// first runs checks in order and returns the first failure.
func first(checks ...func() error) error {
	for _, c := range checks {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}
