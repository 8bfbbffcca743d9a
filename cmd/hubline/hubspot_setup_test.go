package main

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/store"
)

// setupEnv clears the HubSpot mode settings, then sets env.
func setupEnv(t *testing.T, env map[string]string) {
	t.Helper()
	for _, k := range []string{"HUBSPOT_ACCESS_TOKEN", "HUBSPOT_REFRESH_TOKEN", "HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET",
		"HUBLINE_ALLOWED_PORTALS", "HUBLINE_DATABASE_URL", "HUBSPOT_LINE_USER_ID_PROPERTY", "HUBSPOT_LINE_USER_ID_PROPERTY_2",
		"LINE_CHANNEL_PORTAL", "LINE_CHANNEL_PORTAL_2", "HUBSPOT_RATE_LIMIT"} {
		t.Setenv(k, "")
	}
	t.Setenv("HUBSPOT_RATE_LIMIT", "10000") // the sandbox has no limit; keep the test quick
	for k, v := range env {
		t.Setenv(k, v)
	}
}

// TestHubSpotSetupSinglePortal runs `hubline hubspot setup` with a single-portal token
// against the HubSpot sandbox.
func TestHubSpotSetupSinglePortal(t *testing.T) {
	cliEnv(t) // environment accounts 1 and 2
	box := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "single-token"})
	srv := httptest.NewServer(box)
	defer srv.Close()
	setupEnv(t, map[string]string{"HUBSPOT_ACCESS_TOKEN": "single-token", "HUBSPOT_API_BASE_URL": srv.URL,
		"HUBSPOT_LINE_USER_ID_PROPERTY_2": "line_uid_two"})

	out, err := runCLI(t, "", "hubspot", "setup", "--dry-run")
	require.NoError(t, err, out)
	assert.Contains(t, out, "HubSpot (the token's portal), LINE accounts 1, 2 (dry run: nothing is written):")
	assert.Contains(t, out, "group hubline: would be created")
	assert.Contains(t, out, "line_uid_two: would be created (unique)")
	assert.Equal(t, 0, box.PropertyWrites(), out)

	out, err = runCLI(t, "", "hubspot", "setup")
	require.NoError(t, err, out)
	for _, line := range []string{"group hubline: created", "line_user_id: created (unique)", "line_uid_two: created (unique)",
		"line_follow_status_2: created", "line_last_interaction_at: created"} {
		assert.Contains(t, out, line)
	}
	assert.True(t, box.UniqueContactProperty("line_uid_two"))
	assert.Equal(t, 15, box.PropertyWrites(), out)

	out, err = runCLI(t, "", "hubspot", "setup")
	require.NoError(t, err, out)
	assert.Equal(t, 15, box.PropertyWrites(), "a second run writes nothing:\n"+out)
	assert.Equal(t, 15, strings.Count(out, ": found"), out)

	// A property that refuses hubline's values fails the command, and is left as it is.
	box.SetContactProperty(hubspotsandbox.Property{Name: "line_followed_at", Label: "Followed", GroupName: "hubline", Type: "number", FieldType: "number"})
	out, err = runCLI(t, "", "hubspot", "setup")
	require.Error(t, err, out)
	assert.Contains(t, out, "line_followed_at: differs: type number, hubline's is datetime; hubline's values would be refused")
	assert.Contains(t, err.Error(), "line_followed_at refuses hubline's values")
	assert.Equal(t, 15, box.PropertyWrites())

	_, err = runCLI(t, "", "hubspot", "setup", "--portal", "111")
	assert.True(t, errors.Is(err, errUsage), "%v", err)
	setupEnv(t, map[string]string{"HUBSPOT_API_BASE_URL": srv.URL})
	_, err = runCLI(t, "", "hubspot", "setup")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "needs a HubSpot token")
}

// TestHubSpotSetupMultiPortal: --portal uses the installed portal's own token and the LINE
// accounts that portal may use; --all-portals skips revoked portals.
func TestHubSpotSetupMultiPortal(t *testing.T) {
	dir, _ := cliEnv(t)
	box := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "portal-111-token"}) // only that portal's token works
	srv := httptest.NewServer(box)
	defer srv.Close()
	setupEnv(t, map[string]string{"HUBSPOT_CLIENT_ID": "client", "HUBSPOT_CLIENT_SECRET": "secret", "HUBSPOT_API_BASE_URL": srv.URL,
		"LINE_CHANNEL_PORTAL_2": "222"}) // account 2 is another portal's

	ctx := context.Background()
	st, err := store.Open(ctx, "", dir, mustKeys(t), zap.NewNop())
	require.NoError(t, err)
	require.NoError(t, st.PutPortal(ctx, store.Portal{PortalID: 111, AccessToken: "portal-111-token", RefreshToken: "r111",
		ExpiresAt: time.Now().Add(time.Hour), Status: store.StatusConnected}))
	require.NoError(t, st.PutPortal(ctx, store.Portal{PortalID: 333, AccessToken: "portal-333-token", RefreshToken: "r333",
		ExpiresAt: time.Now().Add(time.Hour)}))
	require.NoError(t, st.MarkPortalRevoked(ctx, 333))
	a, err := st.AddAccount(ctx, store.Account{PortalID: 111, AccessToken: "line-111", ChannelSecret: "s"}, 3)
	require.NoError(t, err)
	require.Equal(t, 3, a.Number)
	require.NoError(t, st.Close())

	_, err = runCLI(t, "", "hubspot", "setup")
	assert.True(t, errors.Is(err, errUsage), "multi-portal mode without --portal: %v", err)

	out, err := runCLI(t, "", "hubspot", "setup", "--portal", "111")
	require.NoError(t, err, out)
	assert.Contains(t, out, "HubSpot portal 111, LINE accounts 1, 3:")
	assert.Contains(t, out, "line_user_id_3: created (unique)")
	assert.NotContains(t, out, "line_user_id_2")
	assert.Equal(t, 15, box.PropertyWrites(), out)

	out, err = runCLI(t, "", "hubspot", "setup", "--all-portals")
	require.NoError(t, err, out)
	assert.Contains(t, out, "HubSpot portal 111")
	assert.NotContains(t, out, "portal 333")
	assert.Equal(t, 15, box.PropertyWrites(), out)
}
