package portaltokens

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/store"
)

const redirect = "https://hubline.example.com/oauth/callback"

type fixture struct {
	sb     *hubspotsandbox.Server
	base   string
	oauth  *hubspot.OAuth
	stores []*store.Store
}

// newFixture starts the HubSpot sandbox as an OAuth app and opens n handles on one
// SQLite database, as n processes would.
func newFixture(t *testing.T, n int) *fixture {
	t.Helper()
	sb := hubspotsandbox.New(hubspotsandbox.Options{OAuth: hubspotsandbox.OAuthOptions{ClientID: "app", ClientSecret: "shh"}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	keys, err := store.ParseKeys(base64.StdEncoding.EncodeToString(raw))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{sb: sb, base: srv.URL, oauth: &hubspot.OAuth{BaseURL: srv.URL, ClientID: "app", ClientSecret: "shh"}}
	dir := t.TempDir()
	for range n {
		st, err := store.Open(context.Background(), "", dir, keys, zaptest.NewLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		f.stores = append(f.stores, st)
	}
	return f
}

// install walks the sandbox's install for portal and stores its tokens, expiring at expires.
func (f *fixture) install(t *testing.T, portal int64, expires time.Time) store.Portal {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(f.base+"/oauth/authorize", url.Values{"client_id": {"app"}, "redirect_uri": {redirect},
		"scope": {"automation"}, "portal_id": {strconv.FormatInt(portal, 10)}, "decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, _ := url.Parse(resp.Header.Get("Location"))
	tok, err := f.oauth.Exchange(context.Background(), loc.Query().Get("code"), redirect)
	if err != nil {
		t.Fatal(err)
	}
	p := store.Portal{PortalID: portal, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken, ExpiresAt: expires, Scopes: []string{"automation"}}
	if err := f.stores[0].PutPortal(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	return p
}

func (f *fixture) source(t *testing.T, i int) *Source {
	return New(Options{Store: f.stores[i], OAuth: f.oauth, Logger: zaptest.NewLogger(t)})
}

// works completes a callback with tok and reports which portal the sandbox saw.
func (f *fixture) works(t *testing.T, tok string, callbackID string) bool {
	t.Helper()
	c := hubspot.NewClient(hubspot.Options{BaseURL: f.base, Tokens: hubspot.StaticToken(tok)})
	return c.CompleteCallback(context.Background(), 0, callbackID, map[string]string{"hs_execution_state": "SUCCESS"}) == nil
}

func TestFreshTokenIsUsedAsStored(t *testing.T) {
	f := newFixture(t, 1)
	p := f.install(t, 11, time.Now().Add(30*time.Minute))
	s := f.source(t, 0)
	for range 3 {
		tok, err := s.PortalToken(context.Background(), 11)
		if err != nil || tok != p.AccessToken {
			t.Fatalf("token %q, %v", tok, err)
		}
	}
	if f.sb.Refreshes(11) != 0 {
		t.Fatalf("a fresh token was refreshed %d times", f.sb.Refreshes(11))
	}
}

func TestExpiringTokenRefreshedOnceForConcurrentCallersAcrossStores(t *testing.T) {
	f := newFixture(t, 2)
	old := f.install(t, 12, time.Now().Add(time.Minute)) // inside the 5-minute margin
	sources := []*Source{f.source(t, 0), f.source(t, 1)}
	var wg sync.WaitGroup
	toks := make([]string, 40)
	errs := make([]error, 40)
	for i := range toks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			toks[i], errs[i] = sources[i%2].PortalToken(context.Background(), 12)
		}()
	}
	wg.Wait()
	for i := range toks {
		if errs[i] != nil || toks[i] == "" || toks[i] == old.AccessToken || toks[i] != toks[0] {
			t.Fatalf("caller %d: %q %v (first %q)", i, toks[i], errs[i], toks[0])
		}
	}
	if n := f.sb.Refreshes(12); n != 1 {
		t.Fatalf("HubSpot saw %d refreshes, want 1", n)
	}
	p, err := f.stores[1].Portal(context.Background(), 12)
	if err != nil || p.AccessToken != toks[0] || !p.ExpiresAt.After(time.Now().Add(25*time.Minute)) || p.RefreshToken != old.RefreshToken {
		t.Fatalf("stored after refresh: %+v %v", p, err)
	}
	if !f.works(t, toks[0], "cb-12") {
		t.Fatal("the refreshed token is refused by HubSpot")
	}
}

func TestRevokedRefreshTokenMarksPortalRevoked(t *testing.T) {
	f := newFixture(t, 1)
	f.install(t, 13, time.Now().Add(-time.Minute))
	f.sb.RevokePortal(13)
	s := f.source(t, 0)
	if _, err := s.PortalToken(context.Background(), 13); !errors.Is(err, hubspot.ErrNotConnected) {
		t.Fatalf("revoked: %v", err)
	}
	p, err := f.stores[0].Portal(context.Background(), 13)
	if err != nil || p.Status != store.StatusRevoked {
		t.Fatalf("stored: %+v %v", p, err)
	}
	// Later callers are refused from the store, without asking HubSpot again.
	if _, err := f.source(t, 0).PortalToken(context.Background(), 13); !errors.Is(err, hubspot.ErrNotConnected) {
		t.Fatalf("second call: %v", err)
	}
	if _, err := s.PortalToken(context.Background(), 99); !errors.Is(err, hubspot.ErrNotConnected) {
		t.Fatalf("unknown portal: %v", err)
	}
	if s.Refused() != 2 {
		t.Fatalf("refused %d", s.Refused())
	}
}

func TestRejectedTokenIsRefreshedEvenBeforeExpiry(t *testing.T) {
	f := newFixture(t, 1)
	p := f.install(t, 14, time.Now().Add(time.Hour))
	s := f.source(t, 0)
	if tok, _ := s.PortalToken(context.Background(), 14); tok != p.AccessToken {
		t.Fatal("stored token not used")
	}
	s.TokenRejected(14, p.AccessToken)
	tok, err := s.PortalToken(context.Background(), 14)
	if err != nil || tok == p.AccessToken || f.sb.Refreshes(14) != 1 {
		t.Fatalf("after a 401: %q %v, refreshes %d", tok, err, f.sb.Refreshes(14))
	}
}
