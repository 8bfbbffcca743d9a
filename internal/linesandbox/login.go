package linesandbox

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"
)

// A LINE Login stand-in: the authorization page (GET /oauth2/v2.1/authorize, which shows a
// form to pick or enter a user and approve, then redirects back with code and state, or
// error=access_denied), the token endpoint (POST /oauth2/v2.1/token: single-use codes bound
// to their channel and redirect_uri, an HS256 ID token signed with the login channel's
// secret) and the Messaging API's GET /v2/bot/info, whose basicId makes add-friend links.

// LoginUser is a LINE user the authorization page offers.
type LoginUser struct {
	UserID      string `json:"userId"`
	DisplayName string `json:"displayName"`
}

type loginCode struct {
	channelID, redirectURI, nonce string
	user                          LoginUser
	expires                       time.Time
}

type loginState struct {
	mu       sync.Mutex
	channels map[string]string // login channel ID → secret
	codes    map[string]loginCode
	users    []LoginUser
	basicIDs map[string]string // channel access token → basic ID
	idHook   func(claims map[string]any, secret string) string
	issued   int
}

// codeTTL is how long LINE accepts an authorization code.
const codeTTL = 10 * time.Minute

// sandboxIssuer is the iss LINE puts in ID tokens.
const sandboxIssuer = "https://access.line.me"

func (s *Server) login() *loginState {
	s.loginOnce.Do(func() {
		s.loginState = &loginState{channels: map[string]string{}, codes: map[string]loginCode{}, basicIDs: map[string]string{}}
	})
	return s.loginState
}

// AddLoginChannel registers a LINE Login channel (its ID and secret).
func (s *Server) AddLoginChannel(channelID, secret string) {
	l := s.login()
	l.mu.Lock()
	l.channels[channelID] = secret
	l.mu.Unlock()
}

// AddLoginUser offers a user on the authorization page.
func (s *Server) AddLoginUser(u LoginUser) {
	l := s.login()
	l.mu.Lock()
	defer l.mu.Unlock()
	if !slices.ContainsFunc(l.users, func(x LoginUser) bool { return x.UserID == u.UserID }) {
		l.users = append(l.users, u)
	}
}

// SetBasicID sets the basic ID /v2/bot/info answers for a channel access token (default:
// "@sb" and six hex digits derived from the token).
func (s *Server) SetBasicID(token, basicID string) {
	l := s.login()
	l.mu.Lock()
	l.basicIDs[token] = basicID
	l.mu.Unlock()
}

// NextIDToken makes the next code exchange issue the ID token f returns instead of the right
// one; f gets the claims and the channel secret the right token would be signed with (tests
// issue tokens with a wrong signature, audience, issuer, nonce or expiry).
func (s *Server) NextIDToken(f func(claims map[string]any, secret string) string) {
	l := s.login()
	l.mu.Lock()
	l.idHook = f
	l.mu.Unlock()
}

// IDTokensIssued counts successful code exchanges.
func (s *Server) IDTokensIssued() int {
	l := s.login()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.issued
}

// serveLogin answers the LINE Login paths and /v2/bot/info; false: not one of them.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) bool {
	switch r.URL.Path {
	case "/oauth2/v2.1/authorize":
		s.handleAuthorize(w, r)
	case "/oauth2/v2.1/token":
		s.handleLoginToken(w, r)
	case "/v2/bot/info":
		s.handleBotInfo(w, r)
	default:
		return false
	}
	return true
}

var authorizePage = template.Must(template.New("authorize").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>LINE Login (sandbox)</title>
<style>body{font-family:sans-serif;max-width:34em;margin:2em auto;padding:0 1em;line-height:1.6}button{margin:.3em .3em 0 0}</style></head>
<body><h1>LINE Login (sandbox)</h1>
<p>Nothing here is LINE: this page stands in for LINE's consent screen. Channel <code>{{.ChannelID}}</code> asks for <code>{{.Scope}}</code>.</p>
<form method="post" action="authorize">
{{range $k, $v := .Hidden}}<input type="hidden" name="{{$k}}" value="{{$v}}">
{{end}}{{if .Users}}<p>Log in as:</p>{{range .Users}}<label><input type="radio" name="userId" value="{{.UserID}}"> {{.DisplayName}} ({{.UserID}})</label><br>
{{end}}{{end}}
<p><label>Or another user ID: <input name="otherUserId" size="36" placeholder="U + 32 hex digits; empty: a new user"></label><br>
<label>Display name: <input name="displayName" value="Sandbox user"></label></p>
<button name="decision" value="approve">Allow</button><button name="decision" value="cancel">Cancel</button>
</form></body></html>
`))

func loginPageError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte("LINE Login (sandbox): " + msg + "\n"))
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// handleAuthorize shows the consent form (GET) and answers it (POST) with a redirect.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		loginPageError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if err := r.ParseForm(); err != nil {
		loginPageError(w, http.StatusBadRequest, "unreadable request")
		return
	}
	f := r.Form
	l := s.login()
	l.mu.Lock()
	_, known := l.channels[f.Get("client_id")]
	users := slices.Clone(l.users)
	l.mu.Unlock()
	redirect, err := url.Parse(f.Get("redirect_uri"))
	switch {
	case f.Get("response_type") != "code":
		loginPageError(w, http.StatusBadRequest, "response_type must be code")
		return
	case !known:
		loginPageError(w, http.StatusBadRequest, "unknown client_id (no such LINE Login channel)")
		return
	case err != nil || (redirect.Scheme != "http" && redirect.Scheme != "https") || redirect.Host == "":
		loginPageError(w, http.StatusBadRequest, "redirect_uri must be an absolute http(s) URL")
		return
	case f.Get("state") == "":
		loginPageError(w, http.StatusBadRequest, "state is required")
		return
	case !slices.Contains(strings.Fields(f.Get("scope")), "openid"):
		loginPageError(w, http.StatusBadRequest, "scope must include openid for an ID token")
		return
	}
	if r.Method == http.MethodGet {
		hidden := map[string]string{}
		for _, k := range []string{"response_type", "client_id", "redirect_uri", "state", "scope", "nonce"} {
			hidden[k] = f.Get(k)
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_ = authorizePage.Execute(w, map[string]any{"ChannelID": f.Get("client_id"), "Scope": f.Get("scope"), "Hidden": hidden, "Users": users})
		return
	}
	q := redirect.Query()
	q.Set("state", f.Get("state"))
	if f.Get("decision") != "approve" {
		q.Set("error", "access_denied")
		q.Set("error_description", "The user has denied the approval")
		redirect.RawQuery = q.Encode()
		http.Redirect(w, r, redirect.String(), http.StatusFound)
		return
	}
	other := strings.TrimSpace(f.Get("otherUserId"))
	user := LoginUser{UserID: other, DisplayName: strings.TrimSpace(f.Get("displayName"))}
	if other == "" {
		user.UserID = f.Get("userId")
		for _, u := range users {
			if u.UserID == user.UserID {
				user.DisplayName = u.DisplayName
			}
		}
	}
	if user.UserID == "" {
		user.UserID = "U" + randomHex(16)
	}
	if !userIDRE.MatchString(user.UserID) {
		loginPageError(w, http.StatusBadRequest, "a LINE user ID is U followed by 32 lowercase hex digits")
		return
	}
	code := randomHex(10)
	l.mu.Lock()
	l.codes[code] = loginCode{channelID: f.Get("client_id"), redirectURI: f.Get("redirect_uri"), nonce: f.Get("nonce"),
		user: user, expires: s.now().Add(codeTTL)}
	l.mu.Unlock()
	q.Set("code", code)
	redirect.RawQuery = q.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	b, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	writeJSON(w, "", status, b)
}

// handleLoginToken exchanges a code as LINE's token endpoint does.
func (s *Server) handleLoginToken(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, "", http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unreadable form")
		return
	}
	f := r.PostForm
	if f.Get("grant_type") != "authorization_code" {
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be authorization_code")
		return
	}
	l := s.login()
	l.mu.Lock()
	defer l.mu.Unlock()
	secret, ok := l.channels[f.Get("client_id")]
	if !ok || !hmac.Equal([]byte(secret), []byte(f.Get("client_secret"))) {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "invalid client credentials")
		return
	}
	c, ok := l.codes[f.Get("code")]
	delete(l.codes, f.Get("code")) // single use, whatever follows
	now := s.now()
	switch {
	case !ok || now.After(c.expires):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "authorization code is invalid or expired")
		return
	case c.channelID != f.Get("client_id"):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "authorization code was issued to another client")
		return
	case c.redirectURI != f.Get("redirect_uri"):
		writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "redirect_uri does not match")
		return
	}
	claims := map[string]any{
		"iss": sandboxIssuer, "sub": c.user.UserID, "aud": c.channelID,
		"exp": now.Add(time.Hour).Unix(), "iat": now.Unix(), "amr": []string{"linesso"}, "name": c.user.DisplayName,
	}
	if c.nonce != "" {
		claims["nonce"] = c.nonce
	}
	idToken := SignIDToken(claims, secret)
	if l.idHook != nil {
		idToken = l.idHook(claims, secret)
		l.idHook = nil
	}
	l.issued++
	b, _ := json.Marshal(map[string]any{
		"access_token": randomHex(20), "token_type": "Bearer", "expires_in": 2592000,
		"refresh_token": randomHex(16), "scope": "openid profile", "id_token": idToken,
	})
	writeJSON(w, "", http.StatusOK, b)
}

// SignIDToken signs claims as LINE signs ID tokens (HS256 with the channel secret); tests
// use it in NextIDToken hooks.
func SignIDToken(claims map[string]any, secret string) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "HS256"})
	p, _ := json.Marshal(claims)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

// handleBotInfo answers GET /v2/bot/info for the account of the bearer token.
func (s *Server) handleBotInfo(w http.ResponseWriter, r *http.Request) {
	reqID := newRequestID()
	if r.Method != http.MethodGet {
		writeJSON(w, reqID, http.StatusMethodNotAllowed, bodyMethod)
		return
	}
	token, account, ok := s.authenticate(r)
	if !ok {
		writeJSON(w, reqID, http.StatusUnauthorized, bodyAuth)
		return
	}
	l := s.login()
	l.mu.Lock()
	basic, set := l.basicIDs[token]
	l.mu.Unlock()
	sum := sha256.Sum256([]byte(token))
	if !set {
		basic = "@sb" + hex.EncodeToString(sum[:3])
	}
	b, _ := json.Marshal(map[string]string{
		"userId": "U" + hex.EncodeToString(sum[:16]), "basicId": basic, "displayName": account,
		"chatMode": "bot", "markAsReadMode": "auto",
	})
	writeJSON(w, reqID, http.StatusOK, b)
}
