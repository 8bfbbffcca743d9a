package line

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestValidUserID(t *testing.T) {
	tests := map[string]bool{
		"U" + strings.Repeat("0123456789abcdef", 2):           true,
		"U" + strings.Repeat("0123456789ABCDEF", 2):           false,
		"U" + strings.Repeat("a", 31):                         false,
		"U" + strings.Repeat("a", 33):                         false,
		"C" + strings.Repeat("a", 32):                         false,
		"":                                                    false,
		" U" + strings.Repeat("a", 32):                        false,
		"U" + strings.Repeat("a", 32) + "\n":                  false,
		"U" + strings.Repeat("g", 32):                         false,
		"U4af4980629" + strings.Repeat("0", 22):               true,
		"u" + strings.Repeat("0123456789abcdef", 2):           false,
		"U" + strings.Repeat("0123456789abcdef", 2)[1:] + "_": false,
	}
	for in, want := range tests {
		if got := ValidUserID(in); got != want {
			t.Errorf("ValidUserID(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestValidAggregationUnit(t *testing.T) {
	tests := map[string]bool{
		"campaign_2024":         true,
		"A":                     true,
		strings.Repeat("a", 30): true,
		strings.Repeat("a", 31): false,
		"":                      false,
		"has space":             false,
		"dash-no":               false,
		"日本":                    false,
	}
	for in, want := range tests {
		if got := ValidAggregationUnit(in); got != want {
			t.Errorf("ValidAggregationUnit(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestBuildMessage(t *testing.T) {
	props := map[string]string{
		"firstname": "Aiko",
		"evil":      `"},{"type":"sticker`,
		"html":      "<b>&</b>",
		"jp":        "山田",
	}
	long := strings.Repeat("a", MaxTextUTF16)
	emoji := strings.Repeat("😀", MaxTextUTF16/2) // 2 UTF-16 units each
	tests := []struct {
		name    string
		raw     string
		want    string // expected JSON when err is nil
		missing []string
		code    string // expected ValidationError code
		errHas  string
	}{
		// Plain text.
		{name: "text", raw: "Hello {{contact.firstname}}", want: `{"text":"Hello Aiko","type":"text"}`},
		{name: "text trimmed", raw: "  Hi\n", want: `{"text":"Hi","type":"text"}`},
		{name: "text html not escaped", raw: "{{contact.html}}", want: `{"text":"<b>&</b>","type":"text"}`},
		{name: "text japanese", raw: "{{contact.jp}}さん", want: `{"text":"山田さん","type":"text"}`},
		{name: "text missing with fallback", raw: "Hi {{contact.nick|there}}", want: `{"text":"Hi there","type":"text"}`, missing: []string{"nick"}},
		{name: "text empty", raw: "   ", code: CodeEmptyMessage},
		{name: "text empty after render", raw: " {{contact.nick}} ", code: CodeEmptyMessage, missing: []string{"nick"}},
		{name: "text at limit", raw: long, want: `{"text":"` + long + `","type":"text"}`},
		{name: "text too long", raw: long + "b", code: CodeMessageTooLong, errHas: "5001"},
		{name: "text emoji utf16 too long", raw: emoji + "x", code: CodeMessageTooLong, errHas: "5001"},
		{name: "json without type is text", raw: `{"hello":"x"}`, want: `{"text":"{\"hello\":\"x\"}","type":"text"}`},
		{name: "invalid json is text", raw: `{"type":`, want: `{"text":"{\"type\":","type":"text"}`},

		// Message objects.
		{name: "text object", raw: ` {"type":"text","text":"Hi {{contact.firstname}}"} `, want: `{"type":"text","text":"Hi Aiko"}`},
		{name: "text object no injection", raw: `{"type":"text","text":"{{contact.evil}}"}`, want: `{"type":"text","text":"\"},{\"type\":\"sticker"}`},
		{name: "text object missing text", raw: `{"type":"text"}`, code: CodeInvalidMessage, errHas: "text is required"},
		{name: "text object empty", raw: `{"type":"text","text":"{{contact.nick}}"}`, code: CodeEmptyMessage, missing: []string{"nick"}},
		{name: "text object too long", raw: `{"type":"text","text":"` + long + `x"}`, code: CodeMessageTooLong},
		{name: "text object not string", raw: `{"type":"text","text":5}`, code: CodeInvalidMessage, errHas: "text must be a string"},
		{name: "type not string", raw: `{"type":1}`, code: CodeInvalidMessage, errHas: "type"},
		{name: "unknown type", raw: `{"type":"hologram"}`, code: CodeInvalidMessage, errHas: `"hologram"; known types: text, sticker`},

		{name: "sticker", raw: `{"type":"sticker","packageId":"446","stickerId":"1988"}`, want: `{"type":"sticker","packageId":"446","stickerId":"1988"}`},
		{name: "sticker missing", raw: `{"type":"sticker","packageId":"446"}`, code: CodeInvalidMessage, errHas: "stickerId"},

		{name: "image", raw: `{"type":"image","originalContentUrl":"https://e.com/a.jpg","previewImageUrl":"https://e.com/p.jpg"}`,
			want: `{"type":"image","originalContentUrl":"https://e.com/a.jpg","previewImageUrl":"https://e.com/p.jpg"}`},
		{name: "image http", raw: `{"type":"image","originalContentUrl":"http://e.com/a.jpg","previewImageUrl":"https://e.com/p.jpg"}`, code: CodeInvalidMessage, errHas: "originalContentUrl must be an https URL"},
		{name: "image missing preview", raw: `{"type":"image","originalContentUrl":"https://e.com/a.jpg"}`, code: CodeInvalidMessage, errHas: "previewImageUrl"},

		{name: "video", raw: `{"type":"video","originalContentUrl":"https://e.com/a.mp4","previewImageUrl":"https://e.com/p.jpg"}`,
			want: `{"type":"video","originalContentUrl":"https://e.com/a.mp4","previewImageUrl":"https://e.com/p.jpg"}`},
		{name: "video missing", raw: `{"type":"video","originalContentUrl":"https://e.com/a.mp4"}`, code: CodeInvalidMessage, errHas: "previewImageUrl"},

		{name: "audio", raw: `{"type":"audio","originalContentUrl":"https://e.com/a.m4a","duration":60000}`, want: `{"type":"audio","originalContentUrl":"https://e.com/a.m4a","duration":60000}`},
		{name: "audio duration string", raw: `{"type":"audio","originalContentUrl":"https://e.com/a.m4a","duration":"60"}`, code: CodeInvalidMessage, errHas: "duration must be a number"},
		{name: "audio missing duration", raw: `{"type":"audio","originalContentUrl":"https://e.com/a.m4a"}`, code: CodeInvalidMessage, errHas: "duration is required"},

		{name: "location", raw: `{"type":"location","title":"Office","address":"Tokyo","latitude":35.65910807942215,"longitude":139.70372892916203}`,
			want: `{"type":"location","title":"Office","address":"Tokyo","latitude":35.65910807942215,"longitude":139.70372892916203}`},
		{name: "location lat string", raw: `{"type":"location","title":"O","address":"T","latitude":"35","longitude":139}`, code: CodeInvalidMessage, errHas: "latitude"},
		{name: "location missing address", raw: `{"type":"location","title":"O","latitude":35,"longitude":139}`, code: CodeInvalidMessage, errHas: "address"},

		{name: "imagemap", raw: `{"type":"imagemap","baseUrl":"https://e.com/im","altText":"alt","baseSize":{"width":1040,"height":1040},"actions":[{"type":"uri","linkUri":"https://e.com","area":{"x":0,"y":0,"width":520,"height":1040}}]}`,
			want: `{"type":"imagemap","baseUrl":"https://e.com/im","altText":"alt","baseSize":{"width":1040,"height":1040},"actions":[{"type":"uri","linkUri":"https://e.com","area":{"x":0,"y":0,"width":520,"height":1040}}]}`},
		{name: "imagemap empty actions", raw: `{"type":"imagemap","baseUrl":"https://e.com/im","altText":"alt","baseSize":{"width":1040,"height":1040},"actions":[]}`, code: CodeInvalidMessage, errHas: "actions"},
		{name: "imagemap missing height", raw: `{"type":"imagemap","baseUrl":"https://e.com/im","altText":"alt","baseSize":{"width":1040},"actions":[{}]}`, code: CodeInvalidMessage, errHas: "baseSize.height"},
		{name: "imagemap missing altText", raw: `{"type":"imagemap","baseUrl":"https://e.com/im","baseSize":{"width":1,"height":1},"actions":[{}]}`, code: CodeInvalidMessage, errHas: "altText"},

		{name: "template", raw: `{"type":"template","altText":"Hi {{contact.firstname}}","template":{"type":"confirm","text":"ok?","actions":[]}}`,
			want: `{"type":"template","altText":"Hi Aiko","template":{"type":"confirm","text":"ok?","actions":[]}}`},
		{name: "template no type", raw: `{"type":"template","altText":"a","template":{}}`, code: CodeInvalidMessage, errHas: "template.type"},
		{name: "template not object", raw: `{"type":"template","altText":"a","template":"x"}`, code: CodeInvalidMessage, errHas: "template must be an object"},
		{name: "template altText too long", raw: `{"type":"template","altText":"` + strings.Repeat("a", 1501) + `","template":{"type":"buttons"}}`, code: CodeMessageTooLong, errHas: "altText"},

		{name: "flex bubble", raw: `{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[]}}}`,
			want: `{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[]}}}`},
		{name: "flex carousel", raw: `{"type":"flex","altText":"a","contents":{"type":"carousel","contents":[]}}`, want: `{"type":"flex","altText":"a","contents":{"type":"carousel","contents":[]}}`},
		{name: "flex box at top", raw: `{"type":"flex","altText":"a","contents":{"type":"box"}}`, code: CodeInvalidMessage, errHas: "contents.type"},
		{name: "flex missing contents", raw: `{"type":"flex","altText":"a"}`, code: CodeInvalidMessage, errHas: "contents is required"},
		{name: "flex missing altText", raw: `{"type":"flex","contents":{"type":"bubble"}}`, code: CodeInvalidMessage, errHas: "altText is required"},
		{name: "altText at limit", raw: `{"type":"flex","altText":"` + strings.Repeat("あ", 1500) + `","contents":{"type":"bubble"}}`,
			want: `{"type":"flex","altText":"` + strings.Repeat("あ", 1500) + `","contents":{"type":"bubble"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, missing, err := BuildMessage(tc.raw, props)
			if !reflect.DeepEqual(missing, tc.missing) {
				t.Errorf("missing = %v, want %v", missing, tc.missing)
			}
			if tc.code != "" {
				var ve *ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("err = %v, want ValidationError %s", err, tc.code)
				}
				if ve.Code != tc.code {
					t.Errorf("code = %s, want %s (%s)", ve.Code, tc.code, ve.Message)
				}
				if tc.errHas != "" && !strings.Contains(ve.Error(), tc.errHas) {
					t.Errorf("error %q does not mention %q", ve.Error(), tc.errHas)
				}
				if len(ve.Message) > 200 {
					t.Errorf("error message too long (may leak content): %d bytes", len(ve.Message))
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if !json.Valid(msg) {
				t.Fatalf("invalid JSON: %s", msg)
			}
			if string(msg) != tc.want {
				t.Errorf("got  %s\nwant %s", msg, tc.want)
			}
		})
	}
}

func TestBuildMessageErrorsDoNotLeakContent(t *testing.T) {
	secret := "SECRET-CONTENT-12345"
	inputs := []string{
		strings.Repeat(secret, 300),
		`{"type":"text","text":"` + strings.Repeat(secret, 300) + `"}`,
		`{"type":"image","originalContentUrl":"http://` + secret + `","previewImageUrl":"x"}`,
		`{"type":"location","title":"` + secret + `"}`,
	}
	for _, in := range inputs {
		_, _, err := BuildMessage(in, nil)
		if err == nil {
			t.Fatalf("expected error")
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error leaks content: %v", err)
		}
	}
}

func TestUTF16Len(t *testing.T) {
	tests := map[string]int{"": 0, "abc": 3, "あいう": 3, "😀": 2, "a😀b": 4}
	for in, want := range tests {
		if got := UTF16Len(in); got != want {
			t.Errorf("UTF16Len(%q) = %d, want %d", in, got, want)
		}
	}
}
