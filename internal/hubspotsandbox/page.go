package hubspotsandbox

import (
	"html/template"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The sandbox page shows a developer what hubline "wrote to HubSpot", newest first. Like
// the dump it needs no auth: the sandbox only ever holds fake data. ?format=json gives
// the JSON view.

// pageRows bounds each section.
const pageRows = 100

// PortalRecord is a connected portal as the page lists it.
type PortalRecord struct {
	PortalID int64    `json:"portalId"`
	Scopes   []string `json:"scopes"`
	// State is "connected" or "revoked" (every refresh token revoked: uninstalled).
	State string `json:"state"`
}

// ConnectedPortals lists the portals the sandbox issued OAuth tokens for, from its token
// records (oauth.go). It is the page's one hook into the OAuth state.
func (s *Server) ConnectedPortals() []PortalRecord {
	if s.oauth == nil {
		return nil
	}
	s.oauth.mu.Lock()
	byPortal := map[int64]*PortalRecord{}
	for _, rt := range s.oauth.refresh {
		p := byPortal[rt.portal]
		if p == nil {
			p = &PortalRecord{PortalID: rt.portal, State: "revoked"}
			byPortal[rt.portal] = p
		}
		for _, sc := range rt.scopes {
			if !slices.Contains(p.Scopes, sc) {
				p.Scopes = append(p.Scopes, sc)
			}
		}
		if !rt.revoked {
			p.State = "connected"
		}
	}
	s.oauth.mu.Unlock()
	out := make([]PortalRecord, 0, len(byPortal))
	for _, p := range byPortal {
		sort.Strings(p.Scopes)
		out = append(out, *p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PortalID < out[j].PortalID })
	return out
}

// ContactRecord is a contact as the page lists it.
type ContactRecord struct {
	ID         string            `json:"id"`
	Properties map[string]string `json:"properties"`
	Updated    time.Time         `json:"updatedAt"`
}

// Contacts returns the sandbox's contacts, newest change first.
func (s *Server) Contacts() []ContactRecord {
	s.mu.Lock()
	out := make([]ContactRecord, 0, len(s.contacts))
	for id, c := range s.contacts {
		props := make(map[string]string, len(c.props))
		for k, v := range c.props {
			props[k] = v
		}
		out = append(out, ContactRecord{ID: id, Properties: props, Updated: c.updated})
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Updated.Equal(out[j].Updated) {
			return out[i].Updated.After(out[j].Updated)
		}
		return out[i].ID < out[j].ID
	})
	return out
}

type kv struct{ K, V string }

func sortedPairs(m map[string]string) []kv {
	out := make([]kv, 0, len(m))
	for k, v := range m {
		out = append(out, kv{k, v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].K < out[j].K })
	return out
}

type pageCallback struct {
	Callback
	Fields []kv
}

type pageEvent struct {
	TimelineEvent
	Fields []kv
}

type pageContact struct {
	ContactRecord
	Fields []kv
}

type pageData struct {
	Requests, RateLimited                  int
	Callbacks                              []pageCallback
	Events                                 []pageEvent
	Notes                                  []Note
	Contacts                               []pageContact
	Portals                                []PortalRecord
	NCallbacks, NEvents, NNotes, NContacts int
}

// newest returns the last n of xs, newest first.
func newest[T any](xs []T, n int) []T {
	out := make([]T, 0, min(n, len(xs)))
	for i := len(xs) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, xs[i])
	}
	return out
}

// noteHTML shows a note body as HubSpot would: its markup rendered, but only the tags
// hubline writes (anything else, a <script> included, shows as text).
func noteHTML(body string) template.HTML {
	esc := template.HTMLEscapeString(body)
	for _, tag := range []string{"p", "ul", "li", "strong", "br"} {
		for _, form := range []string{"<" + tag + ">", "</" + tag + ">"} {
			esc = strings.ReplaceAll(esc, template.HTMLEscapeString(form), form)
		}
	}
	return template.HTML(entities.Replace(esc)) // every other character was escaped above
}

// entities lets the character references hubline's escaping produces through once.
var entities = strings.NewReplacer("&amp;lt;", "&lt;", "&amp;gt;", "&gt;", "&amp;amp;", "&amp;",
	"&amp;#39;", "&#39;", "&amp;#34;", "&#34;", "&amp;quot;", "&quot;")

// html/template escapes every value; note bodies go through noteHTML.
var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"note": noteHTML,
	"time": func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000") },
	"join": strings.Join,
	"id":   func(n int64) string { return strconv.FormatInt(n, 10) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HubSpot sandbox</title>
<meta http-equiv="refresh" content="5">
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f5f8fa;color:#33475b}
h2{margin-top:2rem;border-bottom:2px solid #ff7a59}
h2 small{font-weight:normal;color:#7c98b6}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid #cbd6e2;padding:.4rem;vertical-align:top;text-align:left;font-size:.9rem}
.ok{color:#00a38d;font-weight:bold}.fail{color:#d94c53;font-weight:bold}
.note{background:#fff;border-left:4px solid #ff7a59;padding:.2rem .8rem;margin:0}
.kv{font-family:monospace;font-size:.8rem}
</style></head><body>
<h1>HubSpot sandbox <small>/ HubSpotサンドボックス</small></h1>
<p>Nothing here reached HubSpot; it lives in memory until dev stops. {{.Requests}} API request(s), {{.RateLimited}} answered 429. JSON: <a href="sandbox?format=json">sandbox?format=json</a></p>

<h2>Completed callbacks <small>/ 完了したコールバック ({{.NCallbacks}})</small></h2>
<table><tr><th>Time</th><th>Callback ID</th><th>Output fields</th></tr>
{{range .Callbacks}}<tr><td>{{time .At}}</td><td>{{.ID}}</td>
<td class="kv">{{range .Fields}}{{if eq .K "hs_execution_state"}}<span class="{{if eq .V "SUCCESS"}}ok{{else}}fail{{end}}">{{.K}}: {{.V}}</span>{{else}}{{.K}}: {{.V}}{{end}}<br>{{end}}</td></tr>
{{else}}<tr><td colspan="3">No callbacks yet. / まだありません。</td></tr>{{end}}</table>

<h2>Notes <small>/ メモ ({{.NNotes}})</small></h2>
<table><tr><th>Time</th><th>Note</th><th>Contacts</th><th>Body</th></tr>
{{range .Notes}}<tr><td>{{time .Timestamp}}<br><small>created {{time .CreatedAt}}</small></td><td>{{.ID}}</td><td>{{join .ContactIDs ", "}}</td>
<td><div class="note">{{note .Body}}</div></td></tr>
{{else}}<tr><td colspan="4">No notes yet. / まだありません。</td></tr>{{end}}</table>

<h2>Timeline events <small>/ タイムラインイベント ({{.NEvents}})</small></h2>
<table><tr><th>Time</th><th>Event ID</th><th>Template</th><th>Object</th><th>Tokens</th></tr>
{{range .Events}}<tr><td>{{time .At}}</td><td>{{.ID}}</td><td>{{.EventTemplateID}}</td><td>{{.ObjectID}}</td>
<td class="kv">{{range .Fields}}{{.K}}: {{.V}}<br>{{end}}</td></tr>
{{else}}<tr><td colspan="5">No timeline events yet. / まだありません。</td></tr>{{end}}</table>

<h2>Contacts <small>/ コンタクト ({{.NContacts}})</small></h2>
<table><tr><th>ID</th><th>Properties</th><th>Updated</th></tr>
{{range .Contacts}}<tr><td>{{.ID}}</td><td class="kv">{{range .Fields}}{{.K}}: {{.V}}<br>{{end}}</td><td>{{time .Updated}}</td></tr>
{{else}}<tr><td colspan="3">No contacts. / コンタクトはありません。</td></tr>{{end}}</table>

<h2>Connected portals <small>/ 接続済みポータル</small></h2>
<table><tr><th>Portal</th><th>State</th><th>Scopes</th></tr>
{{range .Portals}}<tr><td>{{id .PortalID}}</td><td>{{.State}}</td><td class="kv">{{join .Scopes " "}}</td></tr>
{{else}}<tr><td colspan="3">No portal installed the app through the sandbox's OAuth. / OAuthで接続したポータルはありません。</td></tr>{{end}}</table>
</body></html>
`))

// sandboxPage answers GET /sandbox: the page, or the JSON dump with ?format=json.
func (s *Server) sandboxPage(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("format") == "json" {
		s.dump(w, r)
		return
	}
	if r.Method != http.MethodGet {
		writeError(w, http.StatusMethodNotAllowed, "VALIDATION_ERROR", "use GET")
		return
	}
	d := pageData{Requests: s.Requests(), RateLimited: s.RateLimited(), Portals: s.ConnectedPortals()}
	cbs, evs, notes, contacts := s.Callbacks(), s.TimelineEvents(), s.Notes(), s.Contacts()
	d.NCallbacks, d.NEvents, d.NNotes, d.NContacts = len(cbs), len(evs), len(notes), len(contacts)
	for _, c := range newest(cbs, pageRows) {
		d.Callbacks = append(d.Callbacks, pageCallback{c, sortedPairs(c.OutputFields)})
	}
	for _, e := range newest(evs, pageRows) {
		d.Events = append(d.Events, pageEvent{e, sortedPairs(e.Tokens)})
	}
	d.Notes = newest(notes, pageRows)
	for _, c := range contacts[:min(pageRows, len(contacts))] {
		d.Contacts = append(d.Contacts, pageContact{c, sortedPairs(c.Properties)})
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = pageTmpl.Execute(w, d)
}
