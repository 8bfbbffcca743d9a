package starter_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap/zaptest"

	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
)

const (
	appClientID = "hubline-app"
	appSecret   = testenv.Secret // signs HubSpot's requests and the install states alike
)

var scopes = []string{"automation", "oauth", "crm.objects.contacts.read"}

// noFollow leaves redirects to the test, which walks the install like a browser.
var noFollow = &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// app is a multi-portal starter with its store and the HubSpot sandbox as the app's HubSpot.
type app struct {
	HubSpot    *hubspotsandbox.Server
	hubspotURL string
	Store      *store.Store
	Starter    *httptest.Server
	clock      *clock
}

type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return time.Now().Add(c.off) }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.off += d; c.mu.Unlock() }

func openStore(t *testing.T, dir string) *store.Store {
	t.Helper()
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	keys, err := store.ParseKeys(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "", dir, keys, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// newApp starts the HubSpot sandbox (as the app's HubSpot) and a starter in multi-portal
// mode; tc, when not nil, is the Temporal client actions start workflows with.
func newApp(t *testing.T, tc client.Client, allowed func(int64) bool) *app {
	t.Helper()
	a := &app{clock: &clock{}}
	a.HubSpot = hubspotsandbox.New(hubspotsandbox.Options{OAuth: hubspotsandbox.OAuthOptions{ClientID: appClientID, ClientSecret: appSecret}})
	hs := httptest.NewServer(a.HubSpot)
	t.Cleanup(hs.Close)
	a.hubspotURL = hs.URL
	a.Store = openStore(t, t.TempDir())
	st := starter.New(starter.Options{
		Temporal: tc, Logger: zaptest.NewLogger(t), ClientSecret: appSecret, Accounts: map[int]bool{1: false},
		BlockExpiration: 24 * time.Hour, BlockExpirationISO: "P1D", Now: a.clock.now, PortalAllowed: allowed,
		OAuth: &starter.OAuthOptions{
			Store: a.Store, ClientID: appClientID, ClientSecret: appSecret, AuthorizeURL: hs.URL + "/oauth/authorize",
			APIBaseURL: hs.URL, Scopes: scopes,
		},
	})
	a.Starter = httptest.NewServer(st.Handler())
	t.Cleanup(a.Starter.Close)
	st.SetPublicURL(a.Starter.URL)
	return a
}

func get(t *testing.T, u string) (*http.Response, string) {
	t.Helper()
	resp, err := noFollow.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// installURL follows /oauth/install to HubSpot's authorize page and returns its URL.
func (a *app) installURL(t *testing.T) *url.URL {
	t.Helper()
	resp, _ := get(t, a.Starter.URL+"/oauth/install")
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("install: %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// approve picks portal on the authorize stand-in and returns the callback URL HubSpot
// sends the browser to.
func (a *app) approve(t *testing.T, authorize *url.URL, portal int64) string {
	t.Helper()
	q := authorize.Query()
	form := url.Values{"portal_id": {strconv.FormatInt(portal, 10)}, "decision": {"approve"}}
	for _, k := range []string{"client_id", "redirect_uri", "scope", "state"} {
		form.Set(k, q.Get(k))
	}
	resp, err := noFollow.PostForm(a.hubspotURL+"/oauth/authorize", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

// install walks a whole install for portal and checks the success page.
func (a *app) install(t *testing.T, portal int64) {
	t.Helper()
	resp, page := get(t, a.approve(t, a.installURL(t), portal))
	if resp.StatusCode != http.StatusOK || !strings.Contains(page, "hubline accounts add --portal "+strconv.FormatInt(portal, 10)) ||
		!strings.Contains(page, "インストールが完了しました") {
		t.Fatalf("callback: %d %s", resp.StatusCode, page)
	}
}

func (a *app) portals(t *testing.T) []store.Portal {
	t.Helper()
	ps, err := a.Store.Portals(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestInstallRedirectCarriesEverything(t *testing.T) {
	a := newApp(t, nil, nil)
	u := a.installURL(t)
	q := u.Query()
	if u.Scheme+"://"+u.Host+u.Path != a.hubspotURL+"/oauth/authorize" || q.Get("client_id") != appClientID ||
		q.Get("redirect_uri") != a.Starter.URL+"/oauth/callback" || q.Get("scope") != strings.Join(scopes, " ") {
		t.Fatalf("authorize URL %s", u)
	}
	if st := q.Get("state"); len(st) < 40 || !strings.Contains(st, ".") || st == a.installURL(t).Query().Get("state") {
		t.Fatalf("state %q: want a signed value, new for every install", st)
	}
}

func TestCallbackStoresTokens(t *testing.T) {
	a := newApp(t, nil, nil)
	a.install(t, 501)
	ps := a.portals(t)
	if len(ps) != 1 || ps[0].PortalID != 501 || ps[0].Status != store.StatusConnected || ps[0].AccessToken == "" ||
		ps[0].RefreshToken == "" || ps[0].ExpiresAt.Before(time.Now().Add(25*time.Minute)) || len(ps[0].Scopes) != len(scopes) {
		t.Fatalf("stored %+v", ps)
	}
	if a.HubSpot.Exchanges(501) != 1 {
		t.Fatalf("exchanges %d", a.HubSpot.Exchanges(501))
	}
}

func TestInstallStateRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mangle func(t *testing.T, a *app, callback string) string
		want   string
	}{
		{"tampered", func(t *testing.T, a *app, cb string) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			st := []byte(q.Get("state"))
			st[3] ^= 1 // one bit of the signed payload
			q.Set("state", string(st))
			u.RawQuery = q.Encode()
			return u.String()
		}, "not valid"},
		{"missing", func(t *testing.T, a *app, cb string) string {
			u, _ := url.Parse(cb)
			q := u.Query()
			q.Del("state")
			u.RawQuery = q.Encode()
			return u.String()
		}, "not valid"},
		{"expired", func(t *testing.T, a *app, cb string) string {
			a.clock.add(11 * time.Minute)
			return cb
		}, "expired"},
		{"replayed", nil, "install link was already used"}, // the first use succeeds, below
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newApp(t, nil, nil)
			cb := a.approve(t, a.installURL(t), 502)
			if tc.mangle == nil {
				if resp, page := get(t, cb); resp.StatusCode != 200 {
					t.Fatalf("first use: %d %s", resp.StatusCode, page)
				}
			} else {
				cb = tc.mangle(t, a, cb)
			}
			resp, page := get(t, cb)
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, tc.want) || !strings.Contains(page, "/oauth/install") {
				t.Fatalf("%d %s", resp.StatusCode, page)
			}
			want := 0
			if tc.name == "replayed" {
				want = 1 // the first use
			}
			if n := a.HubSpot.Exchanges(502); n != want || len(a.portals(t)) != want {
				t.Fatalf("exchanges %d, portals %d: want %d", n, len(a.portals(t)), want)
			}
		})
	}
}

func TestInstallCodeReuseRefused(t *testing.T) {
	a := newApp(t, nil, nil)
	cb := a.approve(t, a.installURL(t), 503)
	if resp, _ := get(t, cb); resp.StatusCode != 200 {
		t.Fatal("first install failed")
	}
	// The same code again, with a fresh valid state: HubSpot refuses the code.
	u, _ := url.Parse(cb)
	q := u.Query()
	q.Set("state", a.installURL(t).Query().Get("state"))
	u.RawQuery = q.Encode()
	resp, page := get(t, u.String())
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "already used or has expired") {
		t.Fatalf("%d %s", resp.StatusCode, page)
	}
}

func TestInstallDeniedAndPortalNotAllowed(t *testing.T) {
	a := newApp(t, nil, func(p int64) bool { return p == 600 })
	resp, page := get(t, a.Starter.URL+"/oauth/callback?error=access_denied&error_description=no&state=x")
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "cancelled") || !strings.Contains(page, "キャンセル") {
		t.Fatalf("denied: %d %s", resp.StatusCode, page)
	}
	resp, page = get(t, a.approve(t, a.installURL(t), 601))
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "HUBLINE_ALLOWED_PORTALS") || len(a.portals(t)) != 0 {
		t.Fatalf("not allowed: %d %s, portals %d", resp.StatusCode, page, len(a.portals(t)))
	}
	a.install(t, 600)
}

// post sends a signed action request to srv.
func postAction(t *testing.T, srv string, body map[string]any) testenv.Response {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, srv+"/actions/send-line-message", bytes.NewReader(b))
	testenv.SignV3(req, b, time.Now())
	return testenv.Do(t, req)
}

func actionFor(portal int64, callbackID string) map[string]any {
	body := testenv.Action(callbackID, map[string]string{"line_user_id": testenv.UserID, "message_1": "hello"}, nil)
	body["origin"].(map[string]any)["portalId"] = portal
	return body
}

func TestActionsFromPortalsNotConnectedAnsweredAtOnce(t *testing.T) {
	// No Temporal client at all: an action that got past the check would fail loudly.
	a := newApp(t, nil, func(p int64) bool { return p != 666 })
	a.install(t, 700)
	if err := a.Store.MarkPortalRevoked(context.Background(), 700); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		portal int64
		want   string
	}{{701, "has not installed"}, {700, "revoked"}, {666, "HUBLINE_ALLOWED_PORTALS"}} {
		r := postAction(t, a.Starter.URL, actionFor(tc.portal, "cb-"+strconv.FormatInt(tc.portal, 10)))
		if r.Status != 200 || r.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || r.OutputFields["error_code"] != "hubspot_not_connected" ||
			!strings.Contains(r.OutputFields["error_message"], tc.want) {
			t.Errorf("portal %d: %d %s", tc.portal, r.Status, r.Raw)
		}
	}
}

func TestSingleportalModeHasNoInstallButKeepsAllowedPortals(t *testing.T) {
	st := starter.New(starter.Options{ClientSecret: appSecret, Accounts: map[int]bool{1: false}, BlockExpirationISO: "P1D",
		PortalAllowed: func(p int64) bool { return p == 1 }})
	srv := httptest.NewServer(st.Handler())
	t.Cleanup(srv.Close)
	st.SetPublicURL(srv.URL)
	if resp, body := get(t, srv.URL+"/oauth/install"); resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "single-portal") {
		t.Fatalf("install in single-portal mode: %d %s", resp.StatusCode, body)
	}
	if r := postAction(t, srv.URL, actionFor(2, "cb-single")); r.OutputFields["error_code"] != "hubspot_not_connected" {
		t.Fatalf("portal outside HUBLINE_ALLOWED_PORTALS: %s", r.Raw)
	}
}
