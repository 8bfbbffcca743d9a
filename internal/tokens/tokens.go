// Package tokens renders HubSpot-style contact tokens such as
// {{contact.firstname}} and {{contact.firstname|there}} in message templates.
package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// tokenRE matches {{contact.<name>}} and {{contact.<name>|fallback}}, allowing
// spaces around the name and the pipe. The fallback cannot contain '}' so a
// token always ends at the first "}}".
var tokenRE = regexp.MustCompile(`\{\{\s*(?i:contact)\.([A-Za-z0-9_]+)\s*(?:\|([^}]*))?\}\}`)

// Render replaces contact tokens in s with property values. A missing or
// blank property renders its fallback (or nothing) and is reported in missing
// (lowercased, sorted, unique). Other {{...}} sequences are left untouched.
// Replacement is a single pass, so values that look like tokens stay literal.
func Render(s string, props map[string]string) (out string, missing []string) {
	var miss map[string]struct{}
	out = renderString(s, props, &miss)
	return out, sortedKeys(miss)
}

func renderString(s string, props map[string]string, miss *map[string]struct{}) string {
	if !strings.Contains(s, "{{") {
		return s // fast path: most strings have no tokens
	}
	idx := tokenRE.FindAllStringSubmatchIndex(s, -1)
	if idx == nil {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range idx {
		b.WriteString(s[last:m[0]])
		last = m[1]
		name := strings.ToLower(s[m[2]:m[3]])
		if v, ok := lookup(props, name); ok {
			b.WriteString(v)
			continue
		}
		if *miss == nil {
			*miss = make(map[string]struct{})
		}
		(*miss)[name] = struct{}{}
		if m[4] >= 0 {
			b.WriteString(strings.TrimSpace(s[m[4]:m[5]]))
		}
	}
	b.WriteString(s[last:])
	return b.String()
}

// lookup finds a non-blank property, matching names case-insensitively
// because HubSpot internal names are lowercase but callers may not be.
func lookup(props map[string]string, lower string) (string, bool) {
	v, ok := props[lower]
	if !ok {
		for k, pv := range props {
			if strings.EqualFold(k, lower) {
				v, ok = pv, true
				break
			}
		}
	}
	if !ok || strings.TrimSpace(v) == "" {
		return "", false
	}
	return v, true
}

// Properties lists the property names referenced by tokens in s
// (lowercased, sorted, unique).
func Properties(s string) []string {
	set := map[string]struct{}{}
	for _, m := range tokenRE.FindAllStringSubmatch(s, -1) {
		set[strings.ToLower(m[1])] = struct{}{}
	}
	return sortedKeys(set)
}

func sortedKeys(m map[string]struct{}) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// RenderJSON renders tokens inside the string values of a JSON document.
// Keys and structure are never touched, so a property value can never inject
// JSON; values are re-encoded with proper escaping. Numbers are kept verbatim,
// object key order is preserved and HTML characters are not escaped.
func RenderJSON(raw []byte, props map[string]string) (out []byte, missing []string, err error) {
	if !json.Valid(raw) {
		return nil, nil, errors.New("tokens: input is not valid JSON")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()

	// One frame per open container: whether it is an object, and how many
	// tokens it has seen (in objects even counts are keys, odd are values).
	type frame struct {
		object bool
		n      int
	}
	var stack []frame
	var miss map[string]struct{}
	buf := bytes.NewBuffer(make([]byte, 0, len(raw)+len(raw)/8))
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)

	writeString := func(s string) error {
		if err := enc.Encode(s); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // Encode appends a newline
		return nil
	}

	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("tokens: decoding JSON: %w", err)
		}
		if d, ok := tok.(json.Delim); ok && (d == '}' || d == ']') {
			stack = stack[:len(stack)-1]
			buf.WriteByte(byte(d))
			continue
		}

		isKey := false
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			if top.object {
				isKey = top.n%2 == 0
				if isKey && top.n > 0 {
					buf.WriteByte(',')
				} else if !isKey {
					buf.WriteByte(':')
				}
			} else if top.n > 0 {
				buf.WriteByte(',')
			}
			top.n++
		}

		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			buf.WriteByte(byte(v))
			stack = append(stack, frame{object: v == '{'})
		case string:
			if !isKey {
				v = renderString(v, props, &miss)
			}
			if err := writeString(v); err != nil {
				return nil, nil, err
			}
		case json.Number:
			buf.WriteString(string(v))
		case bool:
			if v {
				buf.WriteString("true")
			} else {
				buf.WriteString("false")
			}
		case nil:
			buf.WriteString("null")
		default:
			return nil, nil, fmt.Errorf("tokens: unexpected JSON token %T", tok)
		}
	}
	return buf.Bytes(), sortedKeys(miss), nil
}
