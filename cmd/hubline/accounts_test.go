package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/store"
)

// cliEnv points the accounts and portals commands at a fresh data directory (SQLite) with
// two environment accounts, and returns the directory and HUBLINE_SECRET_KEY.
func cliEnv(t *testing.T) (dir, key string) {
	t.Helper()
	dir = t.TempDir()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	key = base64.StdEncoding.EncodeToString(b)
	for k, v := range map[string]string{
		"HUBLINE_DATA_DIR": dir, "HUBLINE_SECRET_KEY": key, "HUBLINE_DATABASE_URL": "",
		"LINE_CHANNEL_ACCESS_TOKEN": "env-1", "LINE_CHANNEL_ACCESS_TOKEN_2": "env-2",
	} {
		t.Setenv(k, v)
	}
	return dir, key
}

func runCLI(t *testing.T, in string, args ...string) (string, error) {
	t.Helper()
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut)
	return out.String() + errOut.String(), err
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestAccountsCommand(t *testing.T) {
	dir, _ := cliEnv(t)
	files := t.TempDir()
	tok := writeFile(t, files, "token", "line-token-A\n")
	sec := writeFile(t, files, "secret", "  line-secret-A \n")

	out, err := runCLI(t, "", "accounts", "add", "--portal", "111", "--token-file", tok, "--secret-file", sec, "--name", "Shop", "--push-rate", "300")
	require.NoError(t, err, out)
	var a accountJSON
	require.NoError(t, json.Unmarshal([]byte(out), &a), out)
	assert.Equal(t, accountJSON{Number: 3, Portal: 111, Name: "Shop", PushRate: 300, Created: a.Created}, a, "above environment accounts 1 and 2")
	assert.WithinDuration(t, time.Now(), a.Created, time.Minute)
	assert.NotContains(t, out, "line-token-A")

	// The token from standard input.
	out, err = runCLI(t, "line-token-B\n", "accounts", "add", "--portal", "222", "--token-file", "-", "--secret-file", sec)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &a))
	assert.Equal(t, 4, a.Number)

	// Secrets stored as given (trimmed).
	st, err := store.Open(context.Background(), "", dir, mustKeys(t), zap.NewNop())
	require.NoError(t, err)
	got, err := st.Account(context.Background(), 4)
	require.NoError(t, err)
	assert.Equal(t, "line-token-B", got.AccessToken)
	assert.Equal(t, "line-secret-A", got.ChannelSecret)
	require.NoError(t, st.Close())

	out, err = runCLI(t, "", "accounts", "remove", "3")
	require.NoError(t, err, out)
	out, err = runCLI(t, "", "accounts", "add", "--portal", "111", "--token-file", tok, "--secret-file", sec)
	require.NoError(t, err, out)
	require.NoError(t, json.Unmarshal([]byte(out), &a))
	assert.Equal(t, 5, a.Number, "a removed number is not given again")

	out, err = runCLI(t, "", "accounts", "list")
	require.NoError(t, err, out)
	var list []accountJSON
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	require.Len(t, list, 2)
	assert.Equal(t, []int{4, 5}, []int{list[0].Number, list[1].Number})
	assert.Equal(t, int64(222), list[0].Portal)
	for _, secret := range []string{"line-token", "line-secret"} {
		assert.NotContains(t, out, secret)
	}

	for _, c := range []struct {
		args    []string
		usage   bool
		message string
	}{
		{[]string{"accounts", "remove", "3"}, false, "no stored LINE account 3"},
		{[]string{"accounts", "remove", "2"}, false, "unset LINE_CHANNEL_ACCESS_TOKEN_2"},
		{[]string{"accounts", "remove"}, true, "one account number"},
		{[]string{"accounts", "add", "--token-file", tok, "--secret-file", sec}, true, "--portal"},
		{[]string{"accounts", "add", "--portal", "1", "--secret-file", sec}, true, "--token-file"},
		{[]string{"accounts", "add", "--portal", "1", "--token-file", "-", "--secret-file", "-"}, true, "only one"},
		{[]string{"accounts", "add", "--portal", "1", "--token-file", tok, "--secret-file", sec, "secret-on-argv"}, true, "never arguments"},
		{[]string{"accounts", "add", "--portal", "1", "--token-file", tok, "--secret-file", sec, "--push-rate", "-1"}, true, "--push-rate"},
		{[]string{"accounts", "add", "--portal", "1", "--token-file", filepath.Join(files, "missing"), "--secret-file", sec}, false, "--token-file"},
		{[]string{"accounts", "add", "--portal", "1", "--token-file", writeFile(t, files, "empty", "\n"), "--secret-file", sec}, false, "empty"},
		{[]string{"accounts", "frobnicate"}, true, "unknown accounts operation"},
	} {
		out, err := runCLI(t, "", c.args...)
		require.Error(t, err, "%v: %s", c.args, out)
		assert.Equal(t, c.usage, errors.Is(err, errUsage), "%v: %v", c.args, err)
		assert.Contains(t, err.Error(), c.message, c.args)
	}

	out, err = runCLI(t, "", "accounts", "--help")
	require.NoError(t, err)
	assert.Contains(t, out, "HUBLINE_SECRET_KEY")
	assert.Contains(t, out, "HUBLINE_DATABASE_URL")
}

// mustKeys parses the HUBLINE_SECRET_KEY cliEnv set.
func mustKeys(t *testing.T) *store.Keys {
	t.Helper()
	k, err := store.ParseKeys(os.Getenv("HUBLINE_SECRET_KEY"))
	require.NoError(t, err)
	return k
}

// Without HUBLINE_SECRET_KEY the commands use the key dev generated in the data directory,
// and without that they refuse, naming the setting.
func TestAccountsCommandKey(t *testing.T) {
	dir, _ := cliEnv(t)
	t.Setenv("HUBLINE_SECRET_KEY", "")
	_, err := runCLI(t, "", "accounts", "list")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HUBLINE_SECRET_KEY")
	_, err = os.Stat(filepath.Join(dir, store.KeyFile))
	assert.ErrorIs(t, err, os.ErrNotExist, "the CLI never generates a key")

	_, err = store.LoadKeys("", dir, true, zap.NewNop()) // as dev does
	require.NoError(t, err)
	out, err := runCLI(t, "", "accounts", "list")
	require.NoError(t, err, out)
	assert.Equal(t, "[]\n", out)

	// Another key than the database's: a clear error.
	_, key := cliEnv(t)
	_, err = runCLI(t, "", "portals", "list")
	require.NoError(t, err)
	b, _ := base64.StdEncoding.DecodeString(key)
	b[0] ^= 1
	t.Setenv("HUBLINE_SECRET_KEY", base64.StdEncoding.EncodeToString(b))
	_, err = runCLI(t, "", "portals", "list")
	require.ErrorIs(t, err, store.ErrWrongKey)
	assert.Contains(t, err.Error(), "HUBLINE_SECRET_KEY")
}

func TestPortalsCommand(t *testing.T) {
	dir, _ := cliEnv(t)
	ctx := context.Background()
	st, err := store.Open(ctx, "", dir, mustKeys(t), zap.NewNop())
	require.NoError(t, err)
	exp := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	require.NoError(t, st.PutPortal(ctx, store.Portal{PortalID: 111, AccessToken: "hs-access-111", RefreshToken: "hs-refresh-111",
		ExpiresAt: exp, Scopes: []string{"oauth", "automation"}}))
	require.NoError(t, st.PutPortal(ctx, store.Portal{PortalID: 222, AccessToken: "hs-access-222", RefreshToken: "hs-refresh-222"}))
	require.NoError(t, st.MarkPortalRevoked(ctx, 222))
	for _, p := range []int64{111, 222, 111} {
		_, err := st.AddAccount(ctx, store.Account{PortalID: p, AccessToken: "t", ChannelSecret: "s"}, 3)
		require.NoError(t, err)
	}

	out, err := runCLI(t, "", "portals", "list")
	require.NoError(t, err, out)
	assert.NotContains(t, out, "hs-access")
	assert.NotContains(t, out, "hs-refresh")
	var list []portalJSON
	require.NoError(t, json.Unmarshal([]byte(out), &list), out)
	require.Len(t, list, 2)
	assert.Equal(t, portalJSON{Portal: 111, Status: "connected", Scopes: []string{"oauth", "automation"}, Installed: list[0].Installed, TokenExpires: exp}, list[0])
	assert.WithinDuration(t, time.Now(), list[0].Installed, time.Minute)
	assert.Equal(t, "revoked", list[1].Status)

	out, err = runCLI(t, "", "portals", "remove", "111")
	require.NoError(t, err, out)
	assert.Contains(t, out, "[3 5]")
	_, err = st.Portal(ctx, 111)
	assert.ErrorIs(t, err, store.ErrNotFound)
	accounts, err := st.Accounts(ctx)
	require.NoError(t, err)
	require.Len(t, accounts, 1)
	assert.Equal(t, 4, accounts[0].Number, "portal 222's account stays")
	require.NoError(t, st.Close())

	_, err = runCLI(t, "", "portals", "remove", "111")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no portal 111")
	for _, args := range [][]string{{"portals", "remove"}, {"portals", "remove", "x"}, {"portals", "list", "extra"}, {"portals", "nope"}} {
		_, err := runCLI(t, "", args...)
		assert.ErrorIs(t, err, errUsage, args)
	}
}
