// Package portaltokens supplies each installed HubSpot portal's OAuth access token in
// multi-portal mode. Tokens live in the store; one shortly before expiry is refreshed under
// the store's portal lock, so however many workers and callers need it at once, HubSpot
// sees one refresh per portal. A refresh token HubSpot refuses marks the portal revoked.
package portaltokens

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/store"
)

// DefaultRefreshBefore is how long before its expiry an access token is refreshed: long
// enough for a call that started with it to finish.
const DefaultRefreshBefore = 5 * time.Minute

// Options configure a Source.
type Options struct {
	Store *store.Store
	// OAuth refreshes tokens (the app's client ID and secret, HUBSPOT_API_BASE_URL).
	OAuth  *hubspot.OAuth
	Logger *zap.Logger
	// RefreshBefore defaults to DefaultRefreshBefore.
	RefreshBefore time.Duration
	// Now is the clock (tests move it).
	Now func() time.Time
}

// Source is a hubspot.PortalTokenSource (and TokenRejecter) over the store. Safe for
// concurrent use.
type Source struct {
	o   Options
	log *zap.Logger

	mu       sync.Mutex
	cache    map[int64]cached
	rejected map[int64]string // tokens HubSpot answered 401 to: refresh even if not expired
	flights  map[int64]*flight

	refused atomic.Int64
}

type cached struct {
	token   string
	expires time.Time
}

// flight is one in-process load of a portal's token, shared by every concurrent caller.
type flight struct {
	done  chan struct{}
	token string
	err   error
}

// New returns a Source.
func New(o Options) *Source {
	if o.RefreshBefore <= 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	return &Source{o: o, log: o.Logger, cache: map[int64]cached{}, rejected: map[int64]string{}, flights: map[int64]*flight{}}
}

// Refused counts the calls refused because their portal is not connected (never
// installed, or revoked).
func (s *Source) Refused() int64 { return s.refused.Load() }

// PortalToken returns a valid access token for the portal. Errors wrapping
// hubspot.ErrNotConnected are final: the portal has no tokens, or HubSpot refused its
// refresh token (the portal is then marked revoked).
func (s *Source) PortalToken(ctx context.Context, portalID int64) (string, error) {
	s.mu.Lock()
	if c, ok := s.cache[portalID]; ok && s.fresh(c.expires) && s.rejected[portalID] != c.token {
		s.mu.Unlock()
		return c.token, nil
	}
	f, ok := s.flights[portalID]
	if !ok {
		f = &flight{done: make(chan struct{})}
		s.flights[portalID] = f
		go s.load(context.WithoutCancel(ctx), portalID, f)
	}
	s.mu.Unlock()
	select {
	case <-f.done:
		return f.token, f.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// TokenRejected drops a token HubSpot answered 401 to: the next call refreshes it, unless
// another caller already did.
func (s *Source) TokenRejected(portalID int64, token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rejected[portalID] = token
	if s.cache[portalID].token == token {
		delete(s.cache, portalID)
	}
}

func (s *Source) fresh(expires time.Time) bool {
	return s.o.Now().Add(s.o.RefreshBefore).Before(expires)
}

// load reads (and if need be refreshes) the portal's token, then releases the flight. It
// runs detached from the first caller's cancellation, bounded by its own timeout, so one
// impatient caller does not fail the others.
func (s *Source) load(ctx context.Context, portalID int64, f *flight) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var expires time.Time
	f.token, expires, f.err = s.fetch(ctx, portalID)
	s.mu.Lock()
	delete(s.flights, portalID)
	if f.err == nil {
		s.cache[portalID] = cached{token: f.token, expires: expires}
	}
	s.mu.Unlock()
	close(f.done)
}

func (s *Source) notConnected(portalID int64, why string) error {
	n := s.refused.Add(1)
	s.log.Error("HubSpot portal is not connected: its HubSpot calls (callbacks, timeline, CRM reads) fail until it installs the app again",
		zap.Int64("portal_id", portalID), zap.String("reason", why), zap.Int64("refused_total", n))
	return fmt.Errorf("%w: portal %d %s", hubspot.ErrNotConnected, portalID, why)
}

func (s *Source) fetch(ctx context.Context, portalID int64) (string, time.Time, error) {
	s.mu.Lock()
	rejected := s.rejected[portalID]
	s.mu.Unlock()
	p, err := s.o.Store.Portal(ctx, portalID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", time.Time{}, s.notConnected(portalID, "has not installed the app")
	case err != nil:
		return "", time.Time{}, fmt.Errorf("read portal %d: %w", portalID, err)
	case p.Status == store.StatusRevoked:
		return "", time.Time{}, s.notConnected(portalID, "revoked hubline's access")
	case s.fresh(p.ExpiresAt) && p.AccessToken != rejected:
		return p.AccessToken, p.ExpiresAt, nil
	}
	// Expiring, expired or rejected: refresh under the portal's lock, unless another process
	// did while we waited for it.
	revoked := false
	p, err = s.o.Store.WithPortalLock(ctx, portalID, func(ctx context.Context, cur store.Portal) (store.Portal, bool, error) {
		if cur.Status == store.StatusRevoked {
			revoked = true
			return cur, false, nil
		}
		if s.fresh(cur.ExpiresAt) && cur.AccessToken != rejected {
			return cur, false, nil
		}
		tok, err := s.o.OAuth.Refresh(ctx, cur.RefreshToken)
		if errors.Is(err, hubspot.ErrInvalidGrant) {
			revoked = true
			cur.Status = store.StatusRevoked
			return cur, true, nil
		}
		if err != nil {
			return cur, false, err
		}
		s.log.Info("refreshed HubSpot access token", zap.Int64("portal_id", portalID), zap.Duration("expires_in", tok.ExpiresIn))
		next := cur
		next.AccessToken = tok.AccessToken
		if tok.RefreshToken != "" {
			next.RefreshToken = tok.RefreshToken
		}
		next.ExpiresAt = s.o.Now().Add(tok.ExpiresIn)
		return next, true, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", time.Time{}, s.notConnected(portalID, "has not installed the app")
	case err != nil:
		return "", time.Time{}, fmt.Errorf("refresh HubSpot token of portal %d: %w", portalID, err)
	case revoked:
		return "", time.Time{}, s.notConnected(portalID, "revoked hubline's access (HubSpot refused its refresh token)")
	}
	return p.AccessToken, p.ExpiresAt, nil
}
