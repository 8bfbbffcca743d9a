package hubspot

import (
	"context"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// dailyHold is how long a portal is refused locally after HubSpot reports the
// daily limit. The real reset is midnight in the portal's time zone, which we
// do not know; an hour keeps us from hammering a closed door.
const dailyHold = time.Hour

// portalLimiter paces requests to one HubSpot portal: a token bucket sized
// below the portal's budget, plus holds learned from HubSpot's answers.
type portalLimiter struct {
	mu        sync.Mutex
	rate      float64 // tokens per second
	burst     float64
	tokens    float64
	last      time.Time
	heldUntil time.Time // no requests before this (rolling limit exhausted)
	holdGen   uint64    // bumped by each new hold, so sleepers notice it
	dailyEnd  time.Time // fail fast until this (daily limit exhausted)
	budget    int
	interval  time.Duration
}

func newPortalLimiter(n int, interval time.Duration) *portalLimiter {
	l := &portalLimiter{last: time.Now()}
	l.setBudget(n, interval)
	l.tokens = l.burst
	return l
}

// setBudget derives the bucket from "n requests per interval". HubSpot counts a
// rolling window, and a bucket lets burst + rate*interval through in any
// window, so the steady rate leaves room for the burst.
func (l *portalLimiter) setBudget(n int, interval time.Duration) {
	l.budget, l.interval = n, interval
	b := n / 10
	b = max(1, min(10, b))
	l.burst = float64(b)
	steady := n - b
	if steady < 1 {
		steady = n
	}
	l.rate = float64(steady) / interval.Seconds()
	l.tokens = min(l.tokens, l.burst)
}

// Wait blocks until a request may be sent to this portal or ctx is done.
func (l *portalLimiter) Wait(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		wait, gen, err := l.reserve()
		if err != nil {
			return err
		}
		if wait <= 0 {
			return ctx.Err()
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			l.release()
			return ctx.Err()
		case <-t.C:
		}
		l.mu.Lock()
		held := l.holdGen != gen && time.Now().Before(l.heldUntil)
		l.mu.Unlock()
		if !held {
			return ctx.Err()
		}
		// A hold was set while we slept (a 429, or the budget ran out): our
		// slot is void, so queue again behind the hold.
		l.release()
	}
}

// reserve takes a token even if that drives the balance negative: each waiter
// sleeps exactly for its own deficit, so waiters queue fairly instead of all
// waking and racing for the same token.
func (l *portalLimiter) reserve() (time.Duration, uint64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := time.Now()
	if now.Before(l.dailyEnd) {
		return 0, 0, &APIError{StatusCode: http.StatusTooManyRequests, PolicyName: "DAILY", RetryAfter: l.dailyEnd.Sub(now),
			Message: "daily limit reached earlier; not calling HubSpot until it resets"}
	}
	start := now
	if l.heldUntil.After(start) {
		start = l.heldUntil
	}
	if start.After(l.last) {
		l.tokens = min(l.burst, l.tokens+start.Sub(l.last).Seconds()*l.rate)
		l.last = start
	}
	l.tokens--
	wait := start.Sub(now)
	if l.tokens < 0 {
		wait += time.Duration(-l.tokens / l.rate * float64(time.Second))
	}
	return wait, l.holdGen, nil
}

func (l *portalLimiter) release() {
	l.mu.Lock()
	l.tokens++
	l.mu.Unlock()
}

// hold stops requests to this portal for d.
func (l *portalLimiter) hold(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if until := time.Now().Add(d); until.After(l.heldUntil) {
		l.heldUntil = until
		l.holdGen++
		// The bucket restarts empty after the hold so we do not burst at once.
		l.tokens = min(l.tokens, 0)
		l.last = until
	}
}

func (l *portalLimiter) holdDaily() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dailyEnd = time.Now().Add(dailyHold)
}

// rateHeaders is what HubSpot tells us about the portal's budget.
type rateHeaders struct {
	max, remaining int
	interval       time.Duration
	ok             bool // max and interval both present
	hasRemaining   bool
}

func parseRateHeaders(h http.Header) rateHeaders {
	var r rateHeaders
	mx, err1 := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Max"))
	ms, err2 := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Interval-Milliseconds"))
	if err2 == nil && ms > 0 {
		r.interval = time.Duration(ms) * time.Millisecond
	}
	if err1 == nil && mx > 0 && r.interval > 0 {
		r.max, r.ok = mx, true
	}
	if rem, err := strconv.Atoi(h.Get("X-HubSpot-RateLimit-Remaining")); err == nil {
		r.remaining, r.hasRemaining = rem, true
	}
	return r
}

// observe adjusts pacing from a response's rate-limit headers.
func (l *portalLimiter) observe(h http.Header) {
	rh := parseRateHeaders(h)
	if rh.ok {
		l.mu.Lock()
		// Only ever slow down: several clients may share the portal, and a
		// header from a different (larger) policy must not speed us up.
		if float64(rh.max)/rh.interval.Seconds() < float64(l.budget)/l.interval.Seconds() {
			l.setBudget(rh.max, rh.interval)
		}
		l.mu.Unlock()
	}
	if !rh.hasRemaining {
		return
	}
	l.mu.Lock()
	budget, interval := l.budget, l.interval
	l.mu.Unlock()
	if rh.ok {
		budget = rh.max
	}
	if rh.interval > 0 {
		interval = rh.interval
	}
	// Other requests are usually in flight, so "very low" counts as empty. HubSpot's window
	// rolls: slots free up as old requests age out, about one per interval/budget when we
	// pace evenly, so wait for the slots we lack rather than a whole interval. Should that
	// be too short, HubSpot's 429 holds the portal for the full interval.
	if low := budget / 50; rh.remaining <= low && budget > 0 {
		l.hold(interval * time.Duration(low-rh.remaining+1) / time.Duration(budget))
	}
}

// limiter returns the portal's limiter, creating it on first use.
func (c *Client) limiter(portalID int64) *portalLimiter {
	c.mu.Lock()
	defer c.mu.Unlock()
	l, ok := c.limiters[portalID]
	if !ok {
		l = newPortalLimiter(c.rate, c.interval)
		c.limiters[portalID] = l
	}
	return l
}
