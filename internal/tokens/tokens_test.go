package tokens

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestRender(t *testing.T) {
	props := map[string]string{
		"firstname": "Aiko",
		"lastname":  "",
		"Company":   "ACME",
		"quote":     `say "hi" \ bye`,
		"multi":     "line1\nline2",
		"brace":     "a}b}}c",
		"jp":        "山田 太郎",
		"evil":      "{{contact.firstname}}",
		"blank":     "   ",
	}
	tests := []struct {
		name, in, want string
		missing        []string
	}{
		{"plain", "Hello", "Hello", nil},
		{"simple", "Hello {{contact.firstname}}!", "Hello Aiko!", nil},
		{"spaces", "Hi {{ contact.firstname }}", "Hi Aiko", nil},
		{"case-insensitive name", "{{contact.FirstName}}", "Aiko", nil},
		{"case-insensitive prop key", "{{contact.company}}", "ACME", nil},
		{"fallback used", "Hi {{contact.lastname|there}}", "Hi there", []string{"lastname"}},
		{"fallback with spaces", "Hi {{ contact.nick | friend }}", "Hi friend", []string{"nick"}},
		{"fallback unused", "{{contact.firstname|x}}", "Aiko", nil},
		{"missing no fallback", "Hi {{contact.nick}}.", "Hi .", []string{"nick"}},
		{"blank counts as missing", "[{{contact.blank|b}}]", "[b]", []string{"blank"}},
		{"missing dedup sorted", "{{contact.z}}{{contact.a}}{{contact.Z}}", "", []string{"a", "z"}},
		{"empty fallback", "{{contact.nick|}}", "", []string{"nick"}},
		{"quote and backslash", "{{contact.quote}}", `say "hi" \ bye`, nil},
		{"newline", "{{contact.multi}}", "line1\nline2", nil},
		{"brace value", "{{contact.brace}}", "a}b}}c", nil},
		{"japanese", "こんにちは{{contact.jp}}さん", "こんにちは山田 太郎さん", nil},
		{"value looks like token", "{{contact.evil}}", "{{contact.firstname}}", nil},
		{"other token untouched", "{{ other }} {{deal.amount}} {{contact.}}", "{{ other }} {{deal.amount}} {{contact.}}", nil},
		{"bad name untouched", "{{contact.first-name}}", "{{contact.first-name}}", nil},
		{"unclosed", "{{contact.firstname", "{{contact.firstname", nil},
		{"adjacent", "{{contact.firstname}}{{contact.firstname}}", "AikoAiko", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, missing, err := Render(tc.in, props, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Render(%q) = %q, want %q", tc.in, got, tc.want)
			}
			if !reflect.DeepEqual(missing, tc.missing) {
				t.Errorf("missing = %v, want %v", missing, tc.missing)
			}
		})
	}
}

func TestProperties(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"none", nil},
		{"{{contact.b}} {{ contact.A | x }} {{contact.b}} {{deal.c}}", []string{"a", "b"}},
		{`{"type":"text","text":"{{contact.firstname}}"}`, []string{"firstname"}},
	}
	for _, tc := range tests {
		if got := Properties(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Properties(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestRenderJSON(t *testing.T) {
	props := map[string]string{
		"firstname": "Aiko",
		"quote":     `he said "hi" \o/`,
		"multi":     "a\nb\tc",
		"brace":     `}"}]`,
		"jp":        "山田",
		"html":      "<b>&amp;</b>",
		"evil":      "{{contact.firstname}}",
		"ctrl":      "\x01",
	}
	tests := []struct {
		name, in, want string
		missing        []string
	}{
		{"text", `{"type":"text","text":"Hi {{contact.firstname}}"}`, `{"type":"text","text":"Hi Aiko"}`, nil},
		{"key order kept", `{"z":1,"a":"{{contact.firstname}}","m":[1,2]}`, `{"z":1,"a":"Aiko","m":[1,2]}`, nil},
		{"keys not rendered", `{"{{contact.firstname}}":"x"}`, `{"{{contact.firstname}}":"x"}`, nil},
		{"quote escaped", `{"t":"{{contact.quote}}"}`, `{"t":"he said \"hi\" \\o/"}`, nil},
		{"newline escaped", `{"t":"{{contact.multi}}"}`, `{"t":"a\nb\tc"}`, nil},
		{"brace no injection", `{"t":"{{contact.brace}}","u":1}`, `{"t":"}\"}]","u":1}`, nil},
		{"japanese", `{"t":"{{contact.jp}}さん"}`, `{"t":"山田さん"}`, nil},
		{"no html escape", `{"t":"{{contact.html}} <x> &"}`, `{"t":"<b>&amp;</b> <x> &"}`, nil},
		{"no re-render", `{"t":"{{contact.evil}}"}`, `{"t":"{{contact.firstname}}"}`, nil},
		{"control char", `{"t":"{{contact.ctrl}}"}`, `{"t":"\u0001"}`, nil},
		{"numbers exact", `{"a":1.000000000000000000001,"b":12345678901234567890,"c":-0.0e5}`, `{"a":1.000000000000000000001,"b":12345678901234567890,"c":-0.0e5}`, nil},
		{"literals and nesting", `{"a":[true,false,null,{},[],{"b":["{{contact.x|y}}"]}]}`, `{"a":[true,false,null,{},[],{"b":["y"]}]}`, []string{"x"}},
		{"whitespace compacted", " {\n \"a\" : [ 1 , \"{{ contact.firstname }}\" ] \n} ", `{"a":[1,"Aiko"]}`, nil},
		{"escaped input token", `{"t":"\u007b{contact.firstname}}"}`, `{"t":"Aiko"}`, nil},
		{"top-level string", `"{{contact.nick}}"`, `""`, []string{"nick"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, missing, err := RenderJSON([]byte(tc.in), props, 1<<20)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
			if !json.Valid(got) {
				t.Errorf("output is not valid JSON: %s", got)
			}
			if !reflect.DeepEqual(missing, tc.missing) {
				t.Errorf("missing = %v, want %v", missing, tc.missing)
			}
		})
	}
}

func TestRenderJSONRoundTripValues(t *testing.T) {
	// Every tricky value must come back exactly after decoding the output.
	values := []string{`"`, `\`, "a\n\r\tb", "}", "}}", "{{contact.x}}", "日本語テキスト", "x\u2028y", "<&>", `\u0022`}
	for _, v := range values {
		out, _, err := RenderJSON([]byte(`{"t":"{{contact.v}}"}`), map[string]string{"v": v}, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var got struct{ T string }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("value %q: output %s invalid: %v", v, out, err)
		}
		if got.T != v {
			t.Errorf("value %q came back as %q", v, got.T)
		}
	}
}

func TestRenderJSONInvalid(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a":}`, `{"a":1} {"b":2}`, `nope`} {
		if _, _, err := RenderJSON([]byte(in), nil, 1<<20); err == nil {
			t.Errorf("RenderJSON(%q): want error", in)
		}
	}
}
