package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLineContacts(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, nil)
		_, err := s.LineContact(ctx, 1, 1, "U1")
		assert.ErrorIs(t, err, ErrNotFound)

		require.NoError(t, s.SetLineContact(ctx, 1, 1, "U1", "101"))
		require.NoError(t, s.SetLineContact(ctx, 1, 1, "U1", "101"), "same mapping again is a no-op")
		err = s.SetLineContact(ctx, 1, 1, "U1", "102")
		assert.ErrorIs(t, err, ErrLineUserMapped)
		got, err := s.LineContact(ctx, 1, 1, "U1")
		require.NoError(t, err)
		assert.Equal(t, "101", got, "a mapping is never silently moved")

		// Portal, account and user each make their own key.
		for _, k := range []struct {
			portal  int64
			account int
			user    string
		}{{2, 1, "U1"}, {1, 2, "U1"}, {1, 1, "U2"}} {
			_, err := s.LineContact(ctx, k.portal, k.account, k.user)
			assert.ErrorIs(t, err, ErrNotFound, "%+v", k)
		}
		assert.Error(t, s.SetLineContact(ctx, 1, 1, "", "1"))
		assert.Error(t, s.SetLineContact(ctx, 1, 1, "U3", ""))

		removed, err := s.RemoveLineContact(ctx, 1, 1, "U1", "999")
		require.NoError(t, err)
		assert.False(t, removed, "only the mapping to that contact is removed")
		removed, err = s.RemoveLineContact(ctx, 1, 1, "U1", "101")
		require.NoError(t, err)
		assert.True(t, removed)
		_, err = s.LineContact(ctx, 1, 1, "U1")
		assert.ErrorIs(t, err, ErrNotFound)
	})
}

func TestLineEventTimes(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, nil)
		got, err := s.LineEventTime(ctx, 1, 1, "U1", "follow")
		require.NoError(t, err)
		assert.True(t, got.IsZero())

		t2 := time.UnixMilli(1_700_000_002_000).UTC()
		require.NoError(t, s.SetLineEventTime(ctx, 1, 1, "U1", "follow", t2))
		require.NoError(t, s.SetLineEventTime(ctx, 1, 1, "U1", "follow", t2.Add(-time.Second)), "an older time is ignored")
		got, err = s.LineEventTime(ctx, 1, 1, "U1", "follow")
		require.NoError(t, err)
		assert.True(t, t2.Equal(got), "got %v", got)

		got, err = s.LineEventTime(ctx, 1, 1, "U1", "interaction")
		require.NoError(t, err)
		assert.True(t, got.IsZero(), "kinds are separate")

		require.NoError(t, s.SetLineEventTime(ctx, 1, 1, "U1", "follow", t2.Add(time.Millisecond)))
		got, err = s.LineEventTime(ctx, 1, 1, "U1", "follow")
		require.NoError(t, err)
		assert.True(t, t2.Add(time.Millisecond).Equal(got))
	})
}

// Writes through fn's ctx are committed with a nil return and rolled back with an error;
// a nested lock is refused rather than deadlocking.
func TestWithLineUserLockTransaction(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		s := db.must(t, nil)
		boom := errors.New("boom")
		err := s.WithLineUserLock(ctx, 1, 1, "U1", func(ctx context.Context) error {
			require.NoError(t, s.SetLineContact(ctx, 1, 1, "U1", "101"))
			require.NoError(t, s.SetLineEventTime(ctx, 1, 1, "U1", "follow", time.UnixMilli(5)))
			got, err := s.LineContact(ctx, 1, 1, "U1")
			require.NoError(t, err)
			assert.Equal(t, "101", got, "fn reads its own write")
			return boom
		})
		assert.ErrorIs(t, err, boom)
		_, err = s.LineContact(ctx, 1, 1, "U1")
		assert.ErrorIs(t, err, ErrNotFound, "rolled back")
		tm, err := s.LineEventTime(ctx, 1, 1, "U1", "follow")
		require.NoError(t, err)
		assert.True(t, tm.IsZero(), "rolled back")

		require.NoError(t, s.WithLineUserLock(ctx, 1, 1, "U1", func(ctx context.Context) error {
			return s.SetLineContact(ctx, 1, 1, "U1", "101")
		}))
		got, err := s.LineContact(ctx, 1, 1, "U1")
		require.NoError(t, err)
		assert.Equal(t, "101", got, "committed")

		err = s.WithLineUserLock(ctx, 1, 1, "U1", func(ctx context.Context) error {
			return s.WithLineUserLock(ctx, 1, 1, "U2", func(context.Context) error { return nil })
		})
		assert.Error(t, err)
		assert.Error(t, s.WithLineUserLock(ctx, 1, 1, "", func(context.Context) error { return nil }))
	})
}

// Many deciders on two handles (as two processes) race for one LINE user: each looks up the
// mapping and, if there is none, "creates a contact" and maps it. Exactly one creates.
func TestWithLineUserLockRace(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		a, b := db.must(t, nil), db.must(t, nil)
		var created atomic.Int32
		var wg sync.WaitGroup
		results := make(chan string, 8)
		errs := make(chan error, 8)
		for i := range 8 {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				var id string
				err := s.WithLineUserLock(ctx, 7, 2, "Urace", func(ctx context.Context) error {
					cur, err := s.LineContact(ctx, 7, 2, "Urace")
					if err == nil {
						id = cur
						return nil
					}
					if !errors.Is(err, ErrNotFound) {
						return err
					}
					time.Sleep(20 * time.Millisecond) // the HubSpot create
					id = fmt.Sprint(1000 + created.Add(1))
					return s.SetLineContact(ctx, 7, 2, "Urace", id)
				})
				errs <- err
				results <- id
			}()
		}
		wg.Wait()
		close(errs)
		close(results)
		for err := range errs {
			require.NoError(t, err)
		}
		assert.Equal(t, int32(1), created.Load(), "one contact created")
		for id := range results {
			assert.Equal(t, "1001", id)
		}
	})
}

// The lock holds across handles: a second WithLineUserLock for the same user waits, another
// user's does not (on PostgreSQL; SQLite's write lock serializes every user).
func TestWithLineUserLockExclusive(t *testing.T) {
	eachBackend(t, func(t *testing.T, db database) {
		ctx := context.Background()
		a, b := db.must(t, nil), db.must(t, nil)
		locked, release := make(chan struct{}), make(chan struct{})
		unlock := sync.OnceFunc(func() { close(release) })
		defer unlock()
		aDone := make(chan error, 1)
		go func() {
			aDone <- a.WithLineUserLock(ctx, 1, 1, "U1", func(context.Context) error {
				close(locked)
				<-release
				return nil
			})
		}()
		<-locked
		bEntered := make(chan struct{})
		bDone := make(chan error, 1)
		go func() {
			bDone <- b.WithLineUserLock(ctx, 1, 1, "U1", func(context.Context) error {
				close(bEntered)
				return nil
			})
		}()
		select {
		case <-bEntered:
			t.Fatal("second WithLineUserLock ran while the first held the lock")
		case <-time.After(500 * time.Millisecond):
		}
		if b.pg {
			require.NoError(t, b.WithLineUserLock(ctx, 1, 1, "U2", func(context.Context) error { return nil }), "another user is not blocked")
		}
		unlock()
		require.NoError(t, <-aDone)
		select {
		case err := <-bDone:
			require.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Fatal("second WithLineUserLock did not run after the first returned")
		}
	})
}
