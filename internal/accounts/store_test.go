package accounts

import (
	"context"
	"encoding/base64"
	"testing"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/store"
)

// TestStoredAccountsFromTheDatabase: the real store (SQLite) behind a Resolver; stored
// accounts number above the environment's and keep their owner.
func TestStoredAccountsFromTheDatabase(t *testing.T) {
	ctx := context.Background()
	keys, err := store.ParseKeys(base64.StdEncoding.EncodeToString(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, "", t.TempDir(), keys, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg, err := config.Load([]string{"LINE_CHANNEL_ACCESS_TOKEN=env1", "LINE_CHANNEL_PORTAL=" + "100",
		"LINE_PUSH_RATE_3=250", "LINE_CUSTOM_AGGREGATION_UNITS_3=true"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(ctx, Options{Env: FromConfig(cfg), Stored: FromStore(st, cfg), MinReload: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []store.Account{
		{PortalID: portalB, AccessToken: "stored-2", ChannelSecret: "s2", Name: "Osaka", PushRate: 40},
		{PortalID: portalA, AccessToken: "stored-3", ChannelSecret: "s3"},
	} {
		if _, err := st.AddAccount(ctx, a, r.MaxEnvNumber()+1); err != nil {
			t.Fatal(err)
		}
	}
	b, err := r.Resolve(ctx, portalB, "")
	if err != nil || b.Number != 2 || b.Name != "Osaka" || b.AccessToken != "stored-2" || b.PushRate != 40 || !b.Stored {
		t.Fatalf("portal B's account: %+v, %v", b, err)
	}
	a, err := r.Resolve(ctx, portalA, "3")
	if err != nil || a.PushRate != 250 || !a.AggregationUnits {
		t.Fatalf("portal A's stored account 3: %+v, %v", a, err)
	}
	if _, err := r.Resolve(ctx, portalA, "2"); err == nil {
		t.Fatal("portal A resolved portal B's stored account")
	}
	if own := r.ForPortal(ctx, portalA); len(own) != 2 || own[0].Number != 1 || own[1].Number != 3 {
		t.Fatalf("portal A's accounts: %+v", own)
	}
}
