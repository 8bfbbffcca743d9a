package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
)

const sandboxToken = "line-token-1"

// batchRig is SendLineBatch against the LINE sandbox, with a fixed clock.
type batchRig struct {
	sandbox *linesandbox.Server
	client  *line.Client
	acts    *activities.Activities
	env     *testsuite.TestActivityEnvironment
	now     time.Time
}

func newBatchRig(t *testing.T) *batchRig {
	t.Helper()
	r := &batchRig{now: time.Now().Truncate(time.Second)}
	r.sandbox = linesandbox.New(linesandbox.Options{Tokens: map[string]string{sandboxToken: "account 1"}})
	srv := httptest.NewServer(r.sandbox)
	t.Cleanup(srv.Close)
	c, err := line.NewClient(srv.URL, sandboxToken, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	r.client = c
	r.acts = &activities.Activities{LINE: map[int]*line.Client{1: c}, Now: func() time.Time { return r.now }}
	var s testsuite.WorkflowTestSuite
	r.env = s.NewTestActivityEnvironment()
	r.env.RegisterActivity(r.acts)
	return r
}

func (r *batchRig) send(t *testing.T, account int, pushes ...activities.BatchPush) (activities.LineBatchOutput, error) {
	t.Helper()
	v, err := r.env.ExecuteActivity(r.acts.SendLineBatch, activities.LineBatchInput{Account: account, Pushes: pushes})
	var out activities.LineBatchOutput
	if err == nil {
		if gerr := v.Get(&out); gerr != nil {
			t.Fatal(gerr)
		}
	}
	return out, err
}

func batchPush(user string, deadline time.Time, maybe bool) activities.BatchPush {
	return activities.BatchPush{
		To: user, Messages: []json.RawMessage{[]byte(`{"type":"text","text":"hello"}`)},
		RetryKey: uuid.NewString(), Deadline: deadline, MaybeAttempted: maybe,
	}
}

const (
	userA = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"
	userB = "U4af4980629bbbbbbbbbbbbbbbbbbbbbb"
)

func TestSendLineBatchDeadlines(t *testing.T) {
	for _, tc := range []struct {
		name     string
		deadline time.Duration // from the activities' clock
		maybe    bool
		status   string
		code     string
		requests int
	}{
		{name: "past, maybe attempted", deadline: -time.Minute, maybe: true, status: activities.BatchUnknown, code: activities.ErrDeliveryUnknown},
		{name: "past, never attempted", deadline: -time.Minute, status: activities.BatchExpired, code: activities.ErrExpired},
		{name: "exactly now, maybe attempted", deadline: 0, maybe: true, status: activities.BatchUnknown, code: activities.ErrDeliveryUnknown},
		{name: "exactly now", deadline: 0, status: activities.BatchExpired, code: activities.ErrExpired},
		{name: "future", deadline: time.Hour, status: activities.BatchSent, requests: 1},
		{name: "future, maybe attempted", deadline: time.Hour, maybe: true, status: activities.BatchSent, requests: 1},
		{name: "no deadline", status: activities.BatchSent, requests: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newBatchRig(t)
			var deadline time.Time
			if tc.name != "no deadline" {
				deadline = r.now.Add(tc.deadline)
			}
			p := batchPush(userA, deadline, tc.maybe)
			out, err := r.send(t, 1, p)
			if err != nil {
				t.Fatal(err)
			}
			if len(out.Results) != 1 {
				t.Fatalf("results %+v", out.Results)
			}
			res := out.Results[0]
			if res.Status != tc.status || res.Code != tc.code {
				t.Fatalf("result %+v, want status %q code %q", res, tc.status, tc.code)
			}
			if got := r.sandbox.Requests(); got != tc.requests {
				t.Fatalf("the sandbox got %d requests, want %d", got, tc.requests)
			}
			if tc.status == activities.BatchSent {
				d := r.sandbox.Deliveries()
				if len(d) != 1 || res.RequestID == "" || d[0].RequestID != res.RequestID || d[0].RetryKey != p.RetryKey || d[0].To != userA {
					t.Fatalf("result %+v, deliveries %+v", res, d)
				}
			} else if res.RequestID != "" || res.Message == "" {
				t.Fatalf("unsent result %+v", res)
			}
		})
	}
}

// The clock the deadline is checked against is Activities.Now, not the wall clock.
func TestSendLineBatchUsesActivitiesClock(t *testing.T) {
	r := newBatchRig(t)
	wall := time.Now()
	r.now = wall.Add(2 * time.Hour)
	out, err := r.send(t, 1, batchPush(userA, wall.Add(time.Hour), true), batchPush(userB, wall.Add(time.Hour), false))
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].Status != activities.BatchUnknown || out.Results[1].Status != activities.BatchExpired || r.sandbox.Requests() != 0 {
		t.Fatalf("results %+v, %d requests", out.Results, r.sandbox.Requests())
	}
}

// One batch mixing every case keeps results index-aligned and sends only the live push.
func TestSendLineBatchMixed(t *testing.T) {
	r := newBatchRig(t)
	pushes := []activities.BatchPush{
		batchPush(userA, r.now.Add(-time.Second), true),
		batchPush(userA, r.now.Add(time.Hour), false),
		batchPush(userB, r.now.Add(-time.Second), false),
		batchPush("not-a-user", r.now.Add(time.Hour), false),
	}
	out, err := r.send(t, 1, pushes...)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{activities.BatchUnknown, activities.BatchSent, activities.BatchExpired, activities.BatchFailed}
	for i, w := range want {
		if out.Results[i].Status != w {
			t.Fatalf("result %d %+v, want %s (all %+v)", i, out.Results[i], w, out.Results)
		}
	}
	if out.Results[3].Code != activities.ErrLineInvalid {
		t.Errorf("rejected push code %q", out.Results[3].Code)
	}
	d := r.sandbox.Deliveries()
	if r.sandbox.Requests() != 1 || len(d) != 1 || d[0].RetryKey != pushes[1].RetryKey || d[0].RequestID != out.Results[1].RequestID {
		t.Fatalf("%d requests, deliveries %+v", r.sandbox.Requests(), d)
	}
}

// A recovered push LINE already accepted (its retry key answered 409) counts as sent,
// with the request ID of the accepted push.
func TestSendLineBatchAlreadyAccepted(t *testing.T) {
	r := newBatchRig(t)
	p := batchPush(userA, r.now.Add(time.Hour), true)
	first, err := r.client.Push(context.Background(), line.PushRequest{To: p.To, Messages: p.Messages, RetryKey: p.RetryKey})
	if err != nil {
		t.Fatal(err)
	}
	out, err := r.send(t, 1, p)
	if err != nil {
		t.Fatal(err)
	}
	if res := out.Results[0]; res.Status != activities.BatchSent || res.RequestID != first.RequestID {
		t.Fatalf("result %+v, want sent with %s", res, first.RequestID)
	}
	if r.sandbox.Duplicates() != 1 || r.sandbox.DeliveredTo(userA) != 1 {
		t.Fatalf("duplicates %d, delivered %d", r.sandbox.Duplicates(), r.sandbox.DeliveredTo(userA))
	}
}

// A retried attempt resumes from the last heartbeat: what LINE accepted is not pushed again.
func TestSendLineBatchResumesFromHeartbeat(t *testing.T) {
	r := newBatchRig(t)
	r.env.SetHeartbeatDetails(activities.LineBatchOutput{Results: []activities.BatchItemResult{
		{Status: activities.BatchSent, RequestID: "req-earlier"}, {},
	}})
	out, err := r.send(t, 1, batchPush(userA, r.now.Add(time.Hour), false), batchPush(userB, r.now.Add(time.Hour), false))
	if err != nil {
		t.Fatal(err)
	}
	if out.Results[0].RequestID != "req-earlier" || out.Results[1].Status != activities.BatchSent {
		t.Fatalf("results %+v", out.Results)
	}
	if r.sandbox.Requests() != 1 || r.sandbox.DeliveredTo(userA) != 0 || r.sandbox.DeliveredTo(userB) != 1 {
		t.Fatalf("%d requests, to A %d, to B %d", r.sandbox.Requests(), r.sandbox.DeliveredTo(userA), r.sandbox.DeliveredTo(userB))
	}
}

// LINE's monthly limit defers every unsent push; a maybe-attempted one stays so, and one
// whose refusal LINE answered is known not sent. (One push per batch: a concurrent push
// cut off in flight by the limit is rightly marked Attempted, which would blur this.)
func TestSendLineBatchMonthlyLimit(t *testing.T) {
	for _, maybe := range []bool{false, true} {
		r := newBatchRig(t)
		r.sandbox.SetMonthlyLimitReached(true)
		out, err := r.send(t, 1, batchPush(userA, r.now.Add(time.Hour), maybe))
		if err != nil {
			t.Fatal(err)
		}
		if !out.MonthlyLimit || len(out.Results) != 1 {
			t.Fatalf("output %+v, want MonthlyLimit", out)
		}
		if res := out.Results[0]; res.Status != activities.BatchDeferred || res.Attempted != maybe {
			t.Errorf("MaybeAttempted=%v: result %+v, want deferred, Attempted=%v", maybe, res, maybe)
		}
		if r.sandbox.DeliveryCount() != 0 || r.sandbox.Requests() != 1 {
			t.Fatalf("%d deliveries, %d requests", r.sandbox.DeliveryCount(), r.sandbox.Requests())
		}
	}
}

// Every push of a batch that hits the limit is deferred, none delivered.
func TestSendLineBatchMonthlyLimitDefersAll(t *testing.T) {
	r := newBatchRig(t)
	r.sandbox.SetMonthlyLimitReached(true)
	var pushes []activities.BatchPush
	for range 20 {
		pushes = append(pushes, batchPush(userB, r.now.Add(time.Hour), false))
	}
	out, err := r.send(t, 1, pushes...)
	if err != nil {
		t.Fatal(err)
	}
	if !out.MonthlyLimit || len(out.Results) != len(pushes) {
		t.Fatalf("output %+v", out)
	}
	for i, res := range out.Results {
		if res.Status != activities.BatchDeferred {
			t.Errorf("result %d %+v, want deferred", i, res)
		}
	}
	if r.sandbox.DeliveryCount() != 0 {
		t.Fatalf("%d deliveries", r.sandbox.DeliveryCount())
	}
}

func TestSendLineBatchUnknownAccount(t *testing.T) {
	r := newBatchRig(t)
	_, err := r.send(t, 2, batchPush(userA, r.now.Add(time.Hour), false))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != activities.ErrUnknownAccount || !ae.NonRetryable() {
		t.Fatalf("error %v, want non-retryable %s", err, activities.ErrUnknownAccount)
	}
	if r.sandbox.Requests() != 0 {
		t.Fatalf("%d requests", r.sandbox.Requests())
	}
}

// LINE failing (5xx) leaves the push unsettled and the attempt failed (retryable), so
// Temporal retries it; nothing is reported sent or expired.
func TestSendLineBatchUnavailableRetries(t *testing.T) {
	r := newBatchRig(t)
	r.sandbox.FailNext(500, 100)
	_, err := r.send(t, 1, batchPush(userA, r.now.Add(time.Hour), false))
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) || ae.Type() != activities.ErrLineUnavailable || ae.NonRetryable() {
		t.Fatalf("error %v, want retryable %s", err, activities.ErrLineUnavailable)
	}
	if n := r.sandbox.Requests(); n < 2 {
		t.Fatalf("%d requests: a 5xx was not retried within the attempt", n)
	}
}
