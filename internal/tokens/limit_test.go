package tokens

import (
	"bytes"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"testing"
)

func TestRenderStopsAtTheLimit(t *testing.T) {
	props := map[string]string{"firstname": "Aiko", "long": strings.Repeat("x", 100)}
	for _, tc := range []struct {
		name, in string
		want     string // the unlimited output
	}{
		{"no tokens", "Hello there", "Hello there"},
		{"token", "Hi {{contact.firstname}}!", "Hi Aiko!"},
		{"long value", "{{contact.long}}.", strings.Repeat("x", 100) + "."},
		{"fallback", "Hi {{contact.nick|friend}}", "Hi friend"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := Render(tc.in, props, len(tc.want))
			if err != nil || got != tc.want {
				t.Fatalf("at the exact limit: %q, %v", got, err)
			}
			if got, _, err := Render(tc.in, props, len(tc.want)-1); !errors.Is(err, ErrTooLarge) || got != "" {
				t.Fatalf("one byte under: %q, %v; want ErrTooLarge", got, err)
			}
		})
	}
}

func TestRenderJSONStopsAtTheLimit(t *testing.T) {
	props := map[string]string{"firstname": "Aiko", "quote": `"q"`}
	for _, tc := range []struct{ name, in, want string }{
		{"structure only", `{"a":[1,true,null]}`, `{"a":[1,true,null]}`},
		{"token", `{"t":"Hi {{contact.firstname}}"}`, `{"t":"Hi Aiko"}`},
		{"escaping counts", `{"t":"{{contact.quote}}"}`, `{"t":"\"q\""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := RenderJSON([]byte(tc.in), props, len(tc.want))
			if err != nil || string(got) != tc.want {
				t.Fatalf("at the exact limit: %s, %v", got, err)
			}
			if _, _, err := RenderJSON([]byte(tc.in), props, len(tc.want)-1); !errors.Is(err, ErrTooLarge) {
				t.Fatalf("one byte under: %v; want ErrTooLarge", err)
			}
		})
	}
}

// allocated is the number of bytes f allocates (the heap's running total, so the GC does
// not hide anything).
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The hostile case of issue 11: a 105 KB template of 5,000 tokens and a 64 KB property
// would render to 327 MB. Rendering must stop at the limit, allocating about the limit.
func TestHostileAmplificationIsBounded(t *testing.T) {
	tmpl := strings.Repeat("{{contact.firstname}}", 5000)
	props := map[string]string{"firstname": strings.Repeat("a", 64<<10)}
	const limit = 1 << 20

	var err error
	n := allocated(func() { _, _, err = Render(tmpl, props, limit) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Render: %v, want ErrTooLarge", err)
	}
	if n > 3<<20 {
		t.Errorf("Render allocated %d bytes for a %d-byte limit", n, limit)
	}

	doc := []byte(`{"a":"` + tmpl + `","b":["` + tmpl + `"]}`)
	n = allocated(func() { _, _, err = RenderJSON(doc, props, limit) })
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("RenderJSON: %v, want ErrTooLarge", err)
	}
	if n > 4<<20 {
		t.Errorf("RenderJSON allocated %d bytes for a %d-byte limit", n, limit)
	}
}

// appendJSONString must escape exactly as encoding/json does (HTML escaping off), so
// rendered documents stay what they were before rendering was bounded.
func TestAppendJSONStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `"\`, "\x00\x01\x1f\b\f\n\r\t", "<&>", "日本", "x\u2028y\u2029z",
		"bad \xff utf8 \xe3\x81", "emoji 😀", "\x7f"} {
		want := marshalNoHTML(t, s)
		var got capped
		got.max = 1 << 20
		if err := appendJSONString(&got, []byte(s)); err != nil || !bytes.Equal(got.b, want) {
			t.Errorf("%q: got %s (%v), want %s", s, got.b, err, want)
		}
	}
}

func marshalNoHTML(t testing.TB, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
