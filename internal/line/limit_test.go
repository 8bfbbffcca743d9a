package line

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// Issue 11's hostile case: 5,000 tokens (105 KB) and a 64 KB property would render to
// 327 MB. The message is refused as too long while rendering, at a bounded cost.
func TestBuildMessageRefusesAmplificationCheaply(t *testing.T) {
	tokens := strings.Repeat("{{contact.firstname}}", 5000)
	props := map[string]string{"firstname": strings.Repeat("a", 64<<10)}
	for _, tc := range []struct {
		name, raw string
		limit     uint64
	}{
		{"text", tokens, 1 << 20},
		{"text object", `{"type":"text","text":"` + tokens + `"}`, 1 << 20},
		{"flex altText", `{"type":"flex","altText":"` + tokens + `","contents":{"type":"bubble"}}`, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			n := allocated(func() { _, _, err = BuildMessage(tc.raw, props) })
			var ve *ValidationError
			if !errors.As(err, &ve) || ve.Code != CodeMessageTooLong {
				t.Fatalf("got %v, want %s", err, CodeMessageTooLong)
			}
			if n > tc.limit {
				t.Errorf("allocated %d bytes (limit %d)", n, tc.limit)
			}
		})
	}
}

func TestBuildMessageSizeBoundaries(t *testing.T) {
	pad := func(n int) string { return strings.Repeat("a", n) }
	for _, tc := range []struct {
		name  string
		raw   string
		props map[string]string
		code  string // "" accepted
	}{
		{"text at LINE's limit after rendering", "{{contact.v}}", map[string]string{"v": pad(MaxTextUTF16)}, ""},
		{"text one over", "{{contact.v}}", map[string]string{"v": pad(MaxTextUTF16 + 1)}, CodeMessageTooLong},
		{"3-byte characters at the limit", "{{contact.v}}", map[string]string{"v": strings.Repeat("あ", MaxTextUTF16)}, ""},
		{"surrounding whitespace is trimmed, not counted", "{{contact.v}}", map[string]string{"v": "\n" + pad(MaxTextUTF16) + strings.Repeat(" ", 4000)}, ""},
		{"object at the byte bound", `{"type":"sticker","packageId":"1","stickerId":"2","x":"{{contact.v}}"}`,
			map[string]string{"v": pad(MaxMessageBytes - len(`{"type":"sticker","packageId":"1","stickerId":"2","x":""}`))}, ""},
		{"object one byte over", `{"type":"sticker","packageId":"1","stickerId":"2","x":"{{contact.v}}"}`,
			map[string]string{"v": pad(MaxMessageBytes + 1 - len(`{"type":"sticker","packageId":"1","stickerId":"2","x":""}`))}, CodeMessageTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg, _, err := BuildMessage(tc.raw, tc.props)
			var ve *ValidationError
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.code == "" && len(msg) > MaxMessageBytes:
				t.Fatalf("accepted %d bytes", len(msg))
			case tc.code != "" && (!errors.As(err, &ve) || ve.Code != tc.code):
				t.Fatalf("got %v, want %s", err, tc.code)
			}
		})
	}
}
