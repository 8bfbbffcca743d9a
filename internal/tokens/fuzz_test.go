package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// oracle renders s the plain way (unbounded, one regexp replace): the reference Render
// must agree with whenever its output fits.
func oracle(s string, props map[string]string) string {
	return tokenRE.ReplaceAllStringFunc(s, func(m string) string {
		sm := tokenRE.FindStringSubmatch(m)
		name := strings.ToLower(sm[1])
		v, ok := props[name]
		if !ok {
			for k, pv := range props {
				if strings.EqualFold(k, name) {
					v, ok = pv, true
				}
			}
		}
		if ok && strings.TrimSpace(v) != "" {
			return v
		}
		if strings.Contains(m, "|") { // only a fallback can hold one
			return strings.TrimSpace(sm[2])
		}
		return ""
	})
}

// FuzzRender: rendering never panics and never returns more than its limit; the limit
// decides exactly (at the output's length it fits, one byte less it does not); outputs
// that fit equal the plain rendering; RenderJSON keeps a valid document's structure and
// renders only its string values, escaped as encoding/json would.
func FuzzRender(f *testing.F) {
	f.Add("Hello {{contact.firstname}}!", "Aiko", uint32(100))
	f.Fuzz(func(t *testing.T, tmpl, value string, limitSeed uint32) {
		props := map[string]string{"firstname": value, "Company": "ACME", "blank": " "}
		limit := int(limitSeed % (2 << 20))
		// Small enough to render without a bound: the oracle may check it.
		small := len(tmpl)+strings.Count(tmpl, "{{")*(len(value)+len("ACME")) <= 1<<20

		out, _, err := Render(tmpl, props, limit)
		switch {
		case errors.Is(err, ErrTooLarge):
			if out != "" {
				t.Fatal("output returned with ErrTooLarge")
			}
			if small && len(oracle(tmpl, props)) <= limit {
				t.Fatalf("refused an output that fits: %d <= %d", len(oracle(tmpl, props)), limit)
			}
		case err != nil:
			t.Fatalf("Render: %v", err)
		default:
			if len(out) > limit {
				t.Fatalf("output %d bytes over the limit %d", len(out), limit)
			}
			if small && out != oracle(tmpl, props) {
				t.Fatalf("Render = %q, plain rendering %q", out, oracle(tmpl, props))
			}
			if _, _, err := Render(tmpl, props, len(out)); err != nil {
				t.Fatalf("refused at its own length: %v", err)
			}
			if _, _, err := Render(tmpl, props, len(out)-1); len(out) > 0 && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("accepted one byte under its length: %v", err)
			}
		}

		var esc capped
		esc.max = 8*len(value) + 2
		if err := appendJSONString(&esc, []byte(value)); err != nil || !bytes.Equal(esc.b, marshalNoHTML(t, value)) {
			t.Fatalf("escaping %q: %s (%v), encoding/json: %s", value, esc.b, err, marshalNoHTML(t, value))
		}

		if !json.Valid([]byte(tmpl)) {
			if _, _, err := RenderJSON([]byte(tmpl), props, limit); err == nil {
				t.Fatal("RenderJSON accepted invalid JSON")
			}
			return
		}
		doc, _, err := RenderJSON([]byte(tmpl), props, limit)
		if errors.Is(err, ErrTooLarge) {
			return
		}
		if err != nil {
			t.Fatalf("RenderJSON of valid JSON: %v", err)
		}
		if len(doc) > limit || !json.Valid(doc) {
			t.Fatalf("RenderJSON: %d bytes (limit %d), valid %v", len(doc), limit, json.Valid(doc))
		}
		if small {
			want := renderValues(t, decodeAny(t, []byte(tmpl)), props)
			if got := decodeAny(t, doc); !reflect.DeepEqual(got, want) {
				t.Fatalf("RenderJSON changed more than string values:\n got %#v\nwant %#v", got, want)
			}
		}
		if _, _, err := RenderJSON([]byte(tmpl), props, len(doc)-1); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("accepted one byte under its length: %v", err)
		}
	})
}

func decodeAny(t *testing.T, b []byte) any {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

// renderValues renders the string values (not the keys) of a decoded document.
func renderValues(t *testing.T, v any, props map[string]string) any {
	switch v := v.(type) {
	case string:
		// JSON carries invalid UTF-8 as U+FFFD: compare what the document carries.
		var carried string
		b, _ := json.Marshal(oracle(v, props))
		if err := json.Unmarshal(b, &carried); err != nil {
			t.Fatal(err)
		}
		return carried
	case []any:
		for i := range v {
			v[i] = renderValues(t, v[i], props)
		}
	case map[string]any:
		for k := range v {
			v[k] = renderValues(t, v[k], props)
		}
	}
	return v
}
