package starter_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/portaltokens"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

const (
	canaryState = "CANARY-oauth-state-6a0e.c4f1"
	canaryCode  = "CANARY-oauth-code-1b9d"
)

// TestLogsOfOAuthHoldNoSecrets walks installs through /oauth/install and /oauth/callback
// (approved, denied, forged, expired and reused states, refused codes), then runs actions
// for the installed portals on the worker, which refreshes an expired token and meets a
// revoked one, all with one captured logger: no client secret, state, code, access or
// refresh token, store key, message text or user ID may appear.
func TestLogsOfOAuthHoldNoSecrets(t *testing.T) {
	logs := captureLogs(t)
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseClientOptions(client.Options{Logger: logging.Temporal(logs.Log.Named("temporal"))}))
	c := ts.GetDefaultClient()
	testenv.AddSearchAttributes(t, c, ts.GetDefaultNamespace())

	rawKey := make([]byte, 32)
	_, _ = rand.Read(rawKey)
	storeKey := base64.StdEncoding.EncodeToString(rawKey)
	keys, err := store.ParseKeys(storeKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), "", t.TempDir(), keys, logs.Log.Named("store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })

	a := &app{clock: &clock{}, Store: st}
	a.HubSpot = hubspotsandbox.New(hubspotsandbox.Options{OAuth: hubspotsandbox.OAuthOptions{ClientID: appClientID, ClientSecret: appSecret}})
	hs := httptest.NewServer(a.HubSpot)
	t.Cleanup(hs.Close)
	a.hubspotURL = hs.URL
	srv := starter.New(starter.Options{
		Temporal: c, Logger: logs.Log.Named("starter"), ClientSecret: appSecret, Accounts: map[int]bool{1: false},
		BlockExpiration: 24 * time.Hour, BlockExpirationISO: "P1D", Now: a.clock.now,
		PortalAllowed: func(p int64) bool { return p != 666 },
		OAuth: &starter.OAuthOptions{
			Store: st, ClientID: appClientID, ClientSecret: appSecret, AuthorizeURL: hs.URL + "/oauth/authorize",
			APIBaseURL: hs.URL, Scopes: scopes,
		},
	})
	a.Starter = httptest.NewServer(srv.Handler())
	t.Cleanup(a.Starter.Close)
	srv.SetPublicURL(a.Starter.URL)

	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{canaryLineToken: "account 1"}})
	lsrv := httptest.NewServer(lineBox)
	t.Cleanup(lsrv.Close)
	hc := &http.Client{Timeout: 10 * time.Second}
	lc, err := line.NewClient(lsrv.URL, canaryLineToken, hc)
	if err != nil {
		t.Fatal(err)
	}
	tokens := portaltokens.New(portaltokens.Options{
		Store: st, Logger: logs.Log.Named("portaltokens"),
		OAuth: &hubspot.OAuth{BaseURL: hs.URL, ClientID: appClientID, ClientSecret: appSecret, HTTPClient: hc},
	})
	acts := &activities.Activities{
		LINE: map[int]*line.Client{1: lc}, Logger: logs.Log.Named("activity"), Temporal: c,
		HubSpot: hubspot.NewClient(hubspot.Options{BaseURL: hs.URL, PortalTokens: tokens, HTTPClient: hc, Logger: logs.Log.Named("hubspot")}),
	}
	w := worker.New(c, acts, 5*time.Second)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	seen := canaries{} // states and codes met during the walk, checked as canaries
	page := func(u string, status int, want string) func(t *testing.T) {
		return func(t *testing.T) {
			resp, body := get(t, u)
			if resp.StatusCode != status || !strings.Contains(body, want) {
				t.Fatalf("%s: %d, want %d with %q:\n%s", u, resp.StatusCode, status, want, body)
			}
		}
	}
	callback := func(q url.Values) string { return a.Starter.URL + "/oauth/callback?" + q.Encode() }
	// walk installs portal and records its state and code.
	walk := func(portal int64) func(t *testing.T) {
		return func(t *testing.T) {
			authorize := a.installURL(t)
			back := a.approve(t, authorize, portal)
			u, _ := url.Parse(back)
			seen[fmt.Sprint("install state of portal ", portal)] = authorize.Query().Get("state")
			seen[fmt.Sprint("install code of portal ", portal)] = u.Query().Get("code")
			page(back, http.StatusOK, "hubline is installed")(t)
			page(back, http.StatusBadRequest, "already used")(t)
		}
	}
	action := func(portal int64, cb, state, code string) func(t *testing.T) {
		return func(t *testing.T) {
			body := testenv.Action(cb, map[string]string{"line_user_id": canaryUserID, "message_1": canaryText}, nil)
			body["origin"].(map[string]any)["portalId"] = portal
			// Signed on the starter's clock, which the expired-state case moved.
			b, _ := json.Marshal(body)
			req, _ := http.NewRequest(http.MethodPost, a.Starter.URL+"/actions/send-line-message", bytes.NewReader(b))
			testenv.SignV3(req, b, a.clock.now())
			r := testenv.Do(t, req)
			if state == "" { // answered at once
				if r.OutputFields["error_code"] != code {
					t.Fatalf("answer %s, want %s", r.Raw, code)
				}
				return
			}
			if r.OutputFields["hs_execution_state"] != "BLOCK" {
				t.Fatalf("answer %s", r.Raw)
			}
			var res workflows.SendLineMessageResult
			if err := c.GetWorkflow(t.Context(), workflows.WorkflowID(cb), "").Get(t.Context(), &res); err != nil {
				t.Fatal(err)
			}
			if res.OutputFields["hs_execution_state"] != state || (code != "") != (res.CallbackError != "") {
				t.Fatalf("outcome %+v", res)
			}
		}
	}

	cases := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"install approved", walk(801)},
		{"second portal", walk(802)},
		{"denied", page(callback(url.Values{"error": {"access_denied"}, "state": {canaryState}}), http.StatusBadRequest, "cancelled")},
		{"forged state", page(callback(url.Values{"code": {canaryCode}, "state": {canaryState}}), http.StatusBadRequest, "not valid")},
		{"expired state", func(t *testing.T) {
			state := a.installURL(t).Query().Get("state")
			seen["expired state"] = state
			a.clock.add(11 * time.Minute)
			page(callback(url.Values{"code": {canaryCode}, "state": {state}}), http.StatusBadRequest, "expired")(t)
		}},
		{"code refused by HubSpot", func(t *testing.T) {
			state := a.installURL(t).Query().Get("state")
			seen["state with a refused code"] = state
			page(callback(url.Values{"code": {canaryCode}, "state": {state}}), http.StatusBadRequest, "refused")(t)
		}},
		{"portal not allowed", func(t *testing.T) {
			authorize := a.installURL(t)
			back := a.approve(t, authorize, 666)
			u, _ := url.Parse(back)
			seen["refused portal's code"] = u.Query().Get("code")
			page(back, http.StatusForbidden, "HUBLINE_ALLOWED_PORTALS")(t)
		}},
		{"action of an installed portal", action(801, "log-oauth-801", "SUCCESS", "")},
		{"access token expired: refreshed", func(t *testing.T) {
			a.HubSpot.ExpireAccessTokens(802)
			action(802, "log-oauth-802", "SUCCESS", "")(t)
			if a.HubSpot.Refreshes(802) != 1 {
				t.Fatalf("refreshes %d", a.HubSpot.Refreshes(802))
			}
		}},
		{"portal revoked in HubSpot", func(t *testing.T) {
			a.HubSpot.RevokePortal(801)
			a.HubSpot.ExpireAccessTokens(801)
			action(801, "log-oauth-revoked", "SUCCESS", "callback fails")(t)
		}},
		{"portal never installed", action(899, "log-oauth-899", "", starter.CodeHubSpotNotConnected)},
	}
	secrets := canaries{
		"client secret": appSecret, "forged state": canaryState, "refused code": canaryCode,
		"HubSpot access tokens": "sandbox-access-", "HubSpot refresh tokens": "sandbox-refresh-",
		"store key": storeKey, "LINE channel access token": canaryLineToken, "message text": canaryText,
		"LINE user ID": canaryUserID[1:], "LINE user ID's middle": canaryUserMiddle,
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.run(t)
			logs.assertNoCanaries(t, secrets)
			logs.assertNoCanaries(t, seen)
		})
	}
	if len(seen) < 6 {
		t.Fatalf("states and codes seen: %v", seen)
	}
	logs.assertLogged(t, `"portal installed hubline"`, `"refreshed HubSpot access token"`, `"install callback with an invalid state"`,
		`"HubSpot portal is not connected`, `"hubspot request"`)
}
