package linesandbox

import (
	"encoding/json"
	"html/template"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Rich menus, as LINE keeps them per channel: menus made with POST /v2/bot/richmenu (or the
// sandbox's own form and CreateRichMenu), and each user's linked menu
// (POST/DELETE/GET /v2/bot/user/{userId}/richmenu[/{richMenuId}]). An unknown menu is 404,
// as at LINE. The sandbox page /sandbox/richmenus lists menus and links.

// RichMenu is a menu the sandbox holds for one account.
type RichMenu struct {
	Account     string    `json:"account"`
	RichMenuID  string    `json:"richMenuId"`
	Name        string    `json:"name"`
	ChatBarText string    `json:"chatBarText"`
	CreatedAt   time.Time `json:"createdAt"`
}

// RichMenuLink is a user's own menu on one account.
type RichMenuLink struct {
	Account    string    `json:"account"`
	UserID     string    `json:"userId"`
	RichMenuID string    `json:"richMenuId"`
	At         time.Time `json:"at"`
}

type menuKey struct{ account, id string }
type linkKey struct{ account, user string }

// richMenus is the rich-menu state, beside (not under) the send path's lock.
type richMenus struct {
	mu       sync.Mutex
	menus    map[menuKey]RichMenu
	links    map[linkKey]RichMenuLink
	requests int // link and unlink requests received, failed ones included
	failN    int
	failCode int
}

var (
	richMenuLinkPath   = regexp.MustCompile(`^/v2/bot/user/([^/]+)/richmenu(?:/([^/]+))?$`)
	bodyNoUserMenu     = []byte(`{"message":"the user has no richmenu"}`)
	bodyRichMenuNotFnd = []byte(`{"message":"richmenu not found"}`)
	bodyBadUserID      = []byte(`{"message":"The value for the 'userId' parameter is invalid"}`)
)

const (
	maxRichMenuName    = 300
	maxRichMenuChatBar = 14
	maxRichMenuAreas   = 20
)

func (s *Server) rich() *richMenus {
	s.richOnce.Do(func() {
		s.richState = &richMenus{menus: map[menuKey]RichMenu{}, links: map[linkKey]RichMenuLink{}}
	})
	return s.richState
}

// serveRichMenu answers the rich-menu paths; false: not one of them.
func (s *Server) serveRichMenu(w http.ResponseWriter, r *http.Request) bool {
	switch p := r.URL.Path; {
	case p == "/v2/bot/richmenu":
		s.handleCreateRichMenu(w, r)
	case p == "/v2/bot/richmenu/list":
		s.handleListRichMenus(w, r)
	case p == "/sandbox/richmenus":
		s.handleRichMenuPage(w, r)
	case richMenuLinkPath.MatchString(p):
		m := richMenuLinkPath.FindStringSubmatch(p)
		s.handleUserRichMenu(w, r, m[1], m[2])
	default:
		return false
	}
	return true
}

// CreateRichMenu adds a menu to account (a label of Options.Tokens, "default" without
// tokens) and returns its ID, as if made with POST /v2/bot/richmenu.
func (s *Server) CreateRichMenu(account, name string) string {
	m := RichMenu{Account: account, RichMenuID: "richmenu-" + strings.ReplaceAll(uuid.NewString(), "-", ""),
		Name: name, ChatBarText: "Menu", CreatedAt: s.now()}
	rm := s.rich()
	rm.mu.Lock()
	rm.menus[menuKey{account, m.RichMenuID}] = m
	rm.mu.Unlock()
	return m.RichMenuID
}

// LinkedRichMenu is the user's own menu on account, "" when the default menu shows.
func (s *Server) LinkedRichMenu(account, userID string) string {
	rm := s.rich()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.links[linkKey{account, userID}].RichMenuID
}

// RichMenuRequests is the number of link and unlink requests received (failed ones too).
func (s *Server) RichMenuRequests() int {
	rm := s.rich()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	return rm.requests
}

// FailNextRichMenu makes the next n link or unlink requests (after authentication) answer
// status with a LINE-shaped error body, changing nothing.
func (s *Server) FailNextRichMenu(status, n int) {
	if status < 100 || status > 999 {
		status = http.StatusInternalServerError
	}
	rm := s.rich()
	rm.mu.Lock()
	rm.failCode, rm.failN = status, n
	rm.mu.Unlock()
}

// RichMenus lists every account's menus and links, oldest first.
func (s *Server) RichMenus() ([]RichMenu, []RichMenuLink) {
	rm := s.rich()
	rm.mu.Lock()
	menus := make([]RichMenu, 0, len(rm.menus))
	for _, m := range rm.menus {
		menus = append(menus, m)
	}
	links := make([]RichMenuLink, 0, len(rm.links))
	for _, l := range rm.links {
		links = append(links, l)
	}
	rm.mu.Unlock()
	slices.SortFunc(menus, func(a, b RichMenu) int { return a.CreatedAt.Compare(b.CreatedAt) })
	slices.SortFunc(links, func(a, b RichMenuLink) int { return a.At.Compare(b.At) })
	return menus, links
}

func (s *Server) handleCreateRichMenu(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Method != http.MethodPost {
		writeJSON(w, reqID, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	_, account, ok := s.authenticate(r)
	if !ok {
		writeJSON(w, reqID, http.StatusUnauthorized, bodyAuth)
		return
	}
	var body struct {
		Size *struct {
			Width  int `json:"width"`
			Height int `json:"height"`
		} `json:"size"`
		Selected    *bool             `json:"selected"`
		Name        string            `json:"name"`
		ChatBarText string            `json:"chatBarText"`
		Areas       []json.RawMessage `json:"areas"`
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes))
	if err != nil || json.Unmarshal(data, &body) != nil {
		writeJSON(w, reqID, http.StatusBadRequest, bodyBadJSON)
		return
	}
	var ds []detail
	if body.Size == nil || body.Size.Width < 800 || body.Size.Width > 2500 || body.Size.Height < 250 {
		ds = append(ds, detail{"must be specified: width 800 to 2500, height at least 250", "size"})
	}
	if body.Selected == nil {
		ds = append(ds, detail{"must be specified", "selected"})
	}
	if n := len([]rune(body.Name)); n < 1 || n > maxRichMenuName {
		ds = append(ds, detail{"Length must be between 1 and 300", "name"})
	}
	if n := len([]rune(body.ChatBarText)); n < 1 || n > maxRichMenuChatBar {
		ds = append(ds, detail{"Length must be between 1 and 14", "chatBarText"})
	}
	if body.Areas == nil || len(body.Areas) > maxRichMenuAreas {
		ds = append(ds, detail{"Size must be between 0 and 20", "areas"})
	}
	if len(ds) > 0 {
		writeJSON(w, reqID, http.StatusBadRequest, validationBody(ds))
		return
	}
	id := s.CreateRichMenu(account, body.Name)
	rm := s.rich()
	rm.mu.Lock()
	m := rm.menus[menuKey{account, id}]
	m.ChatBarText = body.ChatBarText
	rm.menus[menuKey{account, id}] = m
	rm.mu.Unlock()
	b, _ := json.Marshal(struct {
		RichMenuID string `json:"richMenuId"`
	}{id})
	writeJSON(w, reqID, http.StatusOK, b)
}

func (s *Server) handleListRichMenus(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Method != http.MethodGet {
		writeJSON(w, reqID, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	_, account, ok := s.authenticate(r)
	if !ok {
		writeJSON(w, reqID, http.StatusUnauthorized, bodyAuth)
		return
	}
	type item struct {
		RichMenuID  string `json:"richMenuId"`
		Name        string `json:"name"`
		ChatBarText string `json:"chatBarText"`
	}
	out := struct {
		RichMenus []item `json:"richmenus"`
	}{RichMenus: []item{}}
	menus, _ := s.RichMenus()
	for _, m := range menus {
		if m.Account == account {
			out.RichMenus = append(out.RichMenus, item{m.RichMenuID, m.Name, m.ChatBarText})
		}
	}
	b, _ := json.Marshal(out)
	writeJSON(w, reqID, http.StatusOK, b)
}

// handleUserRichMenu is link (POST .../richmenu/{id}), unlink (DELETE .../richmenu) and
// read (GET .../richmenu) of one user's menu.
func (s *Server) handleUserRichMenu(w http.ResponseWriter, r *http.Request, userID, menuID string) {
	reqID := newRequestID()
	switch {
	case menuID != "" && r.Method == http.MethodPost:
	case menuID == "" && (r.Method == http.MethodDelete || r.Method == http.MethodGet):
	default:
		writeJSON(w, reqID, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	_, account, ok := s.authenticate(r)
	if !ok {
		writeJSON(w, reqID, http.StatusUnauthorized, bodyAuth)
		return
	}
	rm := s.rich()
	rm.mu.Lock()
	defer rm.mu.Unlock()
	if r.Method != http.MethodGet {
		rm.requests++
		if rm.failN > 0 {
			rm.failN--
			writeJSON(w, reqID, rm.failCode, failBody(rm.failCode))
			return
		}
	}
	if !userIDRE.MatchString(userID) {
		writeJSON(w, reqID, http.StatusBadRequest, bodyBadUserID)
		return
	}
	key := linkKey{account, userID}
	switch r.Method {
	case http.MethodGet:
		l, ok := rm.links[key]
		if !ok {
			writeJSON(w, reqID, http.StatusNotFound, bodyNoUserMenu)
			return
		}
		b, _ := json.Marshal(struct {
			RichMenuID string `json:"richMenuId"`
		}{l.RichMenuID})
		writeJSON(w, reqID, http.StatusOK, b)
	case http.MethodDelete:
		delete(rm.links, key)
		writeJSON(w, reqID, http.StatusOK, bodyEmptyObject)
	default:
		if _, ok := rm.menus[menuKey{account, menuID}]; !ok {
			writeJSON(w, reqID, http.StatusNotFound, bodyRichMenuNotFnd)
			return
		}
		rm.links[key] = RichMenuLink{Account: account, UserID: userID, RichMenuID: menuID, At: s.now()}
		writeJSON(w, reqID, http.StatusOK, bodyEmptyObject)
	}
}

// handleRichMenuPage shows menus and links (GET; ?format=json for JSON) and makes a menu
// from the form (POST account=<label>&name=<name>), for trying the action in dev.
func (s *Server) handleRichMenuPage(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodPost:
		if err := r.ParseForm(); err != nil {
			http.Error(w, "bad form", http.StatusBadRequest)
			return
		}
		account, name := strings.TrimSpace(r.PostForm.Get("account")), strings.TrimSpace(r.PostForm.Get("name"))
		if !s.knownAccount(account) || name == "" || len([]rune(name)) > maxRichMenuName {
			writeJSON(w, "", http.StatusBadRequest, []byte(`{"message":"account must be one of the sandbox's accounts and name 1 to 300 characters"}`))
			return
		}
		id := s.CreateRichMenu(account, name)
		if strings.Contains(r.Header.Get("Accept"), "text/html") {
			// Relative to the address the browser used: dev serves the sandbox under a prefix.
			w.Header().Set("Location", "richmenus")
			w.WriteHeader(http.StatusSeeOther)
			return
		}
		b, _ := json.Marshal(struct {
			RichMenuID string `json:"richMenuId"`
		}{id})
		writeJSON(w, "", http.StatusOK, b)
		return
	case http.MethodGet:
	default:
		writeJSON(w, "", http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	menus, links := s.RichMenus()
	if r.URL.Query().Get("format") == "json" {
		b, _ := json.Marshal(struct {
			RichMenus []RichMenu     `json:"richMenus"`
			Links     []RichMenuLink `json:"links"`
		}{menus, links})
		writeJSON(w, "", http.StatusOK, b)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = richMenuTmpl.Execute(w, struct {
		Accounts []string
		Menus    []RichMenu
		Links    []RichMenuLink
	}{s.accountLabels(), menus, links})
}

func (s *Server) accountLabels() []string {
	if len(s.opts.Tokens) == 0 {
		return []string{"default"}
	}
	var out []string
	for _, l := range s.opts.Tokens {
		if !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	slices.Sort(out)
	return out
}

func (s *Server) knownAccount(a string) bool { return slices.Contains(s.accountLabels(), a) }

// html/template escapes every value.
var richMenuTmpl = template.Must(template.New("richmenus").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>LINE sandbox: rich menus</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5rem;background:#f5f5f5}
table{border-collapse:collapse;width:100%;background:#fff;margin-bottom:1.5rem}
th,td{border:1px solid #ddd;padding:.4rem;text-align:left;font-size:.9rem}
code{font-size:.85rem}
</style></head><body>
<h1>Rich menus / リッチメニュー</h1>
<p>Nothing here reached LINE. <a href="../sandbox">Messages / メッセージ</a> · JSON: <a href="richmenus?format=json">richmenus?format=json</a></p>
<form method="post" action="richmenus">
<label>Account / アカウント <select name="account">{{range .Accounts}}<option>{{.}}</option>{{end}}</select></label>
<label>Name / 名前 <input name="name" required maxlength="300" value="Members menu"></label>
<button>Create rich menu / リッチメニューを作成</button>
</form>
<h2>Menus / メニュー</h2>
<table><tr><th>Account</th><th>Rich menu ID (use as rich_menu_id)</th><th>Name</th><th>Created</th></tr>
{{range .Menus}}<tr><td>{{.Account}}</td><td><code>{{.RichMenuID}}</code></td><td>{{.Name}}</td><td>{{.CreatedAt.Format "2006-01-02 15:04:05"}}</td></tr>
{{else}}<tr><td colspan="4">No rich menus yet: create one above. / まだありません。上で作成してください。</td></tr>{{end}}
</table>
<h2>Per-user links / ユーザーごとのリンク</h2>
<table><tr><th>Account</th><th>User</th><th>Rich menu ID</th><th>Linked at</th></tr>
{{range .Links}}<tr><td>{{.Account}}</td><td><code>{{.UserID}}</code></td><td><code>{{.RichMenuID}}</code></td><td>{{.At.Format "2006-01-02 15:04:05.000"}}</td></tr>
{{else}}<tr><td colspan="4">No user has a menu of their own: everyone sees the default menu. / 個別のメニューはありません（全員にデフォルトメニューを表示）。</td></tr>{{end}}
</table></body></html>
`))
