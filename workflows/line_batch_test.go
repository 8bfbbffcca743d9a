package workflows_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

const batchQueueID = "line-queue-1-0"

// queueSignal is one signal LineBatch sent to an external workflow (its queue).
type queueSignal struct {
	workflowID string
	name       string
	arg        any
}

// batchHarness runs LineBatch in a fresh test environment (so GetVersion takes batch-v1)
// with every activity and the queue's signals stubbed and captured.
type batchHarness struct {
	t   *testing.T
	env *testsuite.TestWorkflowEnvironment

	// send answers the n-th (0-based) SendLineBatch call; nil: every push sent.
	send func(ctx context.Context, n int, in activities.LineBatchInput) (activities.LineBatchOutput, error)
	// sendDelay is how long (workflow clock) the n-th SendLineBatch call takes.
	sendDelay func(n int) time.Duration
	load      activities.LoadLineBatchOutput
	loadErr   error

	mu        sync.Mutex
	sendCalls int
	sends     []activities.LineBatchInput
	loads     []activities.LoadLineBatchInput
	callbacks []activities.CompleteCallbacksInput
	timelines []activities.TimelineEventsInput
	signals   []queueSignal
}

func newBatchHarness(t *testing.T) *batchHarness {
	h := &batchHarness{t: t}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	h.env = env
	env.RegisterActivity(&activities.Activities{})
	env.RegisterWorkflowWithOptions(workflows.LineBatch, workflow.RegisterOptions{Name: workflows.LineBatchWorkflow})
	a := &activities.Activities{}
	env.OnActivity(a.SendLineBatch, mock.Anything, mock.Anything).AfterFn(func() time.Duration {
		h.mu.Lock()
		n := h.sendCalls
		h.sendCalls++
		h.mu.Unlock()
		if h.sendDelay == nil {
			return 0
		}
		return h.sendDelay(n)
	}).Return(func(ctx context.Context, in activities.LineBatchInput) (activities.LineBatchOutput, error) {
		h.mu.Lock()
		n := len(h.sends)
		h.sends = append(h.sends, in)
		h.mu.Unlock()
		if h.send != nil {
			return h.send(ctx, n, in)
		}
		return allSent(in, fmt.Sprintf("req-%d-", n)), nil
	})
	env.OnActivity(a.LoadLineBatch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.LoadLineBatchInput) (activities.LoadLineBatchOutput, error) {
		h.mu.Lock()
		h.loads = append(h.loads, in)
		h.mu.Unlock()
		return h.load, h.loadErr
	})
	env.OnActivity(a.QueueCompleteCallbacks, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CompleteCallbacksInput) (activities.CompleteCallbacksOutput, error) {
		h.mu.Lock()
		h.callbacks = append(h.callbacks, in)
		h.mu.Unlock()
		return activities.CompleteCallbacksOutput{Completed: len(in.Items)}, nil
	})
	env.OnActivity(a.QueueTimelineEvents, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TimelineEventsInput) (activities.TimelineOutput, error) {
		h.mu.Lock()
		h.timelines = append(h.timelines, in)
		h.mu.Unlock()
		return activities.TimelineOutput{}, nil
	})
	env.OnSignalExternalWorkflow(mock.Anything, mock.Anything, mock.Anything, mock.Anything, mock.Anything).Return(
		func(_, workflowID, _, name string, arg any) error {
			h.mu.Lock()
			h.signals = append(h.signals, queueSignal{workflowID: workflowID, name: name, arg: arg})
			h.mu.Unlock()
			return nil
		})
	return h
}

// allSent answers every push of in as sent, with request IDs prefix+index.
func allSent(in activities.LineBatchInput, prefix string) activities.LineBatchOutput {
	out := activities.LineBatchOutput{Results: make([]activities.BatchItemResult, len(in.Pushes))}
	for i := range in.Pushes {
		out.Results[i] = activities.BatchItemResult{Status: activities.BatchSent, RequestID: fmt.Sprint(prefix, i)}
	}
	return out
}

func (h *batchHarness) run(in workflows.LineBatchInput) workflows.LineBatchResult {
	h.t.Helper()
	if in.QueueID == "" {
		in.QueueID = batchQueueID
	}
	if in.Account == 0 {
		in.Account = 1
	}
	h.env.ExecuteWorkflow(workflows.LineBatchWorkflow, in)
	if !h.env.IsWorkflowCompleted() {
		h.t.Fatal("LineBatch did not complete")
	}
	var res workflows.LineBatchResult
	if err := h.env.GetWorkflowResult(&res); err != nil {
		h.t.Fatal(err)
	}
	return res
}

// done checks that exactly one batch-done signal reached the queue, after every
// batch-blocked one, and returns it.
func (h *batchHarness) done() workflows.BatchDoneSignal {
	h.t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	var done []workflows.BatchDoneSignal
	for i, s := range h.signals {
		if s.workflowID != batchQueueID {
			h.t.Errorf("signal %q went to %q, want the queue %q", s.name, s.workflowID, batchQueueID)
		}
		switch s.name {
		case workflows.SignalBatchDone:
			d, ok := s.arg.(workflows.BatchDoneSignal)
			if !ok {
				h.t.Fatalf("batch-done payload %T", s.arg)
			}
			if i != len(h.signals)-1 {
				h.t.Errorf("batch-done is signal %d of %d: the queue heard from the batch after it was done", i+1, len(h.signals))
			}
			done = append(done, d)
		case workflows.SignalBatchBlocked:
			if _, ok := s.arg.(workflows.BatchBlockedSignal); !ok {
				h.t.Errorf("batch-blocked payload %T", s.arg)
			}
		default:
			h.t.Errorf("unexpected signal %q", s.name)
		}
	}
	if len(done) != 1 {
		h.t.Fatalf("%d batch-done signals, want exactly 1 (signals %+v)", len(done), h.signals)
	}
	return done[0]
}

func (h *batchHarness) countSignals(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, s := range h.signals {
		if s.name == name {
			n++
		}
	}
	return n
}

// wantCounts checks the batch-done counts against the outputs they summarize.
func wantCounts(t *testing.T, done workflows.BatchDoneSignal, out []map[string]string) {
	t.Helper()
	var want workflows.BatchDoneSignal
	for _, o := range out {
		if o == nil {
			continue
		}
		switch {
		case o[workflows.FieldExecutionState] == workflows.StateSuccess:
			want.Sent++
		case o[workflows.FieldErrorCode] == workflows.CodeExpired:
			want.Expired++
		case o[workflows.FieldErrorCode] == workflows.CodeCancelled:
			want.Cancelled++
		case o[workflows.FieldErrorCode] == workflows.CodeDeliveryUnknown:
			want.Unknown++
			want.Failed++
		default:
			want.Failed++
		}
	}
	if done.Sent != want.Sent || done.Failed != want.Failed || done.Expired != want.Expired ||
		done.Cancelled != want.Cancelled || done.Unknown != want.Unknown {
		t.Errorf("batch-done counts sent=%d failed=%d expired=%d cancelled=%d unknown=%d; outputs say sent=%d failed=%d expired=%d cancelled=%d unknown=%d",
			done.Sent, done.Failed, done.Expired, done.Cancelled, done.Unknown,
			want.Sent, want.Failed, want.Expired, want.Cancelled, want.Unknown)
	}
}

func queueItem(cb string, deadline time.Time) workflows.QueueItem {
	return workflows.QueueItem{
		CallbackID: cb, PortalID: 7, ObjectID: 900, LineUserID: "U4af4980629aaaaaaaaaaaaaaaaaaaaaa",
		Messages: []json.RawMessage{[]byte(`{"type":"text","text":"hi ` + cb + `"}`)},
		Deadline: deadline, WaitForDelivery: true,
	}
}

func outCodes(out []map[string]string) []string {
	s := make([]string, len(out))
	for i, o := range out {
		switch {
		case o == nil:
			s[i] = "<nil>"
		case o[workflows.FieldExecutionState] == workflows.StateSuccess:
			s[i] = workflows.StateSuccess
		default:
			s[i] = o[workflows.FieldErrorCode]
		}
	}
	return s
}

func wantCodes(t *testing.T, out []map[string]string, want ...string) {
	t.Helper()
	got := outCodes(out)
	if len(got) != len(want) {
		t.Fatalf("outputs %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("outputs %v, want %v", got, want)
		}
	}
}

func sameFields(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// a. A redelivered callbackId in one batch is one push; every copy gets its outcome, and
// HubSpot hears about it once.
func TestLineBatchDuplicateCallbackIsOnePush(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cbs    []string
		status string // SendLineBatch's answer for every push
		want   string // every copy's outcome
		// pushes SendLineBatch gets; batch-done counts
		pushes, sent, failed int
	}{
		{name: "twice", cbs: []string{"cb-1", "cb-1"}, status: activities.BatchSent, want: workflows.StateSuccess, pushes: 1, sent: 2},
		{name: "among others", cbs: []string{"cb-1", "cb-2", "cb-1", "cb-3", "cb-2"}, status: activities.BatchSent, want: workflows.StateSuccess, pushes: 3, sent: 5},
		{name: "rejected", cbs: []string{"cb-1", "cb-1"}, status: activities.BatchFailed, want: workflows.CodeLineRejected, pushes: 1, failed: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBatchHarness(t)
			h.send = func(_ context.Context, n int, in activities.LineBatchInput) (activities.LineBatchOutput, error) {
				out := allSent(in, "req-")
				if tc.status != activities.BatchSent {
					for i := range out.Results {
						out.Results[i] = activities.BatchItemResult{Status: tc.status, Code: workflows.CodeLineRejected, Message: "bad"}
					}
				}
				return out, nil
			}
			deadline := h.env.Now().Add(time.Hour)
			var items []workflows.QueueItem
			for _, cb := range tc.cbs {
				items = append(items, queueItem(cb, deadline))
			}
			res := h.run(workflows.LineBatchInput{Items: items})

			if len(h.sends) != 1 || len(h.sends[0].Pushes) != tc.pushes {
				t.Fatalf("SendLineBatch calls %+v, want 1 call with %d pushes", h.sends, tc.pushes)
			}
			keys := map[string]int{}
			for _, p := range h.sends[0].Pushes {
				keys[p.RetryKey]++
				if p.MaybeAttempted {
					t.Errorf("push %s MaybeAttempted in a fresh batch", p.RetryKey)
				}
			}
			first := map[string]int{}
			for i, cb := range tc.cbs {
				if keys[workflows.RetryKey(cb)] != 1 {
					t.Errorf("%s pushed %d times, want once", cb, keys[workflows.RetryKey(cb)])
				}
				if j, ok := first[cb]; ok {
					if !sameFields(res.OutputFields[i], res.OutputFields[j]) {
						t.Errorf("copies of %s differ: %v vs %v", cb, res.OutputFields[j], res.OutputFields[i])
					}
				} else {
					first[cb] = i
				}
				if got := outCodes(res.OutputFields[i : i+1])[0]; got != tc.want {
					t.Errorf("%s (item %d): %s, want %s", cb, i, got, tc.want)
				}
			}
			if len(h.callbacks) != 1 || len(h.timelines) != 1 {
				t.Fatalf("%d callback and %d timeline activities, want 1 each", len(h.callbacks), len(h.timelines))
			}
			cbSeen, evSeen := map[string]int{}, map[string]int{}
			for _, c := range h.callbacks[0].Items {
				cbSeen[c.CallbackID]++
				if !sameFields(c.OutputFields, res.OutputFields[first[c.CallbackID]]) {
					t.Errorf("callback %s fields %v, result %v", c.CallbackID, c.OutputFields, res.OutputFields[first[c.CallbackID]])
				}
			}
			for _, e := range h.timelines[0].Events {
				evSeen[e.EventID]++
			}
			for cb := range first {
				if cbSeen[cb] != 1 || evSeen["hubline-"+cb] != 1 {
					t.Errorf("%s: %d callbacks and %d timeline events, want 1 each", cb, cbSeen[cb], evSeen["hubline-"+cb])
				}
			}
			if len(h.callbacks[0].Items) != len(first) || len(h.timelines[0].Events) != len(first) {
				t.Errorf("%d callbacks, %d events for %d callbackIds", len(h.callbacks[0].Items), len(h.timelines[0].Events), len(first))
			}
			done := h.done()
			if done.Sent != tc.sent || done.Failed != tc.failed {
				t.Errorf("batch-done sent=%d failed=%d, want sent=%d failed=%d", done.Sent, done.Failed, tc.sent, tc.failed)
			}
			wantCounts(t, done, res.OutputFields)
			if !reflect.DeepEqual(done, res.Done) {
				t.Errorf("result Done %+v differs from the signal %+v", res.Done, done)
			}
		})
	}
}

func rawItems(t *testing.T, items ...workflows.QueueItem) []json.RawMessage {
	t.Helper()
	var raw []json.RawMessage
	for _, it := range items {
		b, err := json.Marshal(it)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b)
	}
	return raw
}

// b, c. A recovery batch reads its recipients back, skips what LINE confirmed, pushes the
// rest as maybe-attempted, and never reports a maybe-attempted recipient "expired".
func TestLineBatchRecovery(t *testing.T) {
	const recovers = "line-queue-1-0-x-3"
	for _, tc := range []struct {
		name string
		// deadline offsets of cb-1.., from the batch's start
		offsets []time.Duration
		settled map[string]activities.BatchItemResult // by callbackId
		recover bool
		// cancelled: the recovered batch (or, fresh, this one) was cancelled.
		cancelled bool
		want      []string
		pushed    []string // callbackIds SendLineBatch gets, in order
	}{
		{
			name: "one settled", recover: true, offsets: []time.Duration{time.Hour, time.Hour, 2 * time.Hour},
			settled: map[string]activities.BatchItemResult{"cb-2": {Status: activities.BatchSent, RequestID: "req-old"}},
			want:    []string{workflows.StateSuccess, workflows.StateSuccess, workflows.StateSuccess},
			pushed:  []string{"cb-1", "cb-3"},
		},
		{
			name: "past deadline unsettled", recover: true, offsets: []time.Duration{-time.Minute, time.Hour, -time.Minute},
			settled: map[string]activities.BatchItemResult{"cb-3": {Status: activities.BatchSent, RequestID: "req-old"}},
			want:    []string{workflows.CodeDeliveryUnknown, workflows.StateSuccess, workflows.StateSuccess},
			pushed:  []string{"cb-2"},
		},
		{
			name: "all past deadline", recover: true, offsets: []time.Duration{-time.Minute, 0},
			want: []string{workflows.CodeDeliveryUnknown, workflows.CodeDeliveryUnknown},
		},
		{
			name: "settled failures kept", recover: true, offsets: []time.Duration{-time.Minute, time.Hour},
			settled: map[string]activities.BatchItemResult{
				"cb-1": {Status: activities.BatchExpired, Code: workflows.CodeExpired, Message: "late"},
				"cb-2": {Status: activities.BatchUnknown, Code: activities.ErrDeliveryUnknown, Message: "?"},
			},
			want: []string{workflows.CodeExpired, workflows.CodeDeliveryUnknown},
		},
		{
			name: "recovered cancelled batch", recover: true, cancelled: true, offsets: []time.Duration{time.Hour, time.Hour},
			settled: map[string]activities.BatchItemResult{"cb-1": {Status: activities.BatchSent, RequestID: "req-old"}},
			want:    []string{workflows.StateSuccess, workflows.CodeCancelled},
		},
		{
			name: "fresh cancelled batch", cancelled: true, offsets: []time.Duration{time.Hour, -time.Minute},
			want: []string{workflows.CodeCancelled, workflows.CodeCancelled},
		},
		{
			// Contrast: a batch that never ran before knows nothing was attempted.
			name: "fresh batch past deadline", offsets: []time.Duration{-time.Minute, time.Hour},
			want:   []string{workflows.CodeExpired, workflows.StateSuccess},
			pushed: []string{"cb-2"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBatchHarness(t)
			start := h.env.Now()
			var items []workflows.QueueItem
			for i, off := range tc.offsets {
				items = append(items, queueItem(fmt.Sprint("cb-", i+1), start.Add(off)))
			}
			in := workflows.LineBatchInput{Items: items, Cancelled: tc.cancelled}
			if tc.recover {
				h.load = activities.LoadLineBatchOutput{Items: rawItems(t, items...), Cancelled: tc.cancelled, Settled: map[string]activities.BatchItemResult{}}
				for cb, r := range tc.settled {
					h.load.Settled[workflows.RetryKey(cb)] = r
				}
				in = workflows.LineBatchInput{Recover: recovers, RecoverRunID: "run-3"}
			}
			res := h.run(in)

			if tc.recover {
				if len(h.loads) != 1 || h.loads[0].WorkflowID != recovers || h.loads[0].RunID != "run-3" {
					t.Fatalf("LoadLineBatch calls %+v", h.loads)
				}
			} else if len(h.loads) != 0 {
				t.Fatalf("a fresh batch loaded %+v", h.loads)
			}
			wantCodes(t, res.OutputFields, tc.want...)
			for i, o := range res.OutputFields {
				if o[workflows.FieldErrorCode] == workflows.CodeExpired && tc.recover && tc.settled[fmt.Sprint("cb-", i+1)].Status != activities.BatchExpired {
					t.Errorf("recovered item %d reported expired", i)
				}
				if r, ok := tc.settled[fmt.Sprint("cb-", i+1)]; ok && r.Status == activities.BatchSent && o[workflows.FieldLineRequestID] != r.RequestID {
					t.Errorf("settled item %d: request ID %q, want %q", i, o[workflows.FieldLineRequestID], r.RequestID)
				}
			}
			if len(tc.pushed) == 0 {
				if len(h.sends) != 0 {
					t.Fatalf("SendLineBatch called with %+v, want no call", h.sends)
				}
			} else {
				if len(h.sends) != 1 || len(h.sends[0].Pushes) != len(tc.pushed) {
					t.Fatalf("SendLineBatch calls %+v, want one with %v", h.sends, tc.pushed)
				}
				for j, cb := range tc.pushed {
					p := h.sends[0].Pushes[j]
					if p.RetryKey != workflows.RetryKey(cb) {
						t.Errorf("push %d retry key %s, want %s's", j, p.RetryKey, cb)
					}
					if p.MaybeAttempted != tc.recover {
						t.Errorf("push %d (%s) MaybeAttempted=%v, want %v", j, cb, p.MaybeAttempted, tc.recover)
					}
				}
			}
			// Everyone is reported to HubSpot (a settled one again: the callback is idempotent).
			if len(h.callbacks) != 1 || len(h.callbacks[0].Items) != len(items) || len(h.timelines) != 1 || len(h.timelines[0].Events) != len(items) {
				t.Errorf("callbacks %+v, timelines %d", h.callbacks, len(h.timelines))
			}
			wantCounts(t, h.done(), res.OutputFields)
		})
	}
}

// A recovery that cannot read the batch it recovers still frees the queue's slot.
func TestLineBatchRecoveryUnreadable(t *testing.T) {
	h := newBatchHarness(t)
	h.loadErr = temporal.NewNonRetryableApplicationError("gone", activities.ErrBatchUnreadable, nil)
	res := h.run(workflows.LineBatchInput{Recover: "line-queue-1-0-x-9"})
	if len(res.OutputFields) != 0 || len(h.sends) != 0 || len(h.callbacks) != 0 {
		t.Fatalf("result %+v, sends %d, callbacks %d", res, len(h.sends), len(h.callbacks))
	}
	d := h.done()
	if d.Sent+d.Failed+d.Expired+d.Cancelled != 0 {
		t.Fatalf("done %+v", d)
	}
}

// monthlyDeferred answers every push deferred by LINE's monthly limit; the first push
// was cut off without an answer (Attempted).
func monthlyDeferred(in activities.LineBatchInput) activities.LineBatchOutput {
	out := activities.LineBatchOutput{MonthlyLimit: true, Results: make([]activities.BatchItemResult, len(in.Pushes))}
	for i := range in.Pushes {
		out.Results[i] = activities.BatchItemResult{Status: activities.BatchDeferred, Attempted: i == 0}
	}
	return out
}

// d. Protocol 1: on LINE's monthly limit the batch holds its recipients and waits for the
// queue's resume or cancel, or their deadline.
func TestLineBatchMonthlyLimitWaits(t *testing.T) {
	for _, tc := range []struct {
		name   string
		signal string // sent 30 min after the start; "" none
		// limitAgain: the send after resuming hits the limit again.
		limitAgain bool
		want       string
		sends      int
		blocked    int
	}{
		{name: "resume", signal: workflows.SignalResume, want: workflows.StateSuccess, sends: 2, blocked: 1},
		{name: "cancel", signal: workflows.SignalCancel, want: workflows.CodeCancelled, sends: 1, blocked: 1},
		{name: "deadline", want: workflows.CodeLineMonthlyLimit, sends: 1, blocked: 1},
		{name: "resume then limit again", signal: workflows.SignalResume, limitAgain: true, want: workflows.CodeLineMonthlyLimit, sends: 2, blocked: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBatchHarness(t)
			start := h.env.Now()
			h.send = func(_ context.Context, n int, in activities.LineBatchInput) (activities.LineBatchOutput, error) {
				if n == 0 || tc.limitAgain {
					return monthlyDeferred(in), nil
				}
				return allSent(in, "req-"), nil
			}
			if tc.signal != "" {
				h.env.RegisterDelayedCallback(func() {
					if got := h.countSignals(workflows.SignalBatchBlocked); got != 1 {
						t.Errorf("%d batch-blocked signals before the %s, want 1", got, tc.signal)
					}
					h.env.SignalWorkflow(tc.signal, workflows.ControlSignal{})
				}, 30*time.Minute)
			}
			items := []workflows.QueueItem{queueItem("cb-1", start.Add(2*time.Hour)), queueItem("cb-2", start.Add(3*time.Hour))}
			res := h.run(workflows.LineBatchInput{Items: items, Protocol: 1})

			wantCodes(t, res.OutputFields, tc.want, tc.want)
			if len(h.sends) != tc.sends {
				t.Fatalf("%d SendLineBatch calls, want %d", len(h.sends), tc.sends)
			}
			if tc.sends > 1 {
				// The push cut off by the limit may have reached LINE; the other was never sent.
				p := h.sends[1].Pushes
				if len(p) != 2 || !p[0].MaybeAttempted || p[1].MaybeAttempted {
					t.Errorf("pushes after resume %+v, want cb-1 MaybeAttempted only", p)
				}
			}
			if got := h.countSignals(workflows.SignalBatchBlocked); got != tc.blocked {
				t.Errorf("%d batch-blocked signals, want %d", got, tc.blocked)
			}
			if tc.signal == "" || tc.limitAgain {
				// Held until the latest deadline, not given up early.
				if el := h.env.Now().Sub(start); el < 3*time.Hour {
					t.Errorf("gave up after %v, before the deadline", el)
				}
			}
			done := h.done()
			if len(done.Deferred) != 0 || done.MonthlyLimit {
				t.Errorf("protocol 1 handed recipients back: %+v", done)
			}
			wantCounts(t, done, res.OutputFields)
			if len(h.callbacks) != 1 || len(h.callbacks[0].Items) != 2 {
				t.Errorf("callbacks %+v", h.callbacks)
			}
		})
	}
}

// e. Protocol 0 (queues before queue-v1): deferred recipients go back in batch-done.
func TestLineBatchMonthlyLimitLegacyQueue(t *testing.T) {
	h := newBatchHarness(t)
	start := h.env.Now()
	h.send = func(_ context.Context, n int, in activities.LineBatchInput) (activities.LineBatchOutput, error) {
		out := monthlyDeferred(in)
		out.Results[0] = activities.BatchItemResult{Status: activities.BatchSent, RequestID: "req-1"}
		return out, nil
	}
	items := []workflows.QueueItem{queueItem("cb-1", start.Add(time.Hour)), queueItem("cb-2", start.Add(time.Hour)), queueItem("cb-3", start.Add(time.Hour))}
	res := h.run(workflows.LineBatchInput{Items: items})

	wantCodes(t, res.OutputFields, workflows.StateSuccess, "<nil>", "<nil>")
	if len(h.sends) != 1 {
		t.Fatalf("%d SendLineBatch calls", len(h.sends))
	}
	if n := h.countSignals(workflows.SignalBatchBlocked); n != 0 {
		t.Fatalf("%d batch-blocked signals to a legacy queue", n)
	}
	done := h.done()
	if !done.MonthlyLimit || len(done.Deferred) != 2 || done.Deferred[0].CallbackID != "cb-2" || done.Deferred[1].CallbackID != "cb-3" {
		t.Fatalf("batch-done %+v, want cb-2 and cb-3 deferred with MonthlyLimit", done)
	}
	if done.Sent != 1 || done.Failed != 0 {
		t.Errorf("batch-done counts %+v", done)
	}
	wantCounts(t, done, res.OutputFields)
	if len(res.Done.Deferred) != 0 {
		t.Errorf("the result carries the deferred items again: %+v", res.Done.Deferred)
	}
	// Only the sent one is reported: the queue resends the others.
	if len(h.callbacks) != 1 || len(h.callbacks[0].Items) != 1 || h.callbacks[0].Items[0].CallbackID != "cb-1" ||
		len(h.timelines) != 1 || len(h.timelines[0].Events) != 1 {
		t.Errorf("callbacks %+v, timelines %+v", h.callbacks, h.timelines)
	}
}

// f. SendLineBatch runs out of time with the deadline: unsettled recipients may have
// reached LINE, so they end delivery_unknown; what the last heartbeat settled is kept.
func TestLineBatchSendTimesOut(t *testing.T) {
	type hb = []activities.BatchItemResult
	for _, tc := range []struct {
		name    string
		offsets []time.Duration // deadlines
		delay   time.Duration   // SendLineBatch's first (only) attempt
		// err is the activity's error; heartbeat its last heartbeat (as a timeout's details
		// or recorded by the activity).
		err       func(heartbeat any) error
		heartbeat hb
		want      []string
	}{
		{
			name: "timeout, no heartbeat", offsets: []time.Duration{time.Hour, time.Hour}, delay: 2 * time.Hour,
			err:  func(any) error { return temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE, nil) },
			want: []string{workflows.CodeDeliveryUnknown, workflows.CodeDeliveryUnknown},
		},
		{
			name: "timeout, heartbeat settled one", offsets: []time.Duration{time.Hour, 30 * time.Minute}, delay: 2 * time.Hour,
			heartbeat: hb{{Status: activities.BatchSent, RequestID: "req-hb"}, {Attempted: true}},
			err: func(d any) error {
				return temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE, nil, d)
			},
			want: []string{workflows.StateSuccess, workflows.CodeDeliveryUnknown},
		},
		{
			name: "heartbeat timeout past the deadline", offsets: []time.Duration{time.Hour}, delay: 61 * time.Minute,
			err:  func(any) error { return temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_HEARTBEAT, nil) },
			want: []string{workflows.CodeDeliveryUnknown},
		},
		{
			name: "retries exhausted past the deadline", offsets: []time.Duration{time.Hour}, delay: 61 * time.Minute,
			err: func(any) error {
				return temporal.NewApplicationError("1 recipients not yet accepted by LINE", activities.ErrLineUnavailable)
			},
			want: []string{workflows.CodeDeliveryUnknown},
		},
		{
			// Contrast: an error well before the deadline is not a doubt about delivery.
			name: "unknown account", offsets: []time.Duration{time.Hour}, delay: time.Second,
			err: func(any) error {
				return temporal.NewNonRetryableApplicationError("no account", activities.ErrUnknownAccount, nil)
			},
			want: []string{workflows.CodeUnknownAccount},
		},
		{
			// The last attempt fails just before the window closes (so Temporal does not
			// retry, and the failure is the activity's own, not a timeout) after LINE
			// accepted cb-1: cb-1 was delivered and must be reported so.
			name: "retries exhausted after a partial send", offsets: []time.Duration{time.Hour, time.Hour},
			delay:     time.Hour - 500*time.Millisecond,
			heartbeat: hb{{Status: activities.BatchSent, RequestID: "req-hb"}, {Attempted: true}},
			// SendLineBatch attaches its results to that error (as it does); cb-2's push had
			// no answer, so it is delivery_unknown, not retried.
			err: func(d any) error {
				return temporal.NewApplicationError("1 recipients not yet accepted by LINE", activities.ErrLineUnavailable, d)
			},
			want: []string{workflows.StateSuccess, workflows.CodeDeliveryUnknown},
		},
		{
			// The retry window is capped at 20h, well before a far deadline: pushes were
			// attempted, so the outcome is not "expired" (the deadline has not passed).
			name: "window capped before a far deadline", offsets: []time.Duration{30 * time.Hour}, delay: 21 * time.Hour,
			heartbeat: hb{{Attempted: true}},
			err: func(d any) error {
				return temporal.NewTimeoutError(enumspb.TIMEOUT_TYPE_SCHEDULE_TO_CLOSE, nil, d)
			},
			want: []string{workflows.CodeDeliveryUnknown},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBatchHarness(t)
			start := h.env.Now()
			h.sendDelay = func(int) time.Duration { return tc.delay }
			h.send = func(ctx context.Context, n int, in activities.LineBatchInput) (activities.LineBatchOutput, error) {
				var d any
				if tc.heartbeat != nil {
					out := activities.LineBatchOutput{Results: tc.heartbeat}
					activity.RecordHeartbeat(ctx, out)
					d = out
				}
				return activities.LineBatchOutput{}, tc.err(d)
			}
			var items []workflows.QueueItem
			for i, off := range tc.offsets {
				items = append(items, queueItem(fmt.Sprint("cb-", i+1), start.Add(off)))
			}
			res := h.run(workflows.LineBatchInput{Items: items, Protocol: 1})
			wantCodes(t, res.OutputFields, tc.want...)
			if len(h.sends) != 1 {
				t.Errorf("%d SendLineBatch calls, want 1", len(h.sends))
			}
			for i, o := range res.OutputFields {
				if o[workflows.FieldExecutionState] == workflows.StateSuccess && o[workflows.FieldLineRequestID] != tc.heartbeat[i].RequestID {
					t.Errorf("item %d request ID %q", i, o[workflows.FieldLineRequestID])
				}
			}
			wantCounts(t, h.done(), res.OutputFields)
		})
	}
}

// A batch larger than one send unit goes out as units (their size recorded from the
// worker's push rate) on its account's task queue, all scheduled at once; each unit settles
// its own recipients, so one unit failing for good changes nobody else's outcome.
func TestLineBatchSendsInUnits(t *testing.T) {
	h := newBatchHarness(t)
	unit := activities.SendUnitFor(0) // the harness's worker has the default push rate
	var mu sync.Mutex
	queues := map[string]int{}
	h.send = func(ctx context.Context, n int, in activities.LineBatchInput) (activities.LineBatchOutput, error) {
		mu.Lock()
		queues[activity.GetInfo(ctx).TaskQueue]++
		mu.Unlock()
		out := allSent(in, fmt.Sprintf("req-%d-", n))
		if in.Pushes[0].RetryKey == workflows.RetryKey(fmt.Sprintf("u-%d", unit)) {
			// The second unit: its first half sent, then LINE refuses the rest for good.
			for i := len(in.Pushes) / 2; i < len(in.Pushes); i++ {
				out.Results[i] = activities.BatchItemResult{}
			}
			return out, temporal.NewNonRetryableApplicationError("LINE refused", "LineBadRequest", nil, out)
		}
		return out, nil
	}
	deadline := time.Now().Add(time.Hour)
	var items []workflows.QueueItem
	n := 3*unit + unit/3
	for i := 0; i < n; i++ {
		items = append(items, queueItem(fmt.Sprintf("u-%d", i), deadline))
	}
	res := h.run(workflows.LineBatchInput{Items: items, Protocol: 1})

	if len(h.sends) != 4 {
		t.Fatalf("%d send activities, want 4 units", len(h.sends))
	}
	sizes := map[int]int{}
	for _, s := range h.sends {
		sizes[len(s.Pushes)]++
	}
	if sizes[unit] != 3 || sizes[unit/3] != 1 {
		t.Errorf("unit sizes %v, want three of %d and one of %d", sizes, unit, unit/3)
	}
	if q := workflows.LineAccountTaskQueue(1); queues[q] != 4 || q != "hubline-line-1" {
		t.Errorf("units ran on %v, want all 4 on hubline-line-1", queues)
	}
	for i, o := range res.OutputFields {
		failed := i >= unit+unit/2 && i < 2*unit
		switch {
		case failed && o[workflows.FieldExecutionState] == workflows.StateSuccess:
			t.Fatalf("recipient %d: sent, but its unit's LINE push was refused", i)
		case !failed && o[workflows.FieldExecutionState] != workflows.StateSuccess:
			t.Fatalf("recipient %d: %v, want sent", i, o)
		}
	}
	wantCounts(t, h.done(), res.OutputFields)
	if d, want := h.done(), n-(unit-unit/2); d.Sent != want {
		t.Errorf("batch-done sent %d, want %d", d.Sent, want)
	}
}
