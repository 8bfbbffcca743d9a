package starter_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap/zaptest"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/portaltokens"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// TestInstalledPortalsActionsCompleteWithTheirOwnTokens runs the real starter and worker
// on temporaltest in multi-portal mode: two portals install through the OAuth flow, each
// one's action is delivered and its callback completed with that portal's token only (one
// of them after its access token expired), and an action from a portal that never
// installed is answered hubspot_not_connected at once.
func TestInstalledPortalsActionsCompleteWithTheirOwnTokens(t *testing.T) {
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	c := ts.GetDefaultClient()
	testenv.AddSearchAttributes(t, c, ts.GetDefaultNamespace())
	a := newApp(t, c, nil)

	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"line-token-1": "account 1"}})
	lsrv := httptest.NewServer(lineBox)
	t.Cleanup(lsrv.Close)
	hc := &http.Client{Timeout: 10 * time.Second}
	lc, err := line.NewClient(lsrv.URL, "line-token-1", hc)
	if err != nil {
		t.Fatal(err)
	}
	log := zaptest.NewLogger(t)
	// The worker reads the tokens through its own handle on the database, as another
	// process would.
	tokens := portaltokens.New(portaltokens.Options{
		Store: a.Store, Logger: log,
		OAuth: &hubspot.OAuth{BaseURL: a.hubspotURL, ClientID: appClientID, ClientSecret: appSecret, HTTPClient: hc},
	})
	acts := &activities.Activities{
		LINE: map[int]*line.Client{1: lc}, Logger: log, Temporal: c,
		HubSpot: hubspot.NewClient(hubspot.Options{BaseURL: a.hubspotURL, PortalTokens: tokens, HTTPClient: hc, Logger: log}),
	}
	w := worker.New(c, acts, 5*time.Second)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	a.install(t, 801)
	a.install(t, 802)
	a.HubSpot.ExpireAccessTokens(802) // 802's stored token is dead: the worker refreshes it

	if r := postAction(t, a.Starter.URL, actionFor(899, "cb-899")); r.OutputFields["error_code"] != "hubspot_not_connected" {
		t.Fatalf("portal that never installed: %s", r.Raw)
	}
	for _, p := range []int64{801, 802} {
		cb := "cb-" + map[int64]string{801: "801", 802: "802"}[p]
		if r := postAction(t, a.Starter.URL, actionFor(p, cb)); r.OutputFields["hs_execution_state"] != "BLOCK" {
			t.Fatalf("portal %d: %s", p, r.Raw)
		}
		var res workflows.SendLineMessageResult
		if err := c.GetWorkflow(t.Context(), workflows.WorkflowID(cb), "").Get(t.Context(), &res); err != nil {
			t.Fatal(err)
		}
		if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.CallbackError != "" {
			t.Fatalf("portal %d: %+v", p, res)
		}
	}
	if n := len(lineBox.Deliveries()); n != 2 {
		t.Fatalf("LINE deliveries %d, want 2 (none for the unconnected portal)", n)
	}
	byPath := map[string][]int64{}
	for _, call := range a.HubSpot.Calls() {
		byPath[call.Path] = append(byPath[call.Path], call.Portal)
	}
	for cb, portal := range map[string]int64{"cb-801": 801, "cb-802": 802} {
		got := byPath["/automation/v4/actions/callbacks/"+cb+"/complete"]
		if len(got) != 1 || got[0] != portal {
			t.Errorf("%s completed with the tokens of portals %v, want only %d", cb, got, portal)
		}
	}
	if a.HubSpot.Refreshes(802) != 1 || a.HubSpot.Refreshes(801) != 0 {
		t.Errorf("refreshes: 801 %d, 802 %d", a.HubSpot.Refreshes(801), a.HubSpot.Refreshes(802))
	}
	if len(a.HubSpot.Callbacks()) != 2 {
		t.Errorf("callbacks %+v", a.HubSpot.Callbacks())
	}
}
