package hubspotsandbox

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testClientID = "client-1"
	testSecret   = "secret-1"
	testRedirect = "https://hubline.example.com/oauth/callback"
)

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func oauthSandbox(t *testing.T) (*Server, *httptest.Server) {
	t.Helper()
	s := New(Options{AccessToken: "static-token", OAuth: OAuthOptions{ClientID: testClientID, ClientSecret: testSecret}})
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

// approve submits the authorize page's form and returns the redirect's query.
func approve(t *testing.T, base string, portal, decision, redirect string) url.Values {
	t.Helper()
	resp, err := noRedirect.PostForm(base+"/oauth/authorize", url.Values{
		"client_id": {testClientID}, "redirect_uri": {redirect}, "scope": {"automation oauth"},
		"state": {"st-1"}, "portal_id": {portal}, "decision": {decision},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize decision: %d", resp.StatusCode)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	want, _ := url.Parse(redirect)
	if err != nil || loc.Host != want.Host || loc.Path != want.Path {
		t.Fatalf("redirect %q", resp.Header.Get("Location"))
	}
	return loc.Query()
}

func postToken(t *testing.T, base string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := http.PostForm(base+"/oauth/v1/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func exchangeForm(code, redirect string) url.Values {
	return url.Values{"grant_type": {"authorization_code"}, "client_id": {testClientID}, "client_secret": {testSecret},
		"redirect_uri": {redirect}, "code": {code}}
}

func complete(t *testing.T, base, token, callbackID string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/automation/v4/actions/callbacks/"+callbackID+"/complete",
		strings.NewReader(`{"outputFields":{"hs_execution_state":"SUCCESS"}}`))
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestAuthorizePage(t *testing.T) {
	_, srv := oauthSandbox(t)
	for _, tc := range []struct {
		name, query string
		status      int
		contains    string
	}{
		{"valid", "client_id=client-1&redirect_uri=" + url.QueryEscape(testRedirect) + "&scope=automation&state=abc", 200, `name="state" value="abc"`},
		{"unknown client", "client_id=other&redirect_uri=" + url.QueryEscape(testRedirect) + "&scope=automation", 400, "client_id"},
		{"relative redirect", "client_id=client-1&redirect_uri=/cb&scope=automation", 400, "redirect_uri"},
		{"no scope", "client_id=client-1&redirect_uri=" + url.QueryEscape(testRedirect), 400, "scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + "/oauth/authorize?" + tc.query)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.contains) {
				t.Fatalf("%d %s", resp.StatusCode, b)
			}
		})
	}
}

func TestOAuthCodeExchangeRefreshAndRevoke(t *testing.T) {
	s, srv := oauthSandbox(t)
	q := approve(t, srv.URL, "4242", "approve", testRedirect)
	if q.Get("state") != "st-1" || q.Get("code") == "" {
		t.Fatalf("redirect query %v", q)
	}
	code := q.Get("code")

	if st, out := postToken(t, srv.URL, exchangeForm(code, "https://elsewhere.example.com/cb")); st != 400 || out["status"] != "BAD_REDIRECT_URI" {
		t.Fatalf("redirect mismatch: %d %v", st, out)
	}
	bad := exchangeForm(code, testRedirect)
	bad.Set("client_secret", "wrong")
	if st, out := postToken(t, srv.URL, bad); st != 400 || out["status"] != "BAD_CLIENT_SECRET" {
		t.Fatalf("bad secret: %d %v", st, out)
	}
	st, tok := postToken(t, srv.URL, exchangeForm(code, testRedirect))
	if st != 200 || tok["access_token"] == "" || tok["refresh_token"] == "" || tok["expires_in"] != float64(1800) {
		t.Fatalf("exchange: %d %v", st, tok)
	}
	if st, out := postToken(t, srv.URL, exchangeForm(code, testRedirect)); st != 400 || out["status"] != "BAD_AUTH_CODE" {
		t.Fatalf("reused code: %d %v", st, out)
	}
	access, refresh := tok["access_token"].(string), tok["refresh_token"].(string)

	resp, err := http.Get(srv.URL + "/oauth/v1/access-tokens/" + access)
	if err != nil {
		t.Fatal(err)
	}
	var info map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&info)
	resp.Body.Close()
	if resp.StatusCode != 200 || info["hub_id"] != float64(4242) {
		t.Fatalf("token info: %d %v", resp.StatusCode, info)
	}

	if st := complete(t, srv.URL, access, "cb-1"); st != 204 {
		t.Fatalf("API call with the OAuth token: %d", st)
	}
	if st := complete(t, srv.URL, "static-token", "cb-2"); st != 204 {
		t.Fatalf("the static token still works: %d", st)
	}
	calls := s.Calls()
	if len(calls) != 1 || calls[0].Portal != 4242 || calls[0].Path != "/automation/v4/actions/callbacks/cb-1/complete" {
		t.Fatalf("calls %+v", calls)
	}

	s.ExpireAccessTokens(4242)
	if st := complete(t, srv.URL, access, "cb-3"); st != 401 {
		t.Fatalf("expired token: %d", st)
	}
	st, next := postToken(t, srv.URL, url.Values{"grant_type": {"refresh_token"}, "client_id": {testClientID},
		"client_secret": {testSecret}, "refresh_token": {refresh}})
	if st != 200 || next["access_token"] == access || next["refresh_token"] != refresh || s.Refreshes(4242) != 1 {
		t.Fatalf("refresh: %d %v (refreshes %d)", st, next, s.Refreshes(4242))
	}
	if st := complete(t, srv.URL, next["access_token"].(string), "cb-3"); st != 204 {
		t.Fatalf("refreshed token: %d", st)
	}

	s.RevokePortal(4242)
	st, out := postToken(t, srv.URL, url.Values{"grant_type": {"refresh_token"}, "client_id": {testClientID},
		"client_secret": {testSecret}, "refresh_token": {refresh}})
	if st != 400 || out["status"] != "BAD_REFRESH_TOKEN" {
		t.Fatalf("revoked refresh: %d %v", st, out)
	}
}

func TestOAuthDenyAndShortTokens(t *testing.T) {
	s, srv := oauthSandbox(t)
	q := approve(t, srv.URL, "1", "deny", testRedirect+"?keep=1")
	if q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Get("code") != "" || q.Get("keep") != "1" {
		t.Fatalf("deny: %v", q)
	}
	s.SetAccessTokenTTL(50 * time.Millisecond)
	code := approve(t, srv.URL, "7", "approve", testRedirect).Get("code")
	_, tok := postToken(t, srv.URL, exchangeForm(code, testRedirect))
	time.Sleep(100 * time.Millisecond)
	if st := complete(t, srv.URL, tok["access_token"].(string), "cb-x"); st != 401 {
		t.Fatalf("a token past its TTL: %d", st)
	}
	if st, _ := postToken(t, srv.URL, url.Values{"grant_type": {"password"}, "client_id": {testClientID}, "client_secret": {testSecret}}); st != 400 {
		t.Fatalf("unknown grant: %d", st)
	}
}
