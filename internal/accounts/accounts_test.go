package accounts

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

const portalA, portalB = 100, 200

// fakeStore is the stored-accounts list as the store would return it.
type fakeStore struct {
	mu    sync.Mutex
	list  []Account
	reads int
}

func (f *fakeStore) add(a Account) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list = append(f.list, a)
}

func (f *fakeStore) accounts(context.Context) ([]Account, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return append([]Account(nil), f.list...), nil
}

func newResolver(t *testing.T, env []Account, st *fakeStore) *Resolver {
	t.Helper()
	r, err := New(context.Background(), Options{Env: env, Stored: st.accounts, MinReload: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestResolveOwnership(t *testing.T) {
	env := []Account{
		{Number: 1, PortalID: portalB, AccessToken: "t1"},
		{Number: 2, PortalID: portalA, AccessToken: "t2"},
		{Number: 3, AccessToken: "t3"}, // LINE_CHANNEL_PORTAL_3 unset: any portal
	}
	st := &fakeStore{list: []Account{
		{Number: 4, PortalID: portalB, AccessToken: "t4"},
		{Number: 5, PortalID: portalA, AccessToken: "t5", Name: "Shop"},
	}}
	r := newResolver(t, env, st)
	for _, tc := range []struct {
		name   string
		portal int64
		input  string
		want   int
		code   string
	}{
		{"empty picks the portal's lowest", portalA, "", 2, ""},
		{"empty for B is B's lowest", portalB, "", 1, ""},
		{"own env account", portalA, "2", 2, ""},
		{"own stored account", portalA, "5", 5, ""},
		{"unassigned env account is anyone's", portalA, "3", 3, ""},
		{"other portal's env account", portalA, "1", 0, CodeUnknown},
		{"other portal's stored account", portalA, "4", 0, CodeUnknown},
		{"no such account", portalA, "9", 0, CodeUnknown},
		{"not a number", portalA, "two", 0, CodeInvalid},
		{"zero", portalA, "0", 0, CodeInvalid},
		{"portal without own accounts gets the shared one", 300, "", 3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := r.Resolve(context.Background(), tc.portal, tc.input)
			var ae *Error
			switch {
			case tc.code == "" && err != nil:
				t.Fatalf("error %v", err)
			case tc.code == "" && a.Number != tc.want:
				t.Fatalf("account %d, want %d", a.Number, tc.want)
			case tc.code != "" && (!errors.As(err, &ae) || ae.Code != tc.code):
				t.Fatalf("error %v, want code %s", err, tc.code)
			}
		})
	}
	// Another portal's account and a missing one read the same, but for the number asked.
	_, other := r.Resolve(context.Background(), portalA, "4")
	_, missing := r.Resolve(context.Background(), portalA, "9")
	if other.Error() != "LINE account 4 is not connected" || missing.Error() != "LINE account 9 is not connected" {
		t.Fatalf("messages differ beyond the number: %q / %q", other, missing)
	}
	var labels []string
	for _, a := range r.ForPortal(context.Background(), portalA) {
		labels = append(labels, a.Label())
	}
	if len(labels) != 3 || labels[0] != "LINE account 2" || labels[1] != "LINE account 3" || labels[2] != "Shop" {
		t.Fatalf("portal A's accounts: %q", labels)
	}
}

func TestPortalWithoutAccounts(t *testing.T) {
	r := newResolver(t, []Account{{Number: 1, PortalID: portalB}}, &fakeStore{})
	_, err := r.Resolve(context.Background(), portalA, "")
	var ae *Error
	if !errors.As(err, &ae) || ae.Code != CodeUnknown {
		t.Fatalf("empty line_account without own accounts: %v", err)
	}
	if got := r.ForPortal(context.Background(), portalA); len(got) != 0 {
		t.Fatalf("portal A lists %v", got)
	}
}

// TestStoredAccountAppears: an account stored after start is found on the first request
// that misses it, and watchers hear of it once.
func TestStoredAccountAppears(t *testing.T) {
	st := &fakeStore{}
	r := newResolver(t, []Account{{Number: 1, PortalID: portalA}}, st)
	var seen []int
	r.Watch(func(a Account) { seen = append(seen, a.Number) })
	if len(seen) != 1 || seen[0] != 1 {
		t.Fatalf("Watch did not replay the known accounts: %v", seen)
	}
	st.add(Account{Number: 2, PortalID: portalB, AccessToken: "t2", PushRate: 300})
	a, err := r.Resolve(context.Background(), portalB, "")
	if err != nil || a.Number != 2 || !a.Stored || a.PushRate != 300 {
		t.Fatalf("new stored account: %+v, %v", a, err)
	}
	if a, ok := r.Account(context.Background(), 2); !ok || a.AccessToken != "t2" {
		t.Fatalf("Account(2) = %+v, %v", a, ok)
	}
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[1] != 2 {
		t.Fatalf("watchers heard %v, want [1 2]", seen)
	}
}

// TestMissReloadsAreBounded: misses never cost more than one store read per MinReload,
// and concurrent misses share one read; yet each miss sees what was stored before it.
func TestMissReloadsAreBounded(t *testing.T) {
	st := &fakeStore{}
	const minReload = 30 * time.Millisecond
	r, err := New(context.Background(), Options{Stored: st.accounts, MinReload: minReload})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for range 5 {
		_, _ = r.Resolve(context.Background(), portalA, "7")
	}
	if reads, took := st.reads, time.Since(start); reads != 6 || took < 4*minReload {
		t.Fatalf("5 sequential misses: %d store reads in %v, want 6 spaced by %v", reads, took, minReload)
	}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { _, _ = r.Resolve(context.Background(), portalA, "7") })
	}
	wg.Wait()
	if st.reads > 6+2 {
		t.Fatalf("50 concurrent misses cost %d store reads, want at most 2", st.reads-6)
	}
	// A miss right after another still sees an account stored in between.
	_, _ = r.Resolve(context.Background(), portalA, "")
	st.add(Account{Number: 7, PortalID: portalA, AccessToken: "t7"})
	if a, err := r.Resolve(context.Background(), portalA, ""); err != nil || a.Number != 7 {
		t.Fatalf("account stored between two misses: %+v, %v", a, err)
	}
}

func TestEnvironmentAccountsKeepTheirNumbers(t *testing.T) {
	st := &fakeStore{list: []Account{
		{Number: 1, PortalID: portalB, AccessToken: "stored"},
		{Number: 6, PortalID: 0, AccessToken: "ownerless"},
	}}
	r := newResolver(t, []Account{{Number: 1, PortalID: portalA, AccessToken: "env"}}, st)
	if a, _ := r.Account(context.Background(), 1); a.AccessToken != "env" || a.Stored {
		t.Fatalf("account 1 = %+v, want the environment account", a)
	}
	if _, err := r.Resolve(context.Background(), portalA, "6"); err == nil {
		t.Fatal("a stored account without an owner must not be usable by any portal")
	}
	if r.MaxEnvNumber() != 1 {
		t.Fatalf("MaxEnvNumber = %d", r.MaxEnvNumber())
	}
}

// TestStaticIsToday: without a store, every environment account is every portal's.
func TestStaticIsToday(t *testing.T) {
	r := Static([]Account{{Number: 1}, {Number: 2, AggregationUnits: true}})
	for _, p := range []int64{1, 102670506} {
		if a, err := r.Resolve(context.Background(), p, ""); err != nil || a.Number != 1 {
			t.Fatalf("portal %d, empty: %+v %v", p, a, err)
		}
		if a, err := r.Resolve(context.Background(), p, "2"); err != nil || !a.AggregationUnits {
			t.Fatalf("portal %d, 2: %+v %v", p, a, err)
		}
	}
}
