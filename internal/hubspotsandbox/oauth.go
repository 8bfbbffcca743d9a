package hubspotsandbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// OAuthOptions make the sandbox play HubSpot's OAuth for one public app: an authorize
// stand-in page, the token endpoint and token introspection. API endpoints then accept
// the access tokens it issued, each for its own portal.
type OAuthOptions struct {
	// ClientID and ClientSecret are the app's credentials; empty ClientID leaves OAuth off
	// (its endpoints answer 400 BAD_CLIENT_ID).
	ClientID     string
	ClientSecret string
	// AppID is reported by the token introspection endpoint (default 1).
	AppID int64
	// Portals are offered on the authorize page (default 1, 2 and 3); any positive portal
	// ID typed in is accepted too.
	Portals []int64
	// AccessTokenTTL is how long issued access tokens live (default 30 minutes, HubSpot's).
	AccessTokenTTL time.Duration
}

// codeTTL is how long an authorization code may wait for its exchange.
const codeTTL = 10 * time.Minute

type authCode struct {
	portal      int64
	redirectURI string
	scopes      []string
	expires     time.Time
	used        bool
}

type accessToken struct {
	portal  int64
	scopes  []string
	expires time.Time
}

type refreshToken struct {
	portal  int64
	scopes  []string
	revoked bool
}

// Call is one API request made with a sandbox-issued OAuth token.
type Call struct {
	Portal int64
	Method string
	Path   string
}

// oauthServer holds the OAuth state; its own mutex keeps it apart from the API data.
type oauthServer struct {
	opts OAuthOptions
	mux  *http.ServeMux

	mu        sync.Mutex
	codes     map[string]*authCode
	access    map[string]*accessToken
	refresh   map[string]*refreshToken
	refreshes map[int64]int // successful refresh grants per portal
	exchanges map[int64]int // successful code exchanges per portal
	calls     []Call
}

func newOAuthServer(o OAuthOptions) *oauthServer {
	if o.AppID == 0 {
		o.AppID = 1
	}
	if len(o.Portals) == 0 {
		o.Portals = []int64{1, 2, 3}
	}
	if o.AccessTokenTTL <= 0 {
		o.AccessTokenTTL = 30 * time.Minute
	}
	s := &oauthServer{
		opts: o, mux: http.NewServeMux(), codes: map[string]*authCode{}, access: map[string]*accessToken{},
		refresh: map[string]*refreshToken{}, refreshes: map[int64]int{}, exchanges: map[int64]int{},
	}
	s.mux.HandleFunc("GET /oauth/authorize", s.authorizePage)
	s.mux.HandleFunc("POST /oauth/authorize", s.authorizeDecision)
	s.mux.HandleFunc("POST /oauth/v1/token", s.token)
	s.mux.HandleFunc("GET /oauth/v1/access-tokens/{token}", s.tokenInfo)
	s.mux.HandleFunc("DELETE /oauth/v1/refresh-tokens/{token}", s.deleteRefreshToken)
	return s
}

func (s *oauthServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		writeError(w, http.StatusNotFound, "OBJECT_NOT_FOUND", "Resource not found: "+r.Method+" "+r.URL.Path)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// check reports whether tok is a token this sandbox issued (known) and, if so, whether it
// is still valid; a valid use is recorded with its portal.
func (s *oauthServer) check(tok string, r *http.Request) (known, valid bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.access[tok]
	if !ok {
		return false, false
	}
	if time.Now().After(at.expires) {
		return true, false
	}
	s.calls = append(s.calls, Call{Portal: at.portal, Method: r.Method, Path: r.URL.Path})
	return true, true
}

func randomToken(prefix string) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// oauthFail answers like HubSpot's OAuth endpoints: status names the problem.
func oauthFail(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"status": code, "message": msg, "correlationId": uuid.NewString()})
}

// ---- the authorize stand-in ----

var authorizeTmpl = template.Must(template.New("authorize").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HubSpot sandbox: install app / アプリのインストール</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto;line-height:1.5}button{font-size:1em;margin-right:1em}</style></head>
<body>
<h1>HubSpot sandbox: install an app</h1>
<p lang="ja">HubSpot サンドボックス：アプリのインストール</p>
<p>This page stands in for HubSpot's install screen. Pick the portal (HubSpot account) to install app {{.ClientID}} into, then approve.<br>
<span lang="ja">HubSpot のインストール画面の代わりです。アプリを入れるポータル（HubSpot アカウント）を選んで承認してください。</span></p>
<p>Scopes / スコープ: <code>{{.Scope}}</code>{{if .OptionalScope}}; optional / 任意: <code>{{.OptionalScope}}</code>{{end}}</p>
<form method="post" action="authorize">
<input type="hidden" name="client_id" value="{{.ClientID}}">
<input type="hidden" name="redirect_uri" value="{{.RedirectURI}}">
<input type="hidden" name="scope" value="{{.Scope}}">
<input type="hidden" name="optional_scope" value="{{.OptionalScope}}">
<input type="hidden" name="state" value="{{.State}}">
<p><label>Portal / ポータル: <select name="portal_id">{{range .Portals}}<option value="{{.}}">{{.}}</option>{{end}}</select></label>
<label>or another portal ID / 別のポータル ID: <input name="other_portal_id" inputmode="numeric" size="12"></label></p>
<p><button name="decision" value="approve">Approve / 承認</button><button name="decision" value="deny">Deny / 拒否</button></p>
</form></body></html>
`))

var errorTmpl = template.Must(template.New("error").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>HubSpot sandbox: error / エラー</title></head>
<body><h1>HubSpot sandbox: this install link is not valid</h1><p lang="ja">このインストールリンクは無効です。</p><p>{{.}}</p></body></html>
`))

func pageError(w http.ResponseWriter, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_ = errorTmpl.Execute(w, msg)
}

// authorizeParams checks what HubSpot checks before showing its install screen.
func (s *oauthServer) authorizeParams(v url.Values) (string, bool) {
	if s.opts.ClientID == "" || v.Get("client_id") != s.opts.ClientID {
		return "Unknown client_id: the app is not known to this sandbox. / client_id が不明です。", false
	}
	u, err := url.Parse(v.Get("redirect_uri"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "redirect_uri must be an absolute http(s) URL. / redirect_uri が正しくありません。", false
	}
	if strings.TrimSpace(v.Get("scope")) == "" {
		return "scope is required. / scope が必要です。", false
	}
	return "", true
}

func (s *oauthServer) authorizePage(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if msg, ok := s.authorizeParams(q); !ok {
		pageError(w, msg)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = authorizeTmpl.Execute(w, map[string]any{
		"ClientID": q.Get("client_id"), "RedirectURI": q.Get("redirect_uri"), "Scope": q.Get("scope"),
		"OptionalScope": q.Get("optional_scope"), "State": q.Get("state"), "Portals": s.opts.Portals,
	})
}

func (s *oauthServer) authorizeDecision(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		pageError(w, "unreadable form")
		return
	}
	f := r.PostForm
	if msg, ok := s.authorizeParams(f); !ok {
		pageError(w, msg)
		return
	}
	target, _ := url.Parse(f.Get("redirect_uri"))
	q := target.Query()
	if st := f.Get("state"); st != "" {
		q.Set("state", st)
	}
	if f.Get("decision") != "approve" {
		q.Set("error", "access_denied")
		q.Set("error_description", "The user denied the install.")
		target.RawQuery = q.Encode()
		http.Redirect(w, r, target.String(), http.StatusFound)
		return
	}
	pid := strings.TrimSpace(f.Get("other_portal_id"))
	if pid == "" {
		pid = f.Get("portal_id")
	}
	portal, err := strconv.ParseInt(pid, 10, 64)
	if err != nil || portal <= 0 {
		pageError(w, "Pick a portal: a positive number. / ポータル ID は正の数です。")
		return
	}
	scopes := strings.Fields(f.Get("scope"))
	// Optional scopes are granted too: the sandbox portal has every feature.
	scopes = append(scopes, strings.Fields(f.Get("optional_scope"))...)
	code := uuid.NewString()
	s.mu.Lock()
	s.codes[code] = &authCode{portal: portal, redirectURI: f.Get("redirect_uri"), scopes: scopes, expires: time.Now().Add(codeTTL)}
	s.mu.Unlock()
	q.Set("code", code)
	target.RawQuery = q.Encode()
	http.Redirect(w, r, target.String(), http.StatusFound)
}

// ---- token endpoint ----

func (s *oauthServer) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthFail(w, http.StatusBadRequest, "BAD_REQUEST", "unreadable form body")
		return
	}
	f := r.PostForm
	if s.opts.ClientID == "" || f.Get("client_id") != s.opts.ClientID {
		oauthFail(w, http.StatusBadRequest, "BAD_CLIENT_ID", "missing or unknown client id")
		return
	}
	if f.Get("client_secret") != s.opts.ClientSecret {
		oauthFail(w, http.StatusBadRequest, "BAD_CLIENT_SECRET", "missing or invalid client secret")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var portal int64
	var scopes []string
	var rt string
	switch f.Get("grant_type") {
	case "authorization_code":
		c, ok := s.codes[f.Get("code")]
		if !ok || c.used || time.Now().After(c.expires) {
			oauthFail(w, http.StatusBadRequest, "BAD_AUTH_CODE", "missing or unknown auth code")
			return
		}
		if f.Get("redirect_uri") != c.redirectURI {
			oauthFail(w, http.StatusBadRequest, "BAD_REDIRECT_URI", "redirect_uri does not match the one used to authorize")
			return
		}
		c.used = true
		portal, scopes = c.portal, c.scopes
		rt = randomToken("sandbox-refresh-")
		s.refresh[rt] = &refreshToken{portal: portal, scopes: scopes}
		s.exchanges[portal]++
	case "refresh_token":
		rt = f.Get("refresh_token")
		t, ok := s.refresh[rt]
		if !ok || t.revoked {
			oauthFail(w, http.StatusBadRequest, "BAD_REFRESH_TOKEN", "missing or unknown refresh token")
			return
		}
		portal, scopes = t.portal, t.scopes
		s.refreshes[portal]++
	default:
		oauthFail(w, http.StatusBadRequest, "BAD_GRANT_TYPE", "grant_type must be authorization_code or refresh_token")
		return
	}
	at := randomToken("sandbox-access-")
	s.access[at] = &accessToken{portal: portal, scopes: scopes, expires: time.Now().Add(s.opts.AccessTokenTTL)}
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type": "bearer", "access_token": at, "refresh_token": rt,
		"expires_in": int64(s.opts.AccessTokenTTL / time.Second),
	})
}

func (s *oauthServer) tokenInfo(w http.ResponseWriter, r *http.Request) {
	tok := r.PathValue("token")
	s.mu.Lock()
	at, ok := s.access[tok]
	s.mu.Unlock()
	if !ok || time.Now().After(at.expires) {
		oauthFail(w, http.StatusNotFound, "error", "The access token is unknown or has expired.")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"token": tok, "user": "sandbox@example.com", "hub_domain": fmt.Sprintf("portal-%d.sandbox.hubspot", at.portal),
		"scopes": at.scopes, "hub_id": at.portal, "app_id": s.opts.AppID, "user_id": 1, "token_type": "access",
		"expires_in": int64(time.Until(at.expires) / time.Second),
	})
}

func (s *oauthServer) deleteRefreshToken(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	t, ok := s.refresh[r.PathValue("token")]
	if ok {
		t.revoked = true
	}
	s.mu.Unlock()
	if !ok {
		oauthFail(w, http.StatusNotFound, "error", "refresh token not found")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ---- test hooks ----

// RevokePortal revokes every refresh token issued for portal (as an uninstall does) and
// expires its access tokens.
func (s *Server) RevokePortal(portal int64) {
	o := s.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, t := range o.refresh {
		if t.portal == portal {
			t.revoked = true
		}
	}
	for _, t := range o.access {
		if t.portal == portal {
			t.expires = time.Time{}
		}
	}
}

// ExpireAccessTokens makes every access token issued for portal expired, as if its 30
// minutes had passed.
func (s *Server) ExpireAccessTokens(portal int64) {
	o := s.oauth
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, t := range o.access {
		if t.portal == portal {
			t.expires = time.Now().Add(-time.Second)
		}
	}
}

// SetAccessTokenTTL changes the lifetime of access tokens issued from now on.
func (s *Server) SetAccessTokenTTL(d time.Duration) {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	s.oauth.opts.AccessTokenTTL = d
}

// Refreshes returns how many refresh grants succeeded for portal.
func (s *Server) Refreshes(portal int64) int {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	return s.oauth.refreshes[portal]
}

// Exchanges returns how many authorization codes were exchanged for portal.
func (s *Server) Exchanges(portal int64) int {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	return s.oauth.exchanges[portal]
}

// Calls returns the API requests made with sandbox-issued OAuth tokens, in order, each
// with the portal its token belongs to.
func (s *Server) Calls() []Call {
	s.oauth.mu.Lock()
	defer s.oauth.mu.Unlock()
	return slices.Clone(s.oauth.calls)
}
