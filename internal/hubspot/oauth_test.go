package hubspot

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
)

const oauthRedirect = "https://hubline.example.com/oauth/callback"

// installCode walks the sandbox's authorize page for portal and returns the code.
func installCode(t *testing.T, base string, portal string) string {
	t.Helper()
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.PostForm(base+"/oauth/authorize", url.Values{"client_id": {"app"}, "redirect_uri": {oauthRedirect},
		"scope": {"automation"}, "portal_id": {portal}, "decision": {"approve"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

func oauthSandbox(t *testing.T) (*hubspotsandbox.Server, *httptest.Server, *OAuth) {
	t.Helper()
	sb := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "static", OAuth: hubspotsandbox.OAuthOptions{ClientID: "app", ClientSecret: "shh"}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, srv, &OAuth{BaseURL: srv.URL, ClientID: "app", ClientSecret: "shh"}
}

func TestOAuthExchangeInfoRefresh(t *testing.T) {
	sb, srv, o := oauthSandbox(t)
	ctx := context.Background()
	code := installCode(t, srv.URL, "31")
	tok, err := o.Exchange(ctx, code, oauthRedirect)
	if err != nil || tok.AccessToken == "" || tok.RefreshToken == "" || tok.ExpiresIn != 30*time.Minute {
		t.Fatalf("exchange: %+v %v", tok, err)
	}
	if _, err := o.Exchange(ctx, code, oauthRedirect); !errors.Is(err, ErrInvalidGrant) || !strings.Contains(err.Error(), "BAD_AUTH_CODE") {
		t.Fatalf("reused code: %v", err)
	}
	info, err := o.TokenInfo(ctx, tok.AccessToken)
	if err != nil || info.HubID != 31 || len(info.Scopes) != 1 {
		t.Fatalf("info: %+v %v", info, err)
	}
	if _, err := o.TokenInfo(ctx, "unknown-token"); err == nil || strings.Contains(err.Error(), "unknown-token") {
		t.Fatalf("unknown token info: %v (errors must not echo tokens)", err)
	}
	next, err := o.Refresh(ctx, tok.RefreshToken)
	if err != nil || next.AccessToken == tok.AccessToken {
		t.Fatalf("refresh: %+v %v", next, err)
	}
	sb.RevokePortal(31)
	if _, err := o.Refresh(ctx, tok.RefreshToken); !errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("revoked refresh: %v", err)
	}
	bad := &OAuth{BaseURL: srv.URL, ClientID: "app", ClientSecret: "wrong"}
	if _, err := bad.Refresh(ctx, tok.RefreshToken); err == nil || errors.Is(err, ErrInvalidGrant) {
		t.Fatalf("a wrong client secret is a configuration error, not a refused grant: %v", err)
	}
}

// portalTokens is a PortalTokenSource over fixed tokens; rejected ones are swapped for
// their replacement, as a store-backed source refreshes.
type portalTokens struct {
	mu       sync.Mutex
	tokens   map[int64]string
	next     map[int64]string
	rejected int
}

func (p *portalTokens) PortalToken(_ context.Context, portal int64) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tok, ok := p.tokens[portal]
	if !ok {
		return "", ErrNotConnected
	}
	return tok, nil
}

func (p *portalTokens) TokenRejected(portal int64, tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rejected++
	if p.tokens[portal] == tok && p.next[portal] != "" {
		p.tokens[portal] = p.next[portal]
	}
}

func TestClientUsesEachPortalsToken(t *testing.T) {
	sb, srv, o := oauthSandbox(t)
	ctx := context.Background()
	a, err := o.Exchange(ctx, installCode(t, srv.URL, "1"), oauthRedirect)
	if err != nil {
		t.Fatal(err)
	}
	b, err := o.Exchange(ctx, installCode(t, srv.URL, "2"), oauthRedirect)
	if err != nil {
		t.Fatal(err)
	}
	sb.ExpireAccessTokens(1) // a's first token is dead: one 401, then the replacement
	fresh, err := o.Refresh(ctx, a.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	pt := &portalTokens{tokens: map[int64]string{1: a.AccessToken, 2: b.AccessToken}, next: map[int64]string{1: fresh.AccessToken}}
	c := NewClient(Options{BaseURL: srv.URL, PortalTokens: pt})
	if err := c.CompleteCallback(ctx, 1, "cb-a", map[string]string{"hs_execution_state": "SUCCESS"}); err != nil {
		t.Fatalf("portal 1: %v", err)
	}
	if err := c.CompleteCallback(ctx, 2, "cb-b", map[string]string{"hs_execution_state": "SUCCESS"}); err != nil {
		t.Fatalf("portal 2: %v", err)
	}
	if err := c.CompleteCallback(ctx, 3, "cb-c", map[string]string{"hs_execution_state": "SUCCESS"}); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("portal 3 has no token: %v", err)
	}
	got := map[string]int64{}
	for _, call := range sb.Calls() {
		got[call.Path] = call.Portal
	}
	if got["/automation/v4/actions/callbacks/cb-a/complete"] != 1 || got["/automation/v4/actions/callbacks/cb-b/complete"] != 2 || pt.rejected != 1 {
		t.Fatalf("calls by portal %v, rejected %d", got, pt.rejected)
	}
}
