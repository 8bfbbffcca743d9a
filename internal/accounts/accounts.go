// Package accounts is the one view of hubline's LINE accounts: environment accounts
// (LINE_CHANNEL_ACCESS_TOKEN, _2, ...) and stored accounts (added with hubline accounts add),
// with the HubSpot portal each belongs to. The starter resolves line_account through it and
// the worker finds LINE clients through it, so both apply the same ownership rules.
package accounts

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
)

// Error codes of a line_account that cannot be used (contract).
const (
	CodeInvalid = "invalid_line_account"
	CodeUnknown = "unknown_line_account"
)

// reloadTimeout bounds one read of the stored accounts.
const reloadTimeout = 10 * time.Second

// Account is one LINE official account.
type Account struct {
	// Number is deployment-wide: line_account, line-queue-<n>-<shard>, hubline-line-<n>.
	Number int
	// PortalID is the only HubSpot portal that may use the account; 0: any portal (an
	// environment account without LINE_CHANNEL_PORTAL, the single-tenant mode).
	PortalID         int64
	Name             string
	AccessToken      string
	ChannelSecret    string
	PushRate         int
	AggregationUnits bool
	Stored           bool
}

// UsableBy reports whether portalID may send through the account.
func (a Account) UsableBy(portalID int64) bool { return a.PortalID == 0 || a.PortalID == portalID }

// Label is how the account is shown in lists: its name, else "LINE account <n>".
func (a Account) Label() string {
	if a.Name != "" {
		return a.Name
	}
	return "LINE account " + strconv.Itoa(a.Number)
}

// Error is a line_account the portal cannot use; Code is CodeInvalid or CodeUnknown.
type Error struct{ Code, Message string }

func (e *Error) Error() string { return e.Message }

// FromConfig lists the environment accounts.
func FromConfig(cfg *config.Config) []Account {
	var out []Account
	for _, n := range cfg.AccountNumbers() {
		a := cfg.LineAccounts[n]
		out = append(out, Account{Number: n, PortalID: a.PortalID, AccessToken: a.Token,
			PushRate: cfg.Queue.PushRate(n), AggregationUnits: a.AggregationUnits})
	}
	return out
}

// Options configure a Resolver.
type Options struct {
	// Env are the environment accounts; they keep their numbers whatever is stored.
	Env []Account
	// Stored lists the stored accounts (with Stored set); nil: no database, only Env.
	Stored func(ctx context.Context) ([]Account, error)
	// MinReload is the least time between the starts of two reloads caused by misses
	// (default 100ms): a portal asking for numbers it does not own cannot turn each request
	// into a query.
	MinReload time.Duration
	Logger    *zap.Logger
}

// Resolver merges environment and stored accounts. Safe for concurrent use.
type Resolver struct {
	o    Options
	snap atomic.Pointer[snapshot]

	mu         sync.Mutex // serializes reloads and watchers
	lastReload time.Time
	seen       map[int]bool
	watchers   []func(Account)
}

type snapshot struct {
	byNumber map[int]Account
	ordered  []Account
}

// New builds a Resolver and loads the stored accounts once; a store that cannot be read
// is an error (the process should not start with half its accounts).
func New(ctx context.Context, o Options) (*Resolver, error) {
	if o.MinReload == 0 {
		o.MinReload = 100 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	r := &Resolver{o: o, seen: map[int]bool{}}
	r.set(merge(o.Env, nil, o.Logger))
	if err := r.Reload(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// Static is a Resolver of fixed accounts, without a store.
func Static(env []Account) *Resolver {
	r, _ := New(context.Background(), Options{Env: env})
	return r
}

func merge(env, stored []Account, log *zap.Logger) *snapshot {
	s := &snapshot{byNumber: map[int]Account{}}
	for _, a := range env {
		s.byNumber[a.Number] = a
	}
	for _, a := range stored {
		switch _, taken := s.byNumber[a.Number]; {
		case taken:
			// Environment accounts keep their numbers: the stored one is unreachable.
			log.Error("stored LINE account has the number of an environment account; it is ignored",
				zap.Int("line_account", a.Number), zap.Int64("portal_id", a.PortalID))
			continue
		case a.PortalID <= 0:
			log.Error("stored LINE account without an owner portal; it is ignored", zap.Int("line_account", a.Number))
			continue
		}
		a.Stored = true
		s.byNumber[a.Number] = a
	}
	for _, a := range s.byNumber {
		s.ordered = append(s.ordered, a)
	}
	sort.Slice(s.ordered, func(i, j int) bool { return s.ordered[i].Number < s.ordered[j].Number })
	return s
}

func (r *Resolver) set(s *snapshot) { r.snap.Store(s) }

// Reload reads the stored accounts again and tells watchers about new ones.
func (r *Resolver) Reload(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reloadLocked(ctx)
}

func (r *Resolver) reloadLocked(ctx context.Context) error {
	r.lastReload = time.Now()
	if r.o.Stored != nil {
		// Bounded: callers wait on it (a request, an activity), and a stuck database
		// should not hold them all behind the lock.
		ctx, cancel := context.WithTimeout(ctx, reloadTimeout)
		defer cancel()
		stored, err := r.o.Stored(ctx)
		if err != nil {
			return fmt.Errorf("read stored LINE accounts: %w", err)
		}
		r.set(merge(r.o.Env, stored, r.o.Logger))
	}
	for _, a := range r.snap.Load().ordered {
		if !r.seen[a.Number] {
			r.seen[a.Number] = true
			for _, w := range r.watchers {
				w(a)
			}
		}
	}
	return nil
}

// reloadOnMiss makes sure the view includes everything stored before it was called: it
// returns once a reload that started after the call has finished (concurrent misses share
// one). Reloads start at most every MinReload, so a portal asking for numbers it does not
// own cannot turn each request into a query; it waits instead. It reports whether the view
// may have changed.
func (r *Resolver) reloadOnMiss(ctx context.Context) bool {
	if r.o.Stored == nil {
		return false
	}
	asked := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lastReload.After(asked) {
		return true // another miss's reload started after this one asked, and has finished
	}
	if wait := r.o.MinReload - time.Since(r.lastReload); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	if err := r.reloadLocked(ctx); err != nil {
		r.o.Logger.Warn("could not reload LINE accounts", zap.Error(err))
		return false
	}
	return true
}

// Refresh makes sure the view includes every account stored before the call, for answers
// that should show an account added a moment ago (the line_account dropdown).
func (r *Resolver) Refresh(ctx context.Context) { r.reloadOnMiss(ctx) }

// Watch calls fn for every account now known and for each one that appears later (calls
// are serialized, and must not call back into a reload). The worker starts an account's
// send-unit worker from it.
func (r *Resolver) Watch(fn func(Account)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, a := range r.snap.Load().ordered {
		if r.seen[a.Number] {
			fn(a)
		}
	}
	r.watchers = append(r.watchers, fn)
}

// Run reloads every interval until ctx is done, so accounts added or removed elsewhere are
// seen without a miss.
func (r *Resolver) Run(ctx context.Context, every time.Duration) {
	if r.o.Stored == nil {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Reload(ctx); err != nil && ctx.Err() == nil {
				r.o.Logger.Warn("could not reload LINE accounts", zap.Error(err))
			}
		}
	}
}

// All lists every account, by number.
func (r *Resolver) All() []Account { return append([]Account(nil), r.snap.Load().ordered...) }

// Numbers lists every account number, in order.
func (r *Resolver) Numbers() []int {
	var ns []int
	for _, a := range r.snap.Load().ordered {
		ns = append(ns, a.Number)
	}
	return ns
}

// MaxEnvNumber is the highest environment account number (0: none); stored accounts are
// numbered above it.
func (r *Resolver) MaxEnvNumber() int {
	m := 0
	for _, a := range r.o.Env {
		m = max(m, a.Number)
	}
	return m
}

// Account finds account n whoever owns it (the worker: the starter checked ownership),
// reloading once on a miss.
func (r *Resolver) Account(ctx context.Context, n int) (Account, bool) {
	if a, ok := r.snap.Load().byNumber[n]; ok {
		return a, true
	}
	if r.reloadOnMiss(ctx) {
		a, ok := r.snap.Load().byNumber[n]
		return a, ok
	}
	return Account{}, false
}

// ForPortal lists the accounts portalID may use, by number.
func (r *Resolver) ForPortal(ctx context.Context, portalID int64) []Account {
	own := func() []Account {
		var out []Account
		for _, a := range r.snap.Load().ordered {
			if a.UsableBy(portalID) {
				out = append(out, a)
			}
		}
		return out
	}
	out := own()
	if len(out) == 0 && r.reloadOnMiss(ctx) {
		out = own()
	}
	return out
}

// Resolve turns a line_account input into the account portalID sends through: "" is the
// portal's lowest-numbered account. An account that does not exist and another portal's
// account get the same *Error, so a portal learns nothing about others' accounts.
func (r *Resolver) Resolve(ctx context.Context, portalID int64, input string) (Account, error) {
	if input == "" {
		if own := r.ForPortal(ctx, portalID); len(own) > 0 {
			return own[0], nil
		}
		return Account{}, &Error{CodeUnknown, "no LINE account is connected for this HubSpot account"}
	}
	n, err := strconv.Atoi(input)
	if err != nil || n < 1 {
		return Account{}, &Error{CodeInvalid, "line_account must be an account number (1, 2, ...)"}
	}
	lookup := func() (Account, bool) {
		a, ok := r.snap.Load().byNumber[n]
		return a, ok && a.UsableBy(portalID)
	}
	a, ok := lookup()
	if !ok && r.reloadOnMiss(ctx) {
		a, ok = lookup()
	}
	if !ok {
		return Account{}, &Error{CodeUnknown, fmt.Sprintf("LINE account %d is not connected", n)}
	}
	return a, nil
}
