package starter

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/hubline/hubline/internal/accounts"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linelogin"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/store"
)

const (
	llChannel = "1650000001"
	llSecret  = "login-secret"
	llPortal  = 1001
	llUser1   = "U0123456789abcdef0123456789abcdef"
	llUser2   = "Ufedcba9876543210fedcba9876543210"
)

// lineLoginEnv is the starter with LINE Login linking on, against the LINE and HubSpot
// sandboxes over HTTP and a real SQLite store.
type lineLoginEnv struct {
	t       *testing.T
	srv     *httptest.Server
	line    *linesandbox.Server
	lineURL string
	hs      *hubspotsandbox.Server
	store   *store.Store
	logs    *bytes.Buffer
	logMu   *sync.Mutex

	mu  sync.Mutex
	now time.Time
}

type lockedBuffer struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (l lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l lockedBuffer) Sync() error { return nil }

func newLineLoginEnv(t *testing.T) *lineLoginEnv {
	t.Helper()
	e := &lineLoginEnv{t: t, now: time.Now(), logs: &bytes.Buffer{}, logMu: &sync.Mutex{}}
	e.line = linesandbox.New(linesandbox.Options{Tokens: map[string]string{"tok-1": "account 1", "tok-2": "account 2"}})
	e.line.AddLoginChannel(llChannel, llSecret)
	e.line.SetBasicID("tok-1", `@hub"><script>alert(1)</script>`)
	lineSrv := httptest.NewServer(e.line)
	t.Cleanup(lineSrv.Close)
	e.lineURL = lineSrv.URL
	e.hs = hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "hs-token"})
	for _, id := range []string{"904", "905"} {
		e.hs.SetContact(id, map[string]string{"firstname": "Contact " + id})
	}
	hsSrv := httptest.NewServer(e.hs)
	t.Cleanup(hsSrv.Close)
	var err error
	if e.store, err = store.Open(context.Background(), "", t.TempDir(), nil, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.store.Close() })
	signer, err := linelogin.NewSigner(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	enc := zap.NewProductionEncoderConfig()
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), lockedBuffer{e.logMu, e.logs}, zap.DebugLevel))
	s := New(Options{
		Logger: log, Now: e.clock,
		// Account 2 has a LINE Login channel but a token LINE refuses; account 3 has none.
		LineAccounts: accounts.Static([]accounts.Account{{Number: 1, AccessToken: "tok-1"}, {Number: 2, AccessToken: "revoked"}, {Number: 3, AccessToken: "tok-2"}}),
	})
	s.UseLineLogin(&LineLoginOptions{
		Signer: signer, Store: e.store, AuthorizeURL: lineSrv.URL + "/oauth2/v2.1/authorize",
		Channels: map[int]LoginChannel{1: {llChannel, llSecret}, 2: {llChannel, llSecret}},
		LINE:     &linelogin.Client{BaseURL: lineSrv.URL},
		HubSpot: hubspot.NewClient(hubspot.Options{BaseURL: hsSrv.URL, Tokens: hubspot.StaticToken("hs-token"),
			HTTPClient: &http.Client{Timeout: 5 * time.Second}}),
		LinkTTL: 30 * 24 * time.Hour,
	})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	s.SetPublicURL(e.srv.URL)
	return e
}

func (e *lineLoginEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *lineLoginEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// createLink runs the action and returns its output fields.
func (e *lineLoginEnv) createLink(callbackID string, contact int64, inputs map[string]string) map[string]string {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{
		"callbackId": callbackID, "origin": map[string]any{"portalId": llPortal, "actionDefinitionId": 9, "actionDefinitionVersion": 1},
		"context": map[string]any{"source": "WORKFLOWS", "workflowId": 5}, "inputFields": inputs,
		"object": map[string]any{"objectId": contact, "objectType": "CONTACT", "properties": map[string]string{}},
	})
	res, err := http.Post(e.srv.URL+"/actions/create-line-link", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		OutputFields map[string]string `json:"outputFields"`
	}
	if err := json.NewDecoder(res.Body).Decode(&out); err != nil || res.StatusCode != http.StatusOK {
		e.t.Fatalf("create-line-link: HTTP %d, %v", res.StatusCode, err)
	}
	return out.OutputFields
}

func (e *lineLoginEnv) link(contact int64) string {
	e.t.Helper()
	out := e.createLink(fmt.Sprintf("cb-%d-%d", contact, time.Now().UnixNano()), contact, map[string]string{"line_account": "1"})
	if out["hs_execution_state"] != "SUCCESS" || out["line_link_url"] == "" {
		e.t.Fatalf("create-line-link outputs: %v", out)
	}
	return out["line_link_url"]
}

func get(t *testing.T, u string) (int, http.Header, string) {
	t.Helper()
	res, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

// open opens a link and returns where it redirects (LINE Login).
func (e *lineLoginEnv) open(link string) string {
	e.t.Helper()
	st, h, body := get(e.t, link)
	if st != http.StatusFound {
		e.t.Fatalf("open link: HTTP %d %s", st, body)
	}
	return h.Get("Location")
}

// approve logs in as user on the LINE sandbox's consent page and returns the callback URL.
func (e *lineLoginEnv) approve(authorize, user string) string {
	e.t.Helper()
	if st, _, body := get(e.t, authorize); st != http.StatusOK {
		e.t.Fatalf("consent page: HTTP %d %s", st, body)
	}
	u, _ := url.Parse(authorize)
	form := u.Query()
	form.Set("decision", "approve")
	form.Set("otherUserId", user)
	res, err := noFollow.PostForm(e.lineURL+"/oauth2/v2.1/authorize", form)
	if err != nil {
		e.t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound {
		e.t.Fatalf("approve: HTTP %d", res.StatusCode)
	}
	return res.Header.Get("Location")
}

func (e *lineLoginEnv) property(contact string) string {
	for _, c := range e.hs.Contacts() {
		if c.ID == contact {
			return c.Properties["line_user_id"]
		}
	}
	return "<no contact>"
}

func (e *lineLoginEnv) mapped(user string) string {
	id, err := e.store.LineContact(context.Background(), 0, 1, user)
	if err != nil {
		return err.Error()
	}
	return id
}

func TestLineLoginLinksAContact(t *testing.T) {
	e := newLineLoginEnv(t)
	link := e.link(904)
	if !strings.HasPrefix(link, e.srv.URL+"/line/link/") {
		t.Fatalf("line_link_url %q is not under HUBLINE_PUBLIC_URL", link)
	}
	// Opening the link twice (a mail scanner, then the person) spends nothing: both work.
	first, second := e.open(link), e.open(link)
	au, _ := url.Parse(second)
	q := au.Query()
	if q.Get("client_id") != llChannel || q.Get("redirect_uri") != e.srv.URL+"/line/login/callback" || q.Get("scope") != "openid profile" ||
		q.Get("response_type") != "code" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.HasPrefix(second, e.lineURL+"/oauth2/v2.1/authorize?") {
		t.Fatalf("redirect to LINE Login: %s", second)
	}
	if u1, _ := url.Parse(first); u1.Query().Get("state") == q.Get("state") || u1.Query().Get("nonce") == q.Get("nonce") {
		t.Error("two openings share a state or nonce")
	}
	callback := e.approve(second, llUser1)
	st, h, page := get(t, callback)
	if st != http.StatusOK || !strings.Contains(page, "Linked with LINE") || !strings.Contains(page, "LINE と連携しました") {
		t.Fatalf("callback: HTTP %d %s", st, page)
	}
	if strings.Contains(page, "<script>alert") || !strings.Contains(page, "&lt;script&gt;") ||
		!strings.Contains(page, `href="https://line.me/R/ti/p/@hub%22%3E%3Cscript%3Ealert%281%29%3C%2Fscript%3E"`) {
		t.Errorf("the bot's basic ID is not escaped on the page:\n%s", page)
	}
	if h.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", h.Get("Cache-Control"))
	}
	if got := e.property("904"); got != llUser1 {
		t.Errorf("contact 904 line_user_id = %q", got)
	}
	if got := e.mapped(llUser1); got != "904" {
		t.Errorf("mapping of user 1 = %q, want 904", got)
	}
	// The first opening still works (same user, same contact: nothing new).
	if st, _, page := get(t, e.approve(first, llUser1)); st != http.StatusOK || !strings.Contains(page, "Linked with LINE") {
		t.Errorf("the first opening: HTTP %d %s", st, page)
	}
	// A callback URL replayed (reused state) is refused before LINE is asked again.
	issued := e.line.IDTokensIssued()
	if st, _, page := get(t, callback); st != http.StatusBadRequest || !strings.Contains(page, "already used") {
		t.Errorf("reused state: HTTP %d %s", st, page)
	}
	if e.line.IDTokensIssued() != issued {
		t.Error("a reused state exchanged a code")
	}
	e.checkLogs(link, callback)
}

func TestLineLoginRefusals(t *testing.T) {
	e := newLineLoginEnv(t)
	link := e.link(905)
	unchanged := func(name string) {
		t.Helper()
		if got := e.property("905"); got != "" {
			t.Errorf("%s: contact 905 line_user_id = %q, want unchanged", name, got)
		}
		if got := e.mapped(llUser2); !strings.Contains(got, "not found") {
			t.Errorf("%s: user 2 mapped to %q", name, got)
		}
	}

	// Links: tampered or from another key, expired.
	tok := strings.TrimPrefix(link, e.srv.URL+"/line/link/")
	flipped := []byte(tok)
	flipped[len(flipped)/2] ^= 1
	for name, u := range map[string]string{
		"tampered link": e.srv.URL + "/line/link/" + string(flipped),
		"garbage link":  e.srv.URL + "/line/link/%3Cscript%3E",
	} {
		if st, _, page := get(t, u); st != http.StatusNotFound || !strings.Contains(page, "not valid") || strings.Contains(page, "<script>") {
			t.Errorf("%s: HTTP %d %s", name, st, page)
		}
	}

	// States: tampered, expired, and a LINE Login that was cancelled.
	callback := e.approve(e.open(link), llUser2)
	cu, _ := url.Parse(callback)
	q := cu.Query()
	state := []byte(q.Get("state"))
	state[3] ^= 1
	q.Set("state", string(state))
	cu.RawQuery = q.Encode()
	if st, _, page := get(t, cu.String()); st != http.StatusBadRequest || !strings.Contains(page, "not valid") {
		t.Errorf("tampered state: HTTP %d %s", st, page)
	}
	unchanged("tampered state")
	slow := e.open(link)
	e.advance(11 * time.Minute)
	if st, _, page := get(t, e.approve(slow, llUser2)); st != http.StatusBadRequest || !strings.Contains(page, "10 minutes") {
		t.Errorf("expired state: HTTP %d %s", st, page)
	}
	unchanged("expired state")

	// ID tokens LINE would never issue for this login.
	for name, forge := range map[string]func(c map[string]any, secret string) string{
		"wrong signature": func(c map[string]any, _ string) string { return linesandbox.SignIDToken(c, "not-the-secret") },
		"wrong audience":  func(c map[string]any, s string) string { c["aud"] = "1659999999"; return linesandbox.SignIDToken(c, s) },
		"wrong issuer": func(c map[string]any, s string) string {
			c["iss"] = "https://evil.example"
			return linesandbox.SignIDToken(c, s)
		},
		"wrong nonce": func(c map[string]any, s string) string { c["nonce"] = "other"; return linesandbox.SignIDToken(c, s) },
		"expired": func(c map[string]any, s string) string {
			c["exp"] = time.Now().Add(-time.Hour).Unix()
			return linesandbox.SignIDToken(c, s)
		},
	} {
		e.line.NextIDToken(forge)
		if st, _, page := get(t, e.approve(e.open(link), llUser2)); st != http.StatusBadRequest || !strings.Contains(page, "could not be verified") {
			t.Errorf("%s: HTTP %d %s", name, st, page)
		}
		unchanged(name)
	}

	// The callback's request (state included) is checked before anything else.
	au, _ := url.Parse(e.open(link))
	cancelled := e.srv.URL + "/line/login/callback?error=access_denied&state=" + url.QueryEscape(au.Query().Get("state"))
	if st, _, page := get(t, cancelled); st != http.StatusBadRequest || !strings.Contains(page, "cancelled") {
		t.Errorf("cancelled login: HTTP %d %s", st, page)
	}
	unchanged("cancelled")

	// An expired link.
	e.advance(31 * 24 * time.Hour)
	if st, _, page := get(t, link); st != http.StatusGone || !strings.Contains(page, "expired") {
		t.Errorf("expired link: HTTP %d %s", st, page)
	}
	e.checkLogs(link)
}

func TestLineLoginUserOnAnotherContactChangesNothing(t *testing.T) {
	e := newLineLoginEnv(t)
	if st, _, page := get(t, e.approve(e.open(e.link(904)), llUser1)); st != http.StatusOK {
		t.Fatalf("first link: HTTP %d %s", st, page)
	}
	st, _, page := get(t, e.approve(e.open(e.link(905)), llUser1))
	if st != http.StatusConflict || !strings.Contains(page, "another contact") || !strings.Contains(page, "別の連絡先") {
		t.Fatalf("second contact: HTTP %d %s", st, page)
	}
	if e.property("905") != "" || e.property("904") != llUser1 || e.mapped(llUser1) != "904" {
		t.Errorf("after the refusal: 904=%q 905=%q mapping=%q", e.property("904"), e.property("905"), e.mapped(llUser1))
	}
}

func TestLineLoginFailuresKeepTheLinkUsable(t *testing.T) {
	e := newLineLoginEnv(t)
	link := e.link(904)
	e.hs.FailNext("/crm/v3/objects/contacts", http.StatusServiceUnavailable, 1)
	if st, _, page := get(t, e.approve(e.open(link), llUser1)); st != http.StatusBadGateway || !strings.Contains(page, "try again later") {
		t.Fatalf("HubSpot 503: HTTP %d %s", st, page)
	}
	if e.property("904") != "" || !strings.Contains(e.mapped(llUser1), "not found") {
		t.Errorf("after HubSpot's 503: property %q, mapping %q", e.property("904"), e.mapped(llUser1))
	}
	if st, _, page := get(t, e.approve(e.open(link), llUser1)); st != http.StatusOK {
		t.Fatalf("the link after the failure: HTTP %d %s", st, page)
	}
	if e.property("904") != llUser1 || e.mapped(llUser1) != "904" {
		t.Errorf("after the retry: property %q, mapping %q", e.property("904"), e.mapped(llUser1))
	}
	// A contact HubSpot does not have: final, and nothing recorded.
	if st, _, page := get(t, e.approve(e.open(e.link(999)), llUser2)); st != http.StatusBadGateway || !strings.Contains(page, "did not accept") {
		t.Errorf("unknown contact: HTTP %d %s", st, page)
	}
	if got := e.mapped(llUser2); !strings.Contains(got, "not found") {
		t.Errorf("unknown contact: user 2 mapped to %q", got)
	}
	// LINE refuses the account's token (bot info): retry later, nothing changed.
	out := e.createLink("cb-acct-2", 905, map[string]string{"line_account": "2"})
	if st, _, page := get(t, e.approve(e.open(out["line_link_url"]), llUser2)); st != http.StatusBadGateway || !strings.Contains(page, "try again later") {
		t.Errorf("LINE bot info 401: HTTP %d %s", st, page)
	}
	if e.property("905") != "" {
		t.Errorf("LINE failure changed contact 905")
	}
}

func TestCreateLineLinkAnswers(t *testing.T) {
	e := newLineLoginEnv(t)
	a, b := e.createLink("cb-same", 904, map[string]string{}), e.createLink("cb-same", 904, map[string]string{})
	for _, out := range []map[string]string{a, b} {
		if out["hs_execution_state"] != "SUCCESS" {
			t.Fatalf("redelivered execution: %v", out)
		}
		e.open(out["line_link_url"]) // each is a valid link (to the same contact)
	}
	for name, tc := range map[string]struct {
		inputs map[string]string
		code   string
	}{
		"no login channel": {map[string]string{"line_account": "3"}, CodeLineLoginNotConfigured},
		"unknown account":  {map[string]string{"line_account": "9"}, CodeUnknownLineAccount},
		"bad account":      {map[string]string{"line_account": "x"}, CodeInvalidLineAccount},
		"unknown input":    {map[string]string{"lineAccount": "1"}, CodeInvalidInput},
	} {
		out := e.createLink("cb-"+strings.ReplaceAll(name, " ", "-"), 904, tc.inputs)
		if out["hs_execution_state"] != "FAIL_CONTINUE" || out["error_code"] != tc.code || out["line_link_url"] != "" {
			t.Errorf("%s: %v, want FAIL_CONTINUE %s", name, out, tc.code)
		}
	}
	if out := e.createLink("cb-no-object", 0, map[string]string{}); out["error_code"] != CodeMissingObjectID {
		t.Errorf("no objectId: %v", out)
	}
}

// checkLogs: no LINE user ID, link or state token, code or ID token in the log.
func (e *lineLoginEnv) checkLogs(secrets ...string) {
	e.t.Helper()
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	if !strings.Contains(logs, "LINE") {
		e.t.Fatalf("no log lines captured")
	}
	for _, s := range append(secrets, llUser1, llUser2, llSecret) {
		for _, part := range []string{s, url.QueryEscape(s)} {
			if u, err := url.Parse(part); err == nil && u.RawQuery != "" {
				for _, vs := range u.Query() {
					for _, v := range vs {
						if len(v) > 8 && strings.Contains(logs, v) {
							e.t.Errorf("a query value of %s is in the logs", u.Path)
						}
					}
				}
			}
			if strings.Contains(logs, part) {
				e.t.Errorf("logs contain %q", part)
			}
		}
		if i := strings.LastIndex(s, "/"); i >= 0 && len(s)-i > 10 && strings.Contains(logs, s[i+1:]) {
			e.t.Errorf("logs contain the token of %q", s)
		}
	}
}
