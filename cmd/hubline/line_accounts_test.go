package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/internal/testenv"
)

// TestStoredAccountAddedWhileRunning runs `hubline worker` and `hubline starter` with a
// database (multi-portal mode) and a portal that owns no account yet. A LINE account stored
// for it while both run is used without a restart: by Send LINE Message (v1) and by the
// queue, whose send units need that account's own worker on hubline-line-<n>. The LINE
// sandbox only accepts the stored account's token for it.
func TestStoredAccountAddedWhileRunning(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const portal, otherPortal = 102670506, 777
	ts := temporaltest.NewServer(temporaltest.WithT(t))
	testenv.AddSearchAttributes(t, ts.GetDefaultClient(), ts.GetDefaultNamespace())
	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{
		"env-line-token": "environment account", "stored-line-token": "stored account"}})
	lineSrv := httptest.NewServer(lineBox)
	defer lineSrv.Close()
	hsBox := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "portal-hubspot-token"})
	hsSrv := httptest.NewServer(hsBox)
	defer hsSrv.Close()

	ctx := context.Background()
	dataDir := t.TempDir()
	keys, err := store.ParseKeys(payloadKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "", dataDir, keys, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.PutPortal(ctx, store.Portal{PortalID: portal, AccessToken: "portal-hubspot-token", RefreshToken: "refresh",
		ExpiresAt: time.Now().Add(6 * time.Hour), Scopes: []string{"automation"}}); err != nil {
		t.Fatal(err)
	}

	httpAddr := freeAddr(t)
	env := []string{
		"TEMPORAL_ADDRESS=" + ts.GetFrontendHostPort(), "TEMPORAL_NAMESPACE=" + ts.GetDefaultNamespace(),
		"HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_PUBLIC_URL=https://hubline.example.com",
		"HUBSPOT_CLIENT_ID=app-client", "HUBSPOT_CLIENT_SECRET=prod-secret", "HUBSPOT_API_BASE_URL=" + hsSrv.URL,
		"HUBLINE_DATA_DIR=" + dataDir, "HUBLINE_SECRET_KEY=" + payloadKey,
		// The environment's account belongs to another portal.
		"LINE_CHANNEL_ACCESS_TOKEN=env-line-token", "LINE_CHANNEL_PORTAL=777", "LINE_API_BASE_URL=" + lineSrv.URL,
		"HUBLINE_SHUTDOWN_TIMEOUT=5s",
	}
	wcmd, wlogs := startCommand(t, "worker", env, "worker polling")
	scmd, slogs := startCommand(t, "starter", env, "starter listening")

	post := func(path, callbackID string, inputs map[string]string) map[string]string {
		t.Helper()
		body, _ := json.Marshal(testenv.Action(callbackID, inputs, nil))
		req, _ := http.NewRequest(http.MethodPost, "http://"+httpAddr+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Signature-Version", "v2")
		req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("prod-secret", http.MethodPost, "https://hubline.example.com"+path, body))
		resp, err := testenv.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct{ OutputFields map[string]string }
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != 200 {
			t.Fatalf("%s answered %d\n%s", path, resp.StatusCode, slogs.String())
		}
		return out.OutputFields
	}
	msg := map[string]string{"line_user_id": testenv.UserID, "message_1": "hello"}
	if out := post("/actions/send-line-message", "ap-acct-0", msg); out["error_code"] != "unknown_line_account" {
		t.Fatalf("before its account is stored, the portal may not send through the other portal's: %v", out)
	}

	a, err := st.AddAccount(ctx, store.Account{PortalID: portal, Name: "Shop", AccessToken: "stored-line-token",
		ChannelSecret: "channel-secret", PushRate: 50}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if a.Number != 2 {
		t.Fatalf("stored account number %d, want 2", a.Number)
	}
	if out := post("/actions/send-line-message", "ap-acct-1", msg); out["hs_execution_state"] != "BLOCK" {
		t.Fatalf("v1 through the new account (empty line_account): %v", out)
	}
	queued := map[string]string{"line_user_id": testenv.UserID, "message_1": "queued hello", "line_account": "2"}
	if out := post("/actions/send-line-message-queue", "ap-acct-2", queued); out["hs_execution_state"] != "BLOCK" {
		t.Fatalf("queue through the new account: %v", out)
	}
	if out := post("/actions/send-line-message", "ap-acct-3", map[string]string{
		"line_user_id": testenv.UserID, "message_1": "hi", "line_account": "1"}); out["error_code"] != "unknown_line_account" {
		t.Fatalf("the other portal's environment account: %v", out)
	}

	testenv.Eventually(t, "two callbacks", 60*time.Second, func() bool { return len(hsBox.Callbacks()) >= 2 })
	for _, cb := range hsBox.Callbacks() {
		if cb.OutputFields["hs_execution_state"] != "SUCCESS" {
			t.Fatalf("callback %+v\nworker:\n%s", cb, wlogs.String())
		}
	}
	ds := lineBox.Deliveries()
	if len(ds) != 2 || ds[0].Account != "stored account" || ds[1].Account != "stored account" {
		t.Fatalf("LINE deliveries %+v, want both with the stored account's token", ds)
	}
	if !strings.Contains(wlogs.String(), "stored LINE account served") {
		t.Errorf("worker did not log serving the stored account:\n%s", wlogs.String())
	}
	for _, secret := range []string{"stored-line-token", "channel-secret", "portal-hubspot-token"} {
		if strings.Contains(wlogs.String()+slogs.String(), secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	stopCommand(t, scmd, slogs)
	stopCommand(t, wcmd, wlogs)
}

// TestLineChannelPortalAssignsEnvironmentAccounts: LINE_CHANNEL_PORTAL_<n> read by the
// starter as `hubline starter` builds it (no database): each portal lists and uses its own
// environment accounts and the unassigned one, never the other portal's.
func TestLineChannelPortalAssignsEnvironmentAccounts(t *testing.T) {
	cfg, err := config.Load([]string{
		"HUBSPOT_CLIENT_SECRET=prod-secret", "HUBLINE_PUBLIC_URL=https://hubline.example.com",
		"LINE_CHANNEL_ACCESS_TOKEN=t1", "LINE_CHANNEL_ACCESS_TOKEN_2=t2", "LINE_CHANNEL_ACCESS_TOKEN_3=t3",
		"LINE_CHANNEL_PORTAL_2=111", "LINE_CHANNEL_PORTAL_3=222",
	})
	if err != nil {
		t.Fatal(err)
	}
	lines, closeLines, err := openLineAccounts(context.Background(), cfg, zap.NewNop(), false)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLines()
	unreachable, err := client.NewLazyClient(client.Options{HostPort: freeAddr(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	st := newStarter(cfg, unreachable, zap.NewNop(), nil, nil)
	st.UseLineAccounts(lines)
	srv := httptest.NewServer(st.Handler())
	defer srv.Close()
	post := func(path string, body any) string {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Signature-Version", "v2")
		req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("prod-secret", http.MethodPost, "https://hubline.example.com"+path, b))
		resp, err := testenv.HTTP.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out bytes.Buffer
		_, _ = out.ReadFrom(resp.Body)
		return out.String()
	}
	for portal, want := range map[int64]string{
		111: `{"options":[{"label":"LINE account 1","value":"1"},{"label":"LINE account 2","value":"2"}]}`,
		222: `{"options":[{"label":"LINE account 1","value":"1"},{"label":"LINE account 3","value":"3"}]}`,
	} {
		if got := post("/actions/options/line-account", map[string]any{"origin": map[string]any{"portalId": portal}, "inputFieldName": "line_account"}); got != want {
			t.Errorf("portal %d's options: %s, want %s", portal, got, want)
		}
	}
	action := testenv.Action("ap-assign-1", map[string]string{"line_user_id": testenv.UserID, "message_1": "hi", "line_account": "3"}, nil)
	action["origin"] = map[string]any{"portalId": 111}
	if got := post("/actions/send-line-message", action); !strings.Contains(got, `"error_code":"unknown_line_account"`) {
		t.Errorf("portal 111 sending through portal 222's account 3: %s", got)
	}
}
