package hubspotsandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func getPage(t *testing.T, srv *httptest.Server, query string) (string, string) {
	t.Helper()
	resp, err := http.Get(srv.URL + "/sandbox" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /sandbox%s: %d %s", query, resp.StatusCode, b)
	}
	return resp.Header.Get("Content-Type"), string(b)
}

func TestPageRendersAndEscapes(t *testing.T) {
	s := New(Options{})
	srv := httptest.NewServer(s)
	defer srv.Close()

	_, empty := getPage(t, srv, "")
	for _, want := range []string{"No callbacks yet.", "No notes yet.", "No timeline events yet.", "No contacts.", "接続済みポータル"} {
		if !strings.Contains(empty, want) {
			t.Errorf("empty page lacks %q", want)
		}
	}

	// Every value comes from callers; none may become markup.
	call(t, s, "POST", "/automation/v4/actions/callbacks/cb-%3Cb%3E1/complete",
		`{"outputFields":{"hs_execution_state":"SUCCESS","line_request_id":"<img src=x>"}}`)
	call(t, s, "POST", "/crm/v3/timeline/events", `{"eventTemplateId":"t<i>","objectId":"904","tokens":{"status":"<script>ev()</script>"}}`)
	// A note body is HTML: hubline's own tags render, anything else shows as text.
	call(t, s, "POST", "/crm/v3/objects/notes", note("1767225600000",
		`<p><strong>hubline</strong></p><p>1. &lt;script&gt;alert(1)&lt;/script&gt; こんにちは</p><script>raw()</script><p onclick="x()">y</p>`, "904", 202))
	s.SetContact("904", map[string]string{"firstname": `<u>Aiko</u>`})

	ctype, page := getPage(t, srv, "")
	if !strings.HasPrefix(ctype, "text/html") {
		t.Errorf("content type %q", ctype)
	}
	for _, bad := range []string{"<b>", "<img", "<script>", "<i>", "<u>", `<p onclick`} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains unescaped %q", bad)
		}
	}
	for _, want := range []string{
		"cb-&lt;b&gt;1", "&lt;img src=x&gt;", "&lt;script&gt;ev()&lt;/script&gt;", "&lt;u&gt;Aiko&lt;/u&gt;",
		"<p><strong>hubline</strong></p>",             // the note's own markup renders
		"&lt;script&gt;alert(1)&lt;/script&gt; こんにちは", // escaped message text shows as text, Japanese intact
		"&lt;script&gt;raw()&lt;/script&gt;",          // a raw tag in a body is shown, not run
		"Completed callbacks", "完了したコールバック", "メモ", "タイムラインイベント", "コンタクト",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}

	ctype, js := getPage(t, srv, "?format=json")
	var dump struct {
		Callbacks []Callback
		Notes     []Note
		Contacts  []ContactRecord
	}
	if err := json.Unmarshal([]byte(js), &dump); err != nil || !strings.HasPrefix(ctype, "application/json") {
		t.Fatalf("JSON view: %v %q", err, ctype)
	}
	if len(dump.Callbacks) != 1 || len(dump.Notes) != 1 || len(dump.Contacts) != 1 {
		t.Errorf("JSON view: %+v", dump)
	}
}
