package linesandbox

import (
	"encoding/json"
	"html/template"
	"net/http"
	"strings"
)

// recent returns up to n deliveries, newest first.
func (s *Server) recent(n int) []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n > len(s.deliveries) {
		n = len(s.deliveries)
	}
	out := make([]Delivery, 0, n)
	for i := len(s.deliveries) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, copyDelivery(s.deliveries[i]))
	}
	return out
}

func (s *Server) handleList(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeJSON(w, "", http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	b, err := json.Marshal(s.recent(listedOnPage))
	if err != nil {
		http.Error(w, "encoding failed", http.StatusInternalServerError)
		return
	}
	writeJSON(w, "", http.StatusOK, b)
}

// pageMessage is a delivery message prepared for display.
type pageMessage struct {
	Type string
	Text string // text of text messages, else the JSON object
}

type pageRow struct {
	Delivery
	Shown []pageMessage
}

func displayMessages(msgs []json.RawMessage) []pageMessage {
	out := make([]pageMessage, 0, len(msgs))
	for _, m := range msgs {
		var head struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		_ = json.Unmarshal(m, &head)
		pm := pageMessage{Type: head.Type, Text: head.Text}
		if head.Type != "text" {
			pm.Text = string(m)
		}
		out = append(out, pm)
	}
	return out
}

// html/template escapes every value, so message text cannot inject markup.
var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"join": strings.Join,
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LINE sandbox</title>
<meta http-equiv="refresh" content="5">
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f5f5f5}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #ddd;padding:.4rem;vertical-align:top;text-align:left;font-size:.9rem}
.msg{white-space:pre-wrap;background:#06c755;color:#fff;border-radius:.8rem;padding:.4rem .7rem;margin:.2rem 0;display:inline-block;max-width:40rem}
.obj{white-space:pre-wrap;font-family:monospace;font-size:.8rem;background:#eef;padding:.3rem;display:block}
</style></head><body>
<h1>LINE sandbox</h1>
<p>Nothing here reached LINE. {{.Total}} accepted request(s); newest {{len .Rows}} shown. JSON: <a href="sandbox/messages">sandbox/messages</a>. Rich menus and per-user links: <a href="sandbox/richmenus">sandbox/richmenus</a></p>
<p><strong>Add, block or message as a LINE friend / 友だち追加・ブロック・メッセージ: <a href="sandbox/friends">sandbox/friends</a></strong> (sends hubline the signed webhook / 署名付き Webhook を hubline に送信)</p>
<p>{{.Duplicates}} request(s) answered 409: their retry key was already accepted, so nothing was sent again. Retry keys, like these messages, live in memory until the sandbox restarts.</p>
<table><tr><th>Time</th><th>Account</th><th>To</th><th>Messages</th><th>Unit</th><th>Request</th></tr>
{{range .Rows}}<tr>
<td>{{.At.Format "2006-01-02 15:04:05.000"}}</td>
<td>{{.Account}}</td>
<td>{{if .Multicast}}multicast: {{end}}{{.To}}</td>
<td>{{range .Shown}}{{if eq .Type "text"}}<span class="msg">{{.Text}}</span><br>{{else}}<span class="obj">{{.Type}}: {{.Text}}</span>{{end}}{{end}}</td>
<td>{{join .AggregationUnits ", "}}</td>
<td>{{.RequestID}}{{if .RetryKey}}<br>retry key {{.RetryKey}}{{end}}</td>
</tr>{{else}}<tr><td colspan="6">No messages yet.</td></tr>{{end}}
</table></body></html>
`))

func (s *Server) handlePage(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	ds := s.recent(listedOnPage)
	rows := make([]pageRow, len(ds))
	for i, d := range ds {
		rows[i] = pageRow{Delivery: d, Shown: displayMessages(d.Messages)}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, struct {
		Total, Duplicates int
		Rows              []pageRow
	}{s.DeliveryCount(), s.Duplicates(), rows})
}
