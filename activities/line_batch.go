package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/line"
)

// DefaultLinePushRate is pushes per second per LINE account when LINE_PUSH_RATE is unset
// (LINE allows 2,000; we keep a margin).
const DefaultLinePushRate = 1500

// Batch item outcomes.
const (
	BatchSent     = "sent"
	BatchFailed   = "failed"
	BatchExpired  = "expired"
	BatchDeferred = "deferred"
	// BatchUnknown: the deadline passed and an earlier attempt may have reached LINE, so
	// it is neither pushed late nor reported expired.
	BatchUnknown = "unknown"
)

// ErrDeliveryUnknown is the error_code of BatchUnknown.
const ErrDeliveryUnknown = "delivery_unknown"

// BatchPush is one recipient of a LINE batch.
type BatchPush struct {
	To              string
	Messages        []json.RawMessage
	AggregationUnit string `json:",omitempty"`
	// RetryKey is the recipient's deterministic X-Line-Retry-Key (from its callbackId).
	RetryKey string
	Deadline time.Time
	// MaybeAttempted: an earlier activity may have pushed it (a recovered batch, or a push
	// cut off by the monthly limit), so past the deadline it is delivery_unknown.
	MaybeAttempted bool `json:",omitempty"`
}

// LineBatchInput is one batch activity: many pushes for one account.
type LineBatchInput struct {
	Account int
	Pushes  []BatchPush
}

// BatchItemResult is one recipient's outcome ("" Status: not settled yet).
type BatchItemResult struct {
	Status    string `json:",omitempty"`
	RequestID string `json:",omitempty"`
	Code      string `json:",omitempty"`
	Message   string `json:",omitempty"`
	// Attempted (deferred only): a push went out whose answer never came.
	Attempted bool `json:",omitempty"`
}

// LineBatchOutput is the batch's outcome, index-aligned with the input. It is also the
// heartbeat detail, so a retried attempt skips recipients LINE already accepted.
type LineBatchOutput struct {
	Results []BatchItemResult
	// MonthlyLimit: LINE's monthly quota was reached; unsent recipients are deferred.
	MonthlyLimit bool `json:",omitempty"`
	RateLimited  int  `json:",omitempty"`
}

// LineRate derives the batch sender's settings from an account's push rate.
type LineRate struct {
	PushesPerSecond int
	// Concurrency is pushes in flight per batch activity.
	Concurrency int
}

// RateFor derives concurrency from pushes/s: enough in-flight pushes to fill the rate at
// ~40 ms per push, bounded to keep one activity from hogging the process.
func RateFor(pushesPerSecond int) LineRate {
	if pushesPerSecond <= 0 {
		pushesPerSecond = DefaultLinePushRate
	}
	c := pushesPerSecond / 25
	if c < 4 {
		c = 4
	}
	if c > 128 {
		c = 128
	}
	return LineRate{PushesPerSecond: pushesPerSecond, Concurrency: c}
}

// pushLimiter is a per-process, per-account pacer: one slot every 1/rate seconds with a
// small burst; LINE 429s lower the rate (and pause briefly), successes restore it.
type pushLimiter struct {
	mu    sync.Mutex
	max   float64
	rate  float64
	next  time.Time
	burst time.Duration
}

func newPushLimiter(rate int) *pushLimiter {
	return &pushLimiter{max: float64(rate), rate: float64(rate), burst: 20 * time.Millisecond}
}

func (l *pushLimiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	t := l.next
	if floor := now.Add(-l.burst); t.Before(floor) {
		t = floor
	}
	l.next = t.Add(time.Duration(float64(time.Second) / l.rate))
	l.mu.Unlock()
	if d := time.Until(t); d > 0 {
		tm := time.NewTimer(d)
		defer tm.Stop()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tm.C:
		}
	}
	return nil
}

// slowDown reacts to a LINE rate-limit answer.
func (l *pushLimiter) slowDown() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rate *= 0.8
	if min := l.max / 10; l.rate < min {
		l.rate = min
	}
	if p := time.Now().Add(100 * time.Millisecond); l.next.Before(p) {
		l.next = p
	}
}

func (l *pushLimiter) ok() {
	l.mu.Lock()
	if l.rate < l.max {
		l.rate += l.max / 500
		if l.rate > l.max {
			l.rate = l.max
		}
	}
	l.mu.Unlock()
}

// lineLimiters holds one pushLimiter per account, shared by every batch activity of the process.
type lineLimiters struct {
	mu sync.Mutex
	m  map[int]*pushLimiter
}

func (a *Activities) lineRate(ctx context.Context, account int) LineRate {
	return RateFor(PushRateOf(ctx, a, account))
}

func (a *Activities) pushLimiter(ctx context.Context, account int) *pushLimiter {
	a.lineLimits.mu.Lock()
	defer a.lineLimits.mu.Unlock()
	if a.lineLimits.m == nil {
		a.lineLimits.m = map[int]*pushLimiter{}
	}
	l := a.lineLimits.m[account]
	if l == nil {
		l = newPushLimiter(a.lineRate(ctx, account).PushesPerSecond)
		a.lineLimits.m[account] = l
	}
	return l
}

// transientTries is how many 5xx/timeouts one push retries inside an attempt before the
// activity attempt fails (Temporal then retries the rest with backoff).
const transientTries = 4

// SendLineBatch pushes to every recipient of the batch concurrently, paced by the account's
// rate, each with its own retry key, heartbeating progress. A retried attempt resumes from
// the last heartbeat; a recipient pushed again anyway gets LINE's 409 (counted as sent).
func (a *Activities) SendLineBatch(ctx context.Context, in LineBatchInput) (LineBatchOutput, error) {
	client, err := a.lineClient(ctx, in.Account)
	if err != nil {
		return LineBatchOutput{}, err
	}
	attempt := activity.GetInfo(ctx).Attempt
	log := a.logger().With(zap.Int("line_account", in.Account), zap.Int("recipients", len(in.Pushes)),
		zap.Int32("attempt", attempt))
	results := make([]BatchItemResult, len(in.Pushes))
	if activity.HasHeartbeatDetails(ctx) {
		var prev LineBatchOutput
		if err := activity.GetHeartbeatDetails(ctx, &prev); err == nil && len(prev.Results) == len(results) {
			copy(results, prev.Results)
		}
	}
	var mu sync.Mutex
	snapshot := func() LineBatchOutput {
		mu.Lock()
		defer mu.Unlock()
		return LineBatchOutput{Results: append([]BatchItemResult(nil), results...)}
	}

	rate := a.lineRate(ctx, in.Account)
	lim := a.pushLimiter(ctx, in.Account)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	var monthly atomic.Bool
	var rateLimited atomic.Int64
	work := make(chan int)
	go func() {
		defer close(work)
		for i := range results {
			if results[i].Status != "" {
				continue
			}
			select {
			case work <- i:
			case <-sctx.Done():
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < rate.Concurrency && w < len(results); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				// A retried attempt cannot know what the last one pushed after its last
				// heartbeat (heartbeats are throttled, and the last can be lost).
				maybe := in.Pushes[i].MaybeAttempted || attempt > 1
				r := a.pushOne(sctx, in.Account, client, lim, in.Pushes[i], maybe, &monthly, &rateLimited)
				if monthly.Load() {
					stop()
				}
				if r.Status != "" || r.Attempted {
					mu.Lock()
					results[i] = r
					mu.Unlock()
				}
			}
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	workerStop := activity.GetWorkerStopChannel(ctx)
loop:
	for {
		select {
		case <-finished:
			break loop
		case <-tick.C:
			activity.RecordHeartbeat(ctx, snapshot())
		case <-workerStop:
			// Stop promptly and hand the progress to the next attempt.
			stop()
			workerStop = nil
		}
	}
	out := snapshot()
	out.RateLimited = int(rateLimited.Load())
	activity.RecordHeartbeat(ctx, out)

	unsettled := 0
	for i := range out.Results {
		if out.Results[i].Status == "" {
			if monthly.Load() {
				out.Results[i] = BatchItemResult{Status: BatchDeferred,
					Attempted: out.Results[i].Attempted || in.Pushes[i].MaybeAttempted || attempt > 1}
				continue
			}
			unsettled++
		}
	}
	if monthly.Load() {
		out.MonthlyLimit = true
		log.Warn("LINE monthly limit reached: unsent recipients deferred")
		return out, nil
	}
	if unsettled > 0 {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		log.Warn("LINE batch attempt left recipients unsent; retrying", zap.Int("unsent", unsettled))
		// The results travel with the error: when this was the last attempt, the workflow
		// gets this error, not the heartbeat.
		return out, temporal.NewApplicationError(fmt.Sprintf("%d recipients not yet accepted by LINE", unsettled), ErrLineUnavailable, out)
	}
	log.Debug("LINE batch sent", zap.Int64("rate_limited", rateLimited.Load()))
	return out, nil
}

// pushOne sends one recipient's push, absorbing rate limits; "" Status means not settled.
//
// maybe says an earlier attempt may have pushed it already. The result's Attempted is set
// when this call left a push without an answer (cut off, 5xx or a timeout).
func (a *Activities) pushOne(ctx context.Context, account int, client *line.Client, lim *pushLimiter, p BatchPush, maybe bool,
	monthly *atomic.Bool, rateLimited *atomic.Int64) BatchItemResult {
	backoff := 100 * time.Millisecond
	transient := 0
	doubt := false
	unsettled := func() BatchItemResult { return BatchItemResult{Attempted: doubt} }
	for {
		if ctx.Err() != nil || monthly.Load() {
			return unsettled()
		}
		if !p.Deadline.IsZero() && !a.now().Before(p.Deadline) {
			if maybe || doubt {
				return BatchItemResult{Status: BatchUnknown, Code: ErrDeliveryUnknown,
					Message: "the action's block expiration passed while LINE's answer to an earlier attempt was unknown; not sending late"}
			}
			return BatchItemResult{Status: BatchExpired, Code: ErrExpired,
				Message: "the action's block expiration passed before the message could be sent; not sending late"}
		}
		if err := lim.wait(ctx); err != nil {
			return unsettled()
		}
		res, err := a.push(ctx, account, client, line.PushRequest{
			To: p.To, Messages: p.Messages, AggregationUnit: p.AggregationUnit, RetryKey: p.RetryKey,
		})
		if err == nil {
			lim.ok()
			id := res.RequestID
			if res.Duplicate && res.AcceptedRequestID != "" {
				id = res.AcceptedRequestID
			}
			return BatchItemResult{Status: BatchSent, RequestID: id}
		}
		var ae *line.APIError
		kind := line.KindRetryable
		if errors.As(err, &ae) {
			kind = ae.Kind
		}
		switch kind {
		case line.KindRateLimited:
			rateLimited.Add(1)
			lim.slowDown()
		case line.KindMonthlyLimit:
			monthly.Store(true)
			return unsettled()
		case line.KindInvalid:
			return BatchItemResult{Status: BatchFailed, Code: ErrLineInvalid, Message: clip(ae.Error(), 300)}
		case line.KindAuth:
			return BatchItemResult{Status: BatchFailed, Code: ErrLineAuth, Message: clip(ae.Error()+" (check the channel access token)", 300)}
		default:
			// No answer, or a 5xx: LINE may have accepted it.
			doubt = true
			if ctx.Err() != nil {
				return unsettled()
			}
			transient++
			if transient >= transientTries {
				return unsettled()
			}
		}
		d := backoff/2 + time.Duration(rand.Int64N(int64(backoff)))
		if backoff < 5*time.Second {
			backoff *= 2
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return unsettled()
		case <-t.C:
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
