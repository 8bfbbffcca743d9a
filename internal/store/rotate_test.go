package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// keyPair is a key as HUBLINE_SECRET_KEY holds it, and parsed.
func keyPair(t *testing.T) (string, *Keys) {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	s := base64.StdEncoding.EncodeToString(b)
	k, err := ParseKeys(s)
	require.NoError(t, err)
	return s, k
}

func withOld(t *testing.T, k *Keys, old ...string) *Keys {
	t.Helper()
	list := ""
	for i, o := range old {
		if i > 0 {
			list += ","
		}
		list += o
	}
	out, err := k.WithOld(list)
	require.NoError(t, err)
	return out
}

// sealedIDs counts the stored ciphertexts of every encrypted column by key ID.
func sealedIDs(t *testing.T, s *Store) map[[4]byte]int {
	t.Helper()
	ids := map[[4]byte]int{}
	for _, c := range sealedColumns {
		q := fmt.Sprintf(`SELECT %s FROM %s`, c.column, c.table)
		if c.where != "" {
			q += " WHERE " + c.where
		}
		rows, err := s.db.Query(q)
		require.NoError(t, err)
		for rows.Next() {
			var v string
			require.NoError(t, rows.Scan(&v))
			id, ok := sealedKeyID(v)
			require.True(t, ok, "%s.%s holds %q", c.table, c.column, v)
			ids[id]++
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	return ids
}

// TestSecretKeyRotation: HUBLINE_SECRET_KEY B with HUBLINE_SECRET_OLD_KEYS A opens a database
// written under A and re-encrypts every secret with B; then B alone opens it and A alone
// does not.
func TestSecretKeyRotation(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		a64, a := keyPair(t)
		_, b := keyPair(t)
		s := db.must(t, a)
		require.NoError(t, s.PutPortal(ctx, Portal{PortalID: 7, AccessToken: "at-7", RefreshToken: "rt-7"}))
		acct, err := s.AddAccount(ctx, Account{PortalID: 7, Name: "shop", AccessToken: "line-token", ChannelSecret: "line-secret"}, 1)
		require.NoError(t, err)
		require.NoError(t, s.Close())

		_, err = db.open(t, b)
		require.ErrorIs(t, err, ErrWrongKey, "the new key alone")
		assert.Contains(t, err.Error(), "HUBLINE_SECRET_OLD_KEYS")

		rotated := db.must(t, withOld(t, b, a64))
		assert.Equal(t, map[[4]byte]int{b.id: 5}, sealedIDs(t, rotated), "every secret (and the key check) under B")
		p, err := rotated.Portal(ctx, 7)
		require.NoError(t, err)
		assert.Equal(t, []string{"at-7", "rt-7"}, []string{p.AccessToken, p.RefreshToken})
		got, err := rotated.Account(ctx, acct.Number)
		require.NoError(t, err)
		assert.Equal(t, []string{"line-token", "line-secret"}, []string{got.AccessToken, got.ChannelSecret})

		_, err = db.open(t, a)
		require.ErrorIs(t, err, ErrWrongKey, "the old key alone, once rotated")
		alone := db.must(t, b)
		p, err = alone.Portal(ctx, 7)
		require.NoError(t, err)
		assert.Equal(t, "at-7", p.AccessToken)
	})
}

// TestSecretKeyRotationLeftovers: a process still running with the old key alone keeps
// writing under it; the new key alone then refuses to start rather than run unable to read
// those secrets, and the new key with the old one re-encrypts them.
func TestSecretKeyRotationLeftovers(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		a64, a := keyPair(t)
		_, b := keyPair(t)
		oldProcess := db.must(t, a)
		db.must(t, withOld(t, b, a64)) // rotates
		require.NoError(t, oldProcess.PutPortal(ctx, Portal{PortalID: 8, AccessToken: "at-8", RefreshToken: "rt-8"}))

		_, err := db.open(t, b)
		require.ErrorIs(t, err, ErrWrongKey)
		assert.Contains(t, err.Error(), "2 stored secrets")
		assert.Contains(t, err.Error(), "HUBLINE_SECRET_OLD_KEYS")

		db.must(t, withOld(t, b, a64))
		s := db.must(t, b)
		p, err := s.Portal(ctx, 8)
		require.NoError(t, err)
		assert.Equal(t, "rt-8", p.RefreshToken)
	})
}

// TestSecretKeyRotationConcurrent: processes starting at once with the new key (and the old)
// and with the old key (and the new, as during a rollout), while another process keeps
// refreshing a token: nothing is lost or corrupted, and the last token written is the one
// read.
func TestSecretKeyRotationConcurrent(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		a64, a := keyPair(t)
		b64, b := keyPair(t)
		writer := db.must(t, a)
		require.NoError(t, writer.PutPortal(ctx, Portal{PortalID: 9, AccessToken: "at-0", RefreshToken: "rt"}))

		const writes = 60
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 1; i <= writes; i++ {
				assert.NoError(t, writer.PutPortal(ctx, Portal{PortalID: 9, AccessToken: fmt.Sprintf("at-%d", i), RefreshToken: "rt"}))
			}
		}()
		for i := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				keys := withOld(t, b, a64) // new key, old still readable
				if i%2 == 1 {
					keys = withOld(t, a, b64) // the first step of a rollout: old key, new readable
				}
				for range 4 {
					s, err := db.open(t, keys)
					if assert.NoError(t, err) {
						s.Close()
					}
				}
			}()
		}
		wg.Wait()
		s := db.must(t, withOld(t, b, a64))
		p, err := s.Portal(ctx, 9)
		require.NoError(t, err)
		assert.Equal(t, fmt.Sprintf("at-%d", writes), p.AccessToken, "a re-encryption overwrote a newer token")
		assert.Equal(t, "rt", p.RefreshToken)
		assert.Equal(t, map[[4]byte]int{b.id: 3}, sealedIDs(t, s))
	})
}

// TestSecretKeyRotationRace: a token written between the re-encryption's read and its
// write is kept (PostgreSQL; SQLite's write lock keeps writers out for the whole run).
func TestSecretKeyRotationRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		a64, a := keyPair(t)
		_, b := keyPair(t)
		writer := db.must(t, a)
		require.NoError(t, writer.PutPortal(ctx, Portal{PortalID: 9, AccessToken: "at-old", RefreshToken: "rt"}))
		if !writer.pg {
			t.Skip("SQLite: the re-encryption holds the write lock")
		}
		var once sync.Once
		reencryptHook = func(table, column string) {
			if table != "portals" || column != "access_token" {
				return
			}
			once.Do(func() {
				assert.NoError(t, writer.PutPortal(ctx, Portal{PortalID: 9, AccessToken: "at-refreshed", RefreshToken: "rt"}))
			})
		}
		defer func() { reencryptHook = nil }()
		s := db.must(t, withOld(t, b, a64))
		p, err := s.Portal(ctx, 9)
		require.NoError(t, err)
		assert.Equal(t, "at-refreshed", p.AccessToken, "the re-encryption overwrote a token written meanwhile")
	})
}

func TestWithOld(t *testing.T) {
	a64, a := keyPair(t)
	b64, b := keyPair(t)
	k := withOld(t, b, a64, " ", b64)
	assert.Equal(t, b.id, k.id)
	assert.Len(t, k.old, 1, "the current key is not an old one")
	same, err := b.WithOld("")
	require.NoError(t, err)
	assert.Same(t, b, same)
	_ = a

	_, err = (*Keys)(nil).WithOld(a64)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HUBLINE_SECRET_OLD_KEYS needs HUBLINE_SECRET_KEY")
	_, err = b.WithOld(a64 + ",not-a-key!")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "HUBLINE_SECRET_OLD_KEYS: key 2")
	assert.NotContains(t, err.Error(), "not-a-key!")
	assert.NotContains(t, err.Error(), a64)
}
