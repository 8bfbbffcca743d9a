package hubspot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
)

// arrivals wraps a handler and records when each request arrived.
type arrivals struct {
	mu    sync.Mutex
	times []time.Time
	paths []string
	next  http.Handler
}

func (a *arrivals) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.times = append(a.times, time.Now())
	a.paths = append(a.paths, r.URL.Path)
	a.mu.Unlock()
	a.next.ServeHTTP(w, r)
}

func (a *arrivals) snapshot() ([]time.Time, []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.times...), append([]string(nil), a.paths...)
}

func TestLimiterSpreadsRequestsOverBudget(t *testing.T) {
	const budget, interval, total = 5, 200 * time.Millisecond, 16
	sb := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: testToken, RateLimit: budget, RateInterval: interval})
	arr := &arrivals{next: sb}
	srv := httptest.NewServer(arr)
	defer srv.Close()
	c := NewClient(Options{BaseURL: srv.URL, Tokens: StaticToken(testToken), RequestsPerInterval: budget, Interval: interval})

	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range total {
		wg.Go(func() {
			err := c.CompleteCallback(context.Background(), 1, fmt.Sprint("cb-", i), map[string]string{"hs_execution_state": "SUCCESS"})
			if err != nil {
				failed.Add(1)
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if failed.Load() != 0 || sb.RateLimited() != 0 {
		t.Fatalf("%d failed, %d rate limited: the client should have paced itself", failed.Load(), sb.RateLimited())
	}
	times, _ := arr.snapshot()
	if len(times) != total {
		t.Fatalf("%d requests reached the server", len(times))
	}
	// No rolling window may hold more than the budget, so the total must
	// have been spread over at least (total/budget - 1) intervals.
	for i := range times {
		n := 0
		for j := range times {
			if !times[j].Before(times[i]) && times[j].Sub(times[i]) < interval {
				n++
			}
		}
		if n > budget {
			t.Fatalf("%d requests within one interval starting at request %d", n, i)
		}
	}
	if span := times[len(times)-1].Sub(times[0]); span < (total/budget-1)*interval {
		t.Errorf("requests spread over only %v", span)
	}
}

func TestLimiter429HoldsOnlyThatPortal(t *testing.T) {
	var first atomic.Bool
	arr := &arrivals{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.URL.Path, "p1-") && first.CompareAndSwap(false, true) {
			w.Header().Set("X-HubSpot-RateLimit-Interval-Milliseconds", "300")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = io.WriteString(w, `{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING","correlationId":"c"}`)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	srv := httptest.NewServer(arr)
	defer srv.Close()
	c := testClient(srv.URL, nil)
	ctx := context.Background()

	err := c.CompleteCallback(ctx, 1, "p1-a", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter != 300*time.Millisecond || !ae.Retryable() || ae.PolicyName != "TEN_SECONDLY_ROLLING" {
		t.Fatalf("err = %#v", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.CompleteCallback(ctx, 1, "p1-b", nil); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if err := c.CompleteCallback(ctx, 2, "p2-a", nil); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	times, paths := arr.snapshot()
	if len(paths) != 3 || !strings.Contains(paths[1], "p2-a") || !strings.Contains(paths[2], "p1-b") {
		t.Fatalf("order = %v; portal 2 must not wait for portal 1's hold", paths)
	}
	if d := times[2].Sub(times[0]); d < 290*time.Millisecond {
		t.Errorf("portal 1 resumed after %v, want >= 300ms", d)
	}
}

func TestLimiter429DefaultsAndDaily(t *testing.T) {
	var calls atomic.Int32
	policy := "" // set before each call; read by the handler
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		mu.Lock()
		p := policy
		mu.Unlock()
		w.WriteHeader(http.StatusTooManyRequests)
		fmt.Fprintf(w, `{"status":"error","errorType":"RATE_LIMIT","policyName":%q}`, p)
	}))
	defer srv.Close()
	c := testClient(srv.URL, nil)

	// No policy and no headers: hold 10 s.
	err := c.CompleteCallback(context.Background(), 1, "x", nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.RetryAfter != 10*time.Second {
		t.Fatalf("err = %v", err)
	}
	l := c.limiter(1)
	l.mu.Lock()
	held := time.Until(l.heldUntil)
	l.mu.Unlock()
	if held < 9*time.Second {
		t.Errorf("portal held for %v, want ~10s", held)
	}
	// The held portal honours ctx instead of sleeping 10 s.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.CompleteCallback(ctx, 1, "x", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("held portal: err = %v", err)
	}

	mu.Lock()
	policy = "DAILY"
	mu.Unlock()
	err = c.CompleteCallback(context.Background(), 2, "x", nil)
	if !errors.As(err, &ae) || ae.RetryAfter != time.Hour || ae.PolicyName != "DAILY" {
		t.Fatalf("daily err = %v", err)
	}
	before := calls.Load()
	err = c.CompleteCallback(context.Background(), 2, "x", nil)
	if !errors.As(err, &ae) || ae.StatusCode != 429 || ae.RetryAfter < 59*time.Minute || ae.Op != opCompleteCallback {
		t.Fatalf("after daily: %v", err)
	}
	if calls.Load() != before {
		t.Error("a portal over its daily limit must fail fast without calling HubSpot")
	}
}

func TestLimiterFollowsHeaders(t *testing.T) {
	var n atomic.Int32
	arr := &arrivals{next: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch n.Add(1) {
		case 1: // budget exhausted: wait for the slots we lack, (100/50-0+1) x 1000ms/100
			h.Set("X-HubSpot-RateLimit-Max", "100")
			h.Set("X-HubSpot-RateLimit-Remaining", "0")
			h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "1000")
		case 2: // a smaller budget than ours: adopt it
			h.Set("X-HubSpot-RateLimit-Max", "200")
			h.Set("X-HubSpot-RateLimit-Remaining", "15")
			h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "10000")
		default: // a larger one must not speed us up
			h.Set("X-HubSpot-RateLimit-Max", "5000")
			h.Set("X-HubSpot-RateLimit-Remaining", "4000")
			h.Set("X-HubSpot-RateLimit-Interval-Milliseconds", "1000")
		}
		w.WriteHeader(http.StatusNoContent)
	})}
	srv := httptest.NewServer(arr)
	defer srv.Close()
	c := testClient(srv.URL, nil) // 1000 per second
	ctx := context.Background()
	for range 3 {
		if err := c.CompleteCallback(ctx, 1, "x", nil); err != nil {
			t.Fatal(err)
		}
	}
	times, _ := arr.snapshot()
	if d := times[1].Sub(times[0]); d < 29*time.Millisecond {
		t.Errorf("second request after %v, want >= 30ms (Remaining 0)", d)
	}
	l := c.limiter(1)
	l.mu.Lock()
	budget, interval := l.budget, l.interval
	l.mu.Unlock()
	if budget != 200 || interval != 10*time.Second {
		t.Errorf("budget = %d per %v, want 200 per 10s", budget, interval)
	}
	if other := c.limiter(2); other.budget != 1000 {
		t.Errorf("portal 2 budget changed to %d", other.budget)
	}
}

func TestLimiterBudgetMath(t *testing.T) {
	for _, tc := range []struct {
		n     int
		burst float64
	}{{100, 10}, {110, 10}, {5, 1}, {1, 1}, {1000, 10}} {
		l := newPortalLimiter(tc.n, 10*time.Second)
		if l.burst != tc.burst || l.rate <= 0 {
			t.Errorf("n=%d: burst %v rate %v", tc.n, l.burst, l.rate)
		}
		// A full burst plus one interval of steady rate stays within budget.
		if tc.n > 1 && l.burst+l.rate*10 > float64(tc.n) {
			t.Errorf("n=%d: burst+rate*interval = %v exceeds the budget", tc.n, l.burst+l.rate*10)
		}
	}
}
