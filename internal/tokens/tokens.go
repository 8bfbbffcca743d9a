// Package tokens renders HubSpot-style contact tokens such as
// {{contact.firstname}} and {{contact.firstname|there}} in message templates.
//
// Rendering is bounded: a short template full of tokens and a long property value
// multiply into a huge output, so every function takes the most bytes the caller will
// accept and stops, with ErrTooLarge, as soon as the output would pass it. Nothing larger
// than the limit is ever built.
package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ErrTooLarge means the rendered output would be longer than the limit the caller gave;
// rendering stopped there.
var ErrTooLarge = errors.New("tokens: rendered output over the size limit")

// tokenRE matches {{contact.<name>}} and {{contact.<name>|fallback}}, allowing
// spaces around the name and the pipe. The fallback cannot contain '}' so a
// token always ends at the first "}}".
var tokenRE = regexp.MustCompile(`\{\{\s*(?i:contact)\.([A-Za-z0-9_]+)\s*(?:\|([^}]*))?\}\}`)

// Render replaces contact tokens in s with property values. A missing or
// blank property renders its fallback (or nothing) and is reported in missing
// (lowercased, sorted, unique). Other {{...}} sequences are left untouched.
// Replacement is a single pass, so values that look like tokens stay literal.
// An output over maxBytes bytes is never built: Render returns ErrTooLarge instead.
func Render(s string, props map[string]string, maxBytes int) (out string, missing []string, err error) {
	r := renderer{props: props}
	if !strings.Contains(s, "{{") { // fast path: most strings have no tokens
		if len(s) > maxBytes {
			return "", nil, ErrTooLarge
		}
		return s, nil, nil
	}
	buf := capped{max: maxBytes}
	if err := r.render(&buf, s); err != nil {
		return "", nil, err
	}
	return string(buf.b), sortedKeys(r.miss), nil
}

// renderer holds what one Render or RenderJSON call shares across its strings.
type renderer struct {
	props map[string]string
	lower map[string]string // props by lowercased name, built on the first inexact lookup
	miss  map[string]struct{}
}

// capped is a byte buffer that refuses to grow past max.
type capped struct {
	b   []byte
	max int
}

// room makes space for n more bytes. It grows by doubling, never past max, so filling
// the buffer up to its limit allocates at most about twice the limit.
func (c *capped) room(n int) error {
	if n > c.max-len(c.b) {
		return ErrTooLarge
	}
	if need := len(c.b) + n; need > cap(c.b) {
		b := make([]byte, len(c.b), min(max(2*cap(c.b), need, 64), c.max))
		copy(b, c.b)
		c.b = b
	}
	return nil
}

func (c *capped) write(s string) error {
	if err := c.room(len(s)); err != nil {
		return err
	}
	c.b = append(c.b, s...)
	return nil
}

func (c *capped) writeByte(b byte) error {
	if err := c.room(1); err != nil {
		return err
	}
	c.b = append(c.b, b)
	return nil
}

// render writes s with its tokens replaced to dst, stopping at dst's limit. Matches are
// found one at a time, so a refused output costs no more than the limit.
func (r *renderer) render(dst *capped, s string) error {
	for len(s) > 0 {
		m := tokenRE.FindStringSubmatchIndex(s)
		if m == nil {
			break
		}
		if err := dst.write(s[:m[0]]); err != nil {
			return err
		}
		name := strings.ToLower(s[m[2]:m[3]])
		v, ok := r.lookup(name)
		switch {
		case ok:
		case m[4] >= 0:
			v = strings.TrimSpace(s[m[4]:m[5]])
			fallthrough
		default:
			if r.miss == nil {
				r.miss = make(map[string]struct{})
			}
			r.miss[name] = struct{}{}
		}
		if err := dst.write(v); err != nil {
			return err
		}
		s = s[m[1]:]
	}
	return dst.write(s)
}

// lookup finds a non-blank property, matching names case-insensitively
// because HubSpot internal names are lowercase but callers may not be.
func (r *renderer) lookup(lower string) (string, bool) {
	v, ok := r.props[lower]
	if !ok {
		if r.lower == nil {
			// Once per call, not once per token: many tokens times many properties
			// must not cost their product.
			r.lower = make(map[string]string, len(r.props))
			for k, pv := range r.props {
				lk := strings.ToLower(k)
				if old, dup := r.lower[lk]; !dup || strings.TrimSpace(old) == "" {
					r.lower[lk] = pv
				}
			}
		}
		v, ok = r.lower[lower]
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
// An output over maxBytes bytes is never built: RenderJSON returns ErrTooLarge instead.
func RenderJSON(raw []byte, props map[string]string, maxBytes int) (out []byte, missing []string, err error) {
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
	r := renderer{props: props}
	buf := capped{max: maxBytes, b: make([]byte, 0, min(len(raw)+len(raw)/8, max(maxBytes, 0)))}
	var scratch capped // one string value, rendered before it is escaped into buf

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
			if err := buf.writeByte(byte(d)); err != nil {
				return nil, nil, err
			}
			continue
		}

		isKey := false
		if len(stack) > 0 {
			top := &stack[len(stack)-1]
			var sep byte
			if top.object {
				isKey = top.n%2 == 0
				if isKey && top.n > 0 {
					sep = ','
				} else if !isKey {
					sep = ':'
				}
			} else if top.n > 0 {
				sep = ','
			}
			if sep != 0 {
				if err := buf.writeByte(sep); err != nil {
					return nil, nil, err
				}
			}
			top.n++
		}

		switch v := tok.(type) {
		case json.Delim: // '{' or '['
			err = buf.writeByte(byte(v))
			stack = append(stack, frame{object: v == '{'})
		case string:
			if !isKey && strings.Contains(v, "{{") {
				// Escaping never shortens a string, so a value that does not fit
				// raw will not fit escaped either.
				scratch = capped{b: scratch.b[:0], max: buf.max - len(buf.b)}
				if err := r.render(&scratch, v); err != nil {
					return nil, nil, err
				}
				err = appendJSONString(&buf, scratch.b)
			} else {
				err = appendJSONString(&buf, []byte(v))
			}
		case json.Number:
			err = buf.write(string(v))
		case bool:
			err = buf.write(strconv.FormatBool(v))
		case nil:
			err = buf.write("null")
		default:
			err = fmt.Errorf("tokens: unexpected JSON token %T", tok)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return buf.b, sortedKeys(r.miss), nil
}

// appendJSONString writes s as a JSON string, escaped as encoding/json does with HTML
// escaping off (quotes, backslashes, control characters, U+2028 and U+2029; invalid UTF-8
// becomes U+FFFD), so the output matches json.Marshal of the same value.
func appendJSONString(dst *capped, s []byte) error {
	const hexDigits = "0123456789abcdef"
	if err := dst.writeByte('"'); err != nil {
		return err
	}
	for len(s) > 0 {
		// The longest run that needs no escaping is copied at once.
		n := 0
		for n < len(s) {
			c := s[n]
			if c < utf8.RuneSelf {
				if c < 0x20 || c == '"' || c == '\\' {
					break
				}
				n++
				continue
			}
			r, size := utf8.DecodeRune(s[n:])
			if (r == utf8.RuneError && size == 1) || r == '\u2028' || r == '\u2029' {
				break
			}
			n += size
		}
		if err := dst.write(string(s[:n])); err != nil {
			return err
		}
		s = s[n:]
		if len(s) == 0 {
			break
		}
		var esc string
		c := s[0]
		size := 1
		switch {
		case c == '"' || c == '\\':
			esc = `\` + string(c)
		case c == '\b':
			esc = `\b`
		case c == '\f':
			esc = `\f`
		case c == '\n':
			esc = `\n`
		case c == '\r':
			esc = `\r`
		case c == '\t':
			esc = `\t`
		case c < 0x20:
			esc = `\u00` + string(hexDigits[c>>4]) + string(hexDigits[c&0xF])
		default:
			var r rune
			r, size = utf8.DecodeRune(s)
			if r == utf8.RuneError {
				esc = `\ufffd`
			} else {
				esc = `\u202` + string(hexDigits[r&0xF])
			}
		}
		if err := dst.write(esc); err != nil {
			return err
		}
		s = s[size:]
	}
	return dst.writeByte('"')
}
