package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap"
)

// database is one empty database on one backend; open may be called several times for
// several handles (processes) on it.
type database struct {
	open func(t *testing.T, keys *Keys) (*Store, error)
}

func (d database) must(t *testing.T, keys *Keys) *Store {
	t.Helper()
	s, err := d.open(t, keys)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

// eachBackend runs test on SQLite in a temporary directory and, when
// HUBLINE_TEST_DATABASE_URL is set, on PostgreSQL in a schema of its own (so tests and
// packages running in parallel do not collide).
func eachBackend(t *testing.T, test func(t *testing.T, db database)) {
	t.Run("sqlite", func(t *testing.T) {
		dir := t.TempDir()
		test(t, database{open: func(t *testing.T, keys *Keys) (*Store, error) {
			return Open(context.Background(), "", dir, keys, zap.NewNop())
		}})
	})
	url := os.Getenv("HUBLINE_TEST_DATABASE_URL")
	if url == "" {
		t.Log("HUBLINE_TEST_DATABASE_URL unset: PostgreSQL not tested")
		return
	}
	t.Run("postgres", func(t *testing.T) {
		admin, err := sql.Open("pgx", url)
		require.NoError(t, err)
		defer admin.Close()
		schema := "test_" + strings.ToLower(randomString(t))
		_, err = admin.Exec(`CREATE SCHEMA ` + schema)
		require.NoError(t, err)
		t.Cleanup(func() {
			admin, err := sql.Open("pgx", url)
			if err == nil {
				admin.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
				admin.Close()
			}
		})
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		schemaURL := url + sep + "search_path=" + schema // pgx sends unknown parameters as run-time settings
		test(t, database{open: func(t *testing.T, keys *Keys) (*Store, error) {
			return Open(context.Background(), schemaURL, "", keys, zap.NewNop())
		}})
	})
}

func randomString(t *testing.T) string {
	b := make([]byte, 8)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return fmt.Sprintf("%x", b)
}

func testKeys(t *testing.T) *Keys {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	k, err := ParseKeys(base64.StdEncoding.EncodeToString(b))
	require.NoError(t, err)
	return k
}

func TestPortals(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, testKeys(t))

		_, err := s.Portal(ctx, 1)
		assert.ErrorIs(t, err, ErrNotFound)
		assert.ErrorIs(t, s.MarkPortalRevoked(ctx, 1), ErrNotFound)
		assert.ErrorIs(t, s.RemovePortal(ctx, 1), ErrNotFound)
		assert.Error(t, s.PutPortal(ctx, Portal{PortalID: 0}))

		exp := time.Date(2026, 12, 7, 10, 30, 0, 0, time.UTC)
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 222, AccessToken: "at-222", RefreshToken: "rt-222", ExpiresAt: exp,
			Scopes: []string{"oauth", "crm.objects.contacts.read"}, Status: "revoked"}))
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 111, AccessToken: "at-111", RefreshToken: "rt-111"}))

		p, err := s.Portal(ctx, 222)
		require.NoError(t, err)
		assert.Equal(t, "at-222", p.AccessToken)
		assert.Equal(t, "rt-222", p.RefreshToken)
		assert.True(t, exp.Equal(p.ExpiresAt), p.ExpiresAt)
		assert.Equal(t, []string{"oauth", "crm.objects.contacts.read"}, p.Scopes)
		assert.Equal(t, StatusConnected, p.Status, "PutPortal connects")
		assert.WithinDuration(t, time.Now(), p.InstalledAt, time.Minute)
		installed := p.InstalledAt

		all, err := s.Portals(ctx)
		require.NoError(t, err)
		require.Len(t, all, 2)
		assert.Equal(t, []int64{111, 222}, []int64{all[0].PortalID, all[1].PortalID})
		assert.Equal(t, "at-111", all[0].AccessToken)
		assert.True(t, all[0].ExpiresAt.IsZero())

		require.NoError(t, s.MarkPortalRevoked(ctx, 222))
		p, err = s.Portal(ctx, 222)
		require.NoError(t, err)
		assert.Equal(t, StatusRevoked, p.Status)
		assert.Equal(t, "rt-222", p.RefreshToken)

		// Reinstall replaces tokens and reconnects.
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 222, AccessToken: "at-new", RefreshToken: "rt-new", InstalledAt: installed}))
		p, err = s.Portal(ctx, 222)
		require.NoError(t, err)
		assert.Equal(t, Portal{PortalID: 222, AccessToken: "at-new", RefreshToken: "rt-new", Status: StatusConnected,
			InstalledAt: installed, UpdatedAt: p.UpdatedAt}, p)

		// RemovePortal deletes the tokens and the portal's accounts, not others'.
		a1, err := s.AddAccount(ctx, Account{PortalID: 222, AccessToken: "t", ChannelSecret: "s"}, 2)
		require.NoError(t, err)
		a2, err := s.AddAccount(ctx, Account{PortalID: 111, AccessToken: "t", ChannelSecret: "s"}, 2)
		require.NoError(t, err)
		require.NoError(t, s.RemovePortal(ctx, 222))
		_, err = s.Portal(ctx, 222)
		assert.ErrorIs(t, err, ErrNotFound)
		_, err = s.Account(ctx, a1.Number)
		assert.ErrorIs(t, err, ErrNotFound)
		_, err = s.Account(ctx, a2.Number)
		assert.NoError(t, err)
		assert.ErrorIs(t, s.RemovePortal(ctx, 222), ErrNotFound)
	})
}

func TestAccounts(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, testKeys(t))
		add := func(min int, name string) Account {
			t.Helper()
			a, err := s.AddAccount(ctx, Account{PortalID: 7, Name: name, AccessToken: "token-" + name, ChannelSecret: "secret-" + name, PushRate: 100}, min)
			require.NoError(t, err)
			return a
		}
		assert.Equal(t, 3, add(3, "a").Number, "lowest number from minNumber")
		assert.Equal(t, 4, add(3, "b").Number)
		assert.Equal(t, 1, add(0, "c").Number, "numbers start at 1")
		assert.Equal(t, 2, add(1, "d").Number, "a gap below the others")
		require.NoError(t, s.RemoveAccount(ctx, 4))
		assert.ErrorIs(t, s.RemoveAccount(ctx, 4), ErrNotFound)
		assert.Equal(t, 5, add(3, "e").Number, "a removed number is never reused")
		assert.Equal(t, 10, add(10, "f").Number)
		assert.Equal(t, 6, add(4, "g").Number)

		a, err := s.Account(ctx, 3)
		require.NoError(t, err)
		assert.Equal(t, Account{Number: 3, PortalID: 7, Name: "a", AccessToken: "token-a", ChannelSecret: "secret-a", PushRate: 100, CreatedAt: a.CreatedAt}, a)
		assert.WithinDuration(t, time.Now(), a.CreatedAt, time.Minute)
		_, err = s.Account(ctx, 4)
		assert.ErrorIs(t, err, ErrNotFound)

		all, err := s.Accounts(ctx)
		require.NoError(t, err)
		var numbers []int
		for _, a := range all {
			numbers = append(numbers, a.Number)
		}
		assert.Equal(t, []int{1, 2, 3, 5, 6, 10}, numbers)

		for _, bad := range []Account{
			{PortalID: 0, AccessToken: "t", ChannelSecret: "s"},
			{PortalID: 7, ChannelSecret: "s"},
			{PortalID: 7, AccessToken: "t"},
			{PortalID: 7, AccessToken: "t", ChannelSecret: "s", PushRate: -1},
		} {
			_, err := s.AddAccount(ctx, bad, 1)
			assert.Error(t, err, "%+v", bad)
		}
	})
}

// Concurrent AddAccount calls from two handles never get the same number.
func TestAddAccountConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		keys := testKeys(t)
		stores := []*Store{db.must(t, keys), db.must(t, keys)}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			seen = map[int]bool{}
		)
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, err := stores[i%2].AddAccount(context.Background(), Account{PortalID: 1, AccessToken: "t", ChannelSecret: "s"}, 2)
				if !assert.NoError(t, err) {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				assert.False(t, seen[a.Number], "number %d given twice", a.Number)
				seen[a.Number] = true
			}()
		}
		wg.Wait()
		assert.Len(t, seen, 10)
	})
}

func TestUseOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, nil) // needs no key
		later := time.Now().Add(time.Hour)
		for _, c := range []struct {
			kind, id string
			expires  time.Time
			first    bool
		}{
			{"oauth", "n1", later, true},
			{"oauth", "n1", later, false},
			{"oauth", "n1", later.Add(time.Hour), false},
			{"linelogin", "n1", later, true},
			{"oauth", "n2", later, true},
			{"oauth", "old", time.Now().Add(-time.Minute), true},
			{"oauth", "n1", later, false},
			// The expired row was purged by the previous call.
			{"oauth", "old", later, true},
		} {
			first, err := s.UseOnce(ctx, c.kind, c.id, c.expires)
			require.NoError(t, err)
			assert.Equal(t, c.first, first, "%s/%s", c.kind, c.id)
		}
		var n int
		require.NoError(t, s.db.QueryRow(`SELECT COUNT(*) FROM used_once`).Scan(&n))
		assert.Equal(t, 4, n)
	})
}

func TestWithPortalLock(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, testKeys(t))
		_, err := s.WithPortalLock(ctx, 5, func(context.Context, Portal) (Portal, bool, error) {
			t.Fatal("fn called for a missing portal")
			return Portal{}, false, nil
		})
		assert.ErrorIs(t, err, ErrNotFound)
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 5, AccessToken: "a1", RefreshToken: "r1", Scopes: []string{"oauth"}}))

		// Not changed: nothing written.
		p, err := s.WithPortalLock(ctx, 5, func(_ context.Context, p Portal) (Portal, bool, error) {
			p.AccessToken = "ignored"
			return p, false, nil
		})
		require.NoError(t, err)
		assert.Equal(t, "a1", p.AccessToken)

		// An error: nothing written, the error returned as is.
		boom := errors.New("boom")
		_, err = s.WithPortalLock(ctx, 5, func(_ context.Context, p Portal) (Portal, bool, error) {
			p.AccessToken = "ignored"
			return p, true, boom
		})
		assert.Same(t, boom, err)

		exp := time.Now().Add(30 * time.Minute).UTC().Truncate(time.Millisecond)
		p, err = s.WithPortalLock(ctx, 5, func(_ context.Context, p Portal) (Portal, bool, error) {
			assert.Equal(t, "a1", p.AccessToken)
			p.AccessToken, p.RefreshToken, p.ExpiresAt = "a2", "r2", exp
			p.PortalID = 99 // ignored: the locked row is written
			return p, true, nil
		})
		require.NoError(t, err)
		assert.Equal(t, "a2", p.AccessToken)
		got, err := s.Portal(ctx, 5)
		require.NoError(t, err)
		assert.Equal(t, p, got)
		assert.Equal(t, "r2", got.RefreshToken)
		assert.True(t, exp.Equal(got.ExpiresAt))
		_, err = s.Portal(ctx, 99)
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

// Two handles on one database (as two processes): the second WithPortalLock waits until
// the first returns, then sees what it wrote.
func TestWithPortalLockExclusive(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		keys := testKeys(t)
		a, b := db.must(t, keys), db.must(t, keys)
		require.NoError(t, a.PutPortal(ctx, Portal{PortalID: 8, AccessToken: "v0", RefreshToken: "r"}))

		locked, release := make(chan struct{}), make(chan struct{})
		// Release on any failure too, or the held lock would hang the cleanup.
		unlock := sync.OnceFunc(func() { close(release) })
		defer unlock()
		aDone := make(chan error, 1)
		go func() {
			_, err := a.WithPortalLock(ctx, 8, func(_ context.Context, p Portal) (Portal, bool, error) {
				close(locked)
				<-release
				p.AccessToken = "v1"
				return p, true, nil
			})
			aDone <- err
		}()
		<-locked

		bEntered := make(chan struct{})
		bDone := make(chan error, 1)
		var seen string
		go func() {
			_, err := b.WithPortalLock(ctx, 8, func(_ context.Context, p Portal) (Portal, bool, error) {
				close(bEntered)
				seen = p.AccessToken
				p.AccessToken = "v2"
				return p, true, nil
			})
			bDone <- err
		}()
		select {
		case <-bEntered:
			t.Fatal("second WithPortalLock ran while the first held the lock")
		case <-time.After(500 * time.Millisecond):
		}
		// Reads are not blocked meanwhile.
		p, err := b.Portal(ctx, 8)
		require.NoError(t, err)
		assert.Equal(t, "v0", p.AccessToken)

		unlock()
		require.NoError(t, <-aDone)
		select {
		case err := <-bDone:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("second WithPortalLock did not run after the first returned")
		}
		assert.Equal(t, "v1", seen, "the second saw the first's write")
		p, err = a.Portal(ctx, 8)
		require.NoError(t, err)
		assert.Equal(t, "v2", p.AccessToken)
	})
}

func TestEncryptionAtRest(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		keys := testKeys(t)
		s := db.must(t, keys)
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 1, AccessToken: "plain-access-1", RefreshToken: "plain-refresh-1"}))
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 2, AccessToken: "plain-access-2", RefreshToken: "plain-refresh-2"}))
		_, err := s.AddAccount(ctx, Account{PortalID: 1, AccessToken: "plain-line-token", ChannelSecret: "plain-line-secret"}, 1)
		require.NoError(t, err)

		// No secret is stored in clear.
		for _, q := range []string{
			`SELECT access_token || refresh_token FROM portals`,
			`SELECT access_token || channel_secret FROM accounts`,
		} {
			rows, err := s.db.Query(q)
			require.NoError(t, err)
			for rows.Next() {
				var v string
				require.NoError(t, rows.Scan(&v))
				assert.NotContains(t, v, "plain")
			}
			require.NoError(t, rows.Err())
			rows.Close()
		}

		// Ciphertexts moved to another row or column do not decrypt.
		for _, q := range []string{
			`UPDATE portals SET access_token = (SELECT access_token FROM portals WHERE portal_id = 1) WHERE portal_id = 2`,
			`UPDATE portals SET access_token = refresh_token WHERE portal_id = 1`,
			`UPDATE accounts SET channel_secret = access_token`,
		} {
			_, err := s.db.Exec(q)
			require.NoError(t, err)
		}
		for _, read := range []func() error{
			func() error { _, err := s.Portal(ctx, 1); return err },
			func() error { _, err := s.Portal(ctx, 2); return err },
			func() error { _, err := s.Account(ctx, 1); return err },
			func() error { _, err := s.Portals(ctx); return err },
			func() error { _, err := s.Accounts(ctx); return err },
		} {
			err := read()
			require.Error(t, err)
			assert.Contains(t, err.Error(), "does not decrypt here")
		}
		require.NoError(t, s.Close())

		// Another key: Open says which setting is wrong.
		_, err = db.open(t, testKeys(t))
		require.ErrorIs(t, err, ErrWrongKey)
		assert.Contains(t, err.Error(), "HUBLINE_SECRET_KEY")

		// No key: Open works, secrets are refused with an error naming the setting.
		s = db.must(t, nil)
		_, err = s.Portal(ctx, 1)
		assert.ErrorIs(t, err, ErrNoKey)
		assert.ErrorIs(t, s.PutPortal(ctx, Portal{PortalID: 3}), ErrNoKey)
		_, err = s.AddAccount(ctx, Account{PortalID: 1, AccessToken: "t", ChannelSecret: "s"}, 1)
		assert.ErrorIs(t, err, ErrNoKey)
		assert.Contains(t, ErrNoKey.Error(), "HUBLINE_SECRET_KEY")

		// The right key still reads what was not tampered with.
		s = db.must(t, keys)
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 3, AccessToken: "x", RefreshToken: "y"}))
		p, err := s.Portal(ctx, 3)
		require.NoError(t, err)
		assert.Equal(t, "x", p.AccessToken)
	})
}

func TestMigrations(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		keys := testKeys(t)
		// Processes starting at once: each applies or finds the migrations, none fails.
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := db.open(t, keys)
				if err == nil {
					s.Close()
				}
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			require.NoError(t, err)
		}
		s := db.must(t, keys)
		rows, err := s.db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
		require.NoError(t, err)
		defer rows.Close()
		var versions []int
		for rows.Next() {
			var v int
			require.NoError(t, rows.Scan(&v))
			versions = append(versions, v)
		}
		want := make([]int, len(migrations))
		for i := range want {
			want[i] = i + 1
		}
		assert.Equal(t, want, versions, "each migration applied once")

		// A database migrated by a newer hubline still opens.
		_, err = s.db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (1000, 0)`)
		require.NoError(t, err)
		s2 := db.must(t, keys)
		_, err = s2.Portals(context.Background())
		assert.NoError(t, err)
	})
}

func TestLoadKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	k, err := LoadKeys("", dir, false, nil)
	require.NoError(t, err)
	assert.Nil(t, k, "no key, no file, not dev")

	k1, err := LoadKeys("", dir, true, zap.NewNop())
	require.NoError(t, err)
	require.NotNil(t, k1)
	fi, err := os.Stat(filepath.Join(dir, KeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	k2, err := LoadKeys("", dir, false, nil)
	require.NoError(t, err)
	assert.Equal(t, k1.id, k2.id, "the generated key is kept")

	b := make([]byte, 32)
	env := base64.StdEncoding.EncodeToString(b)
	k3, err := LoadKeys(env, dir, true, nil)
	require.NoError(t, err)
	assert.NotEqual(t, k1.id, k3.id, "HUBLINE_SECRET_KEY wins over the file")

	for _, bad := range []string{"not base64!", base64.StdEncoding.EncodeToString(b[:16])} {
		_, err := ParseKeys(bad)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "HUBLINE_SECRET_KEY")
		assert.NotContains(t, err.Error(), bad)
	}
}

// Processes generating the dev key at once all end up with the same, whole key.
func TestLoadKeysConcurrent(t *testing.T) {
	for range 20 {
		dir := t.TempDir()
		ids := make(chan [4]byte, 8)
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := LoadKeys("", dir, true, nil)
				if assert.NoError(t, err) {
					ids <- k.id
				}
			}()
		}
		wg.Wait()
		close(ids)
		first := <-ids
		for id := range ids {
			assert.Equal(t, first, id)
		}
		entries, err := os.ReadDir(dir)
		require.NoError(t, err)
		assert.Len(t, entries, 1, "no temporary files left")
	}
}
