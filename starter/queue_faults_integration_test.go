package starter_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// qfPauseShard pauses one shard the way `hubline queue pause` does: SignalWithStart, so a
// shard with no running queue is started paused with the starter's own start input.
func qfPauseShard(t *testing.T, q *queueEnv, shard int, opts starter.QueueOptions) {
	t.Helper()
	id := workflows.QueueWorkflowID(1, shard)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := q.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalPause, workflows.ControlSignal{},
		client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue},
		workflows.LineQueueWorkflow, starter.QueueInput(1, shard, opts)); err != nil {
		t.Fatalf("pause %s: %v", id, err)
	}
}

func qfSignal(t *testing.T, q *queueEnv, shard int, name string, arg any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Client.SignalWorkflow(ctx, workflows.QueueWorkflowID(1, shard), "", name, arg); err != nil {
		t.Fatalf("signal %s to shard %d: %v", name, shard, err)
	}
}

// qfBatches lists LineBatch executions matching an extra visibility condition ("" for all).
func qfBatches(t *testing.T, q *queueEnv, cond string) []*workflowExecution {
	t.Helper()
	query := "WorkflowType = 'LineBatch'"
	if cond != "" {
		query += " AND " + cond
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*workflowExecution
	var token []byte
	for {
		resp, err := q.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, NextPageToken: token})
		if err != nil {
			t.Fatalf("list %q: %v", query, err)
		}
		for _, ex := range resp.Executions {
			w := &workflowExecution{ID: ex.GetExecution().GetWorkflowId(), RunID: ex.GetExecution().GetRunId(), Status: ex.GetStatus().String()}
			if p := ex.GetMemo().GetFields()["recovers"]; p != nil {
				_ = converter.GetDefaultDataConverter().FromPayload(p, &w.Recovers)
			}
			if p := ex.GetMemo().GetFields()[workflows.MemoCallbackIDs]; p != nil {
				_ = converter.GetDefaultDataConverter().FromPayload(p, &w.CallbackIDs)
			}
			out = append(out, w)
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return out
		}
	}
}

type workflowExecution struct {
	ID, RunID, Status string
	// Recovers is the memo key a recovery LineBatch upserts: the batch it finishes.
	Recovers string
	// CallbackIDs is the memo list of the callbackIds a batch carried.
	CallbackIDs []string
}

// batchSeq is the sequence number that ends a batch workflow ID (<queue>-<chain>-<n>).
func batchSeq(id string) int {
	n, _ := strconv.Atoi(id[strings.LastIndex(id, "-")+1:])
	return n
}

// qfCallbacksOnce checks that each of the ids was completed exactly once, with SUCCESS, and
// that nothing else was completed.
func qfCallbacksOnce(t *testing.T, q *queueEnv, ids []string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	testenv.Eventually(t, "all callbacks", 30*time.Second, func() bool { return len(q.HubSpot.Callbacks()) >= len(ids) })
	time.Sleep(300 * time.Millisecond) // a late duplicate would show up now
	seen := map[string]string{}
	for _, cb := range q.HubSpot.Callbacks() {
		st := cb.OutputFields["hs_execution_state"]
		if prev, ok := seen[cb.ID]; ok {
			t.Fatalf("callback %s completed twice (%s, then %s)", cb.ID, prev, st)
		}
		seen[cb.ID] = st
		if !want[cb.ID] {
			t.Fatalf("unexpected callback %s: %v", cb.ID, cb.OutputFields)
		}
		if st != workflows.StateSuccess || cb.OutputFields["line_request_id"] == "" {
			t.Fatalf("callback %s: %v", cb.ID, cb.OutputFields)
		}
	}
	if len(seen) != len(ids) {
		t.Fatalf("%d callbacks completed, want %d", len(seen), len(ids))
	}
}

func qfCallbackIDs(from, to int) []string {
	var ids []string
	for i := from; i < to; i++ {
		ids = append(ids, fmt.Sprintf("qcb-%d", i))
	}
	return ids
}

// TestQueueBatchTerminatedMidSend terminates the LineBatch that is sending while LINE has
// taken only part of it: the queue must see it end abnormally and start a recovery batch
// that reads the dead batch's recipients from its history and finishes them, so every
// recipient is delivered once (re-pushes are 409s thanks to the retry keys), every callback
// is completed once, the counts are right and the batch's slot is freed.
func TestQueueBatchTerminatedMidSend(t *testing.T) {
	const n = 120
	// 20 pushes/s: a batch of 40 takes about 2 s. One batch sends at a time, so the first
	// running batch is the one LINE is taking. A short heartbeat timeout lets the orphaned
	// activity learn soon that its workflow is gone.
	opts := starter.QueueOptions{
		Shards: 1, Workflow: workflows.QueueOptions{BatchSize: 40, MaxInFlight: 1, HeartbeatTimeout: 2 * time.Second},
	}
	q := newQueueEnv(t, testenv.Options{LINE: linesandbox.Options{PushRate: 20}}, opts, 20)
	ctx := context.Background()
	// Queued while paused, so the batches are full: the first carries exactly 40.
	qfPauseShard(t, q, 0, opts)
	q.postAll(0, n, 16, func(int) string { return "" })
	testenv.Eventually(t, "all pending", 10*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Pending == n
	})
	qfSignal(t, q, 0, workflows.SignalResume, workflows.ControlSignal{})

	testenv.Eventually(t, "some deliveries", 20*time.Second, func() bool { return q.LINE.DeliveryCount() >= 5 })
	var running []*workflowExecution
	testenv.Eventually(t, "a running batch listed", 10*time.Second, func() bool {
		running = qfBatches(t, q, "ExecutionStatus = 'Running'")
		return len(running) > 0
	})
	sort.Slice(running, func(i, j int) bool { return batchSeq(running[i].ID) < batchSeq(running[j].ID) })
	dead := running[0]
	if err := q.Client.TerminateWorkflow(ctx, dead.ID, dead.RunID, "test: batch terminated mid-send"); err != nil {
		t.Fatal(err)
	}
	atTerminate := q.LINE.DeliveryCount()
	if atTerminate >= opts.Workflow.BatchSize {
		t.Fatalf("the first batch was wholly delivered before the termination (%d): not mid-send", atTerminate)
	}
	t.Logf("terminated %s with %d of %d delivered", dead.ID, atTerminate, n)

	sts := q.waitSettled(n, 30*time.Second)
	q.assertDeliveredOnce(n)
	if st := sts[0]; st.Sent != n || st.Failed+st.Expired+st.Cancelled+st.Unknown != 0 {
		t.Fatalf("queue counts: %+v (want Sent %d, no failures)", st, n)
	}
	testenv.Eventually(t, "slots freed", 20*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.OpenBatches == 0 && st.Pending == 0 && st.InFlight == 0 && st.InFlightBatches == 0
	})
	qfCallbacksOnce(t, q, qfCallbackIDs(0, n))

	// One recovery ran, for the batch that was terminated, and it completed.
	var recoveries []*workflowExecution
	testenv.Eventually(t, "recovery batch listed", 10*time.Second, func() bool {
		recoveries = recoveries[:0]
		for _, b := range qfBatches(t, q, "") {
			if b.Recovers != "" {
				recoveries = append(recoveries, b)
			}
		}
		return len(recoveries) > 0 && recoveries[0].Status == "Completed"
	})
	if len(recoveries) != 1 || recoveries[0].Recovers != dead.ID {
		t.Fatalf("recoveries: %+v, want one recovering %s", recoveries, dead.ID)
	}
	if got, want := strings.Join(recoveries[0].CallbackIDs, ","), strings.Join(dead.CallbackIDs, ","); got != want || len(dead.CallbackIDs) != 40 {
		t.Fatalf("the recovery carried %d callbackIds, the dead batch %d (equal: %v)", len(recoveries[0].CallbackIDs), len(dead.CallbackIDs), got == want)
	}
	// The recovery re-pushes only what the dead batch's history cannot prove (send units
	// that completed are settled; an orphaned unit's pushes are re-pushed and answered 409),
	// never anyone outside that batch.
	if d := q.LINE.Duplicates(); d > opts.Workflow.BatchSize {
		t.Fatalf("%d retry-key duplicates, more than the %d recipients of the terminated batch", d, opts.Workflow.BatchSize)
	}
	t.Logf("409 duplicates: %d", q.LINE.Duplicates())
}

// quotaGate fronts the LINE sandbox with an adjustable monthly limit (the sandbox's own
// MonthlyLimit is fixed for its lifetime): it answers the quota endpoint with the limit
// and a push past it with LINE's monthly-limit 429, checking the retry key first as LINE
// and the sandbox do. Usage is the sandbox's own (its consumption endpoint is passed on).
type quotaGate struct {
	next *linesandbox.Server
	mu   sync.Mutex
	// limit is messages per month; accepted are the retry keys LINE took.
	limit    int
	accepted map[string]bool
	monthly  int // monthly-limit 429s answered
}

func (g *quotaGate) setLimit(n int) {
	g.mu.Lock()
	g.limit = n
	g.mu.Unlock()
}

func (g *quotaGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v2/bot/message/quota":
		g.mu.Lock()
		limit := g.limit
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"type":"limited","value":%d}`, limit)
	case "/v2/bot/message/push":
		// Serialised, so the limit is exact however many pushes are in flight.
		g.mu.Lock()
		defer g.mu.Unlock()
		key := r.Header.Get("X-Line-Retry-Key")
		if !g.accepted[key] && g.next.DeliveryCount() >= g.limit {
			g.monthly++
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = w.Write([]byte(`{"message":"You have reached your monthly limit."}`))
			return
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		g.next.ServeHTTP(rec, r)
		if rec.status == http.StatusOK && key != "" {
			g.accepted[key] = true
		}
	default:
		g.next.ServeHTTP(w, r)
	}
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// TestQueueQuotaPause: a queue whose backlog is larger than the monthly quota LINE says is
// left pauses with line_quota_insufficient before sending anything; resumed with
// IgnoreQuota it sends until LINE's monthly limit and pauses with line_monthly_limit,
// failing nobody; once the limit is raised and the queue resumed, everyone is delivered once.
func TestQueueQuotaPause(t *testing.T) {
	const n, limit = 30, 10
	opts := starter.QueueOptions{Shards: 1, Workflow: workflows.QueueOptions{BatchSize: 10, MaxInFlight: 2}}
	env := testenv.New(t, testenv.Options{NoWorker: true})
	gate := &quotaGate{next: env.LINE, limit: limit, accepted: map[string]bool{}}
	gateSrv := httptest.NewServer(gate)
	t.Cleanup(gateSrv.Close)
	lc, err := line.NewClient(gateSrv.URL, "line-token-1", &http.Client{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	// Set before any worker starts, so no activity reads the map concurrently.
	env.Activities.LINE[1] = lc
	env.Activities.LinePushRate = map[int]int{1: 1500}
	env.StartWorker()
	q := &queueEnv{Env: env, t: t, shards: 1}
	q.startLine()
	t.Cleanup(q.stopLine)
	q.url = q.newStarter(opts, nil)

	// Start the queue paused, so its first quota read sees an empty backlog and all 30 wait.
	qfPauseShard(t, q, 0, opts)
	q.postAll(0, n, 8, func(int) string { return "" })
	testenv.Eventually(t, "all pending", 10*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Pending == n && st.Paused
	})

	// A plain resume reads the quota again: 30 waiting, 10 left → paused, nothing sent.
	qfSignal(t, q, 0, workflows.SignalResume, workflows.ControlSignal{})
	testenv.Eventually(t, "quota pause", 15*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Paused && st.PauseReason == workflows.PauseReasonQuota
	})
	time.Sleep(500 * time.Millisecond)
	st, err := q.status(0)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Paused || st.PauseReason != workflows.PauseReasonQuota || st.Pending != n || st.InFlight != 0 {
		t.Fatalf("after the quota check: %+v", st)
	}
	if st.QuotaRemaining == nil || *st.QuotaRemaining != limit {
		t.Fatalf("quota remaining %v, want %d", st.QuotaRemaining, limit)
	}
	if c, r := q.LINE.DeliveryCount(), q.LINE.Requests(); c != 0 || r != 0 {
		t.Fatalf("a queue paused for its quota pushed %d times (%d accepted)", r, c)
	}

	// Resume ignoring the quota: LINE takes 10, then its monthly limit pauses the queue.
	qfSignal(t, q, 0, workflows.SignalResume, workflows.ControlSignal{IgnoreQuota: true})
	testenv.Eventually(t, "monthly-limit pause", 20*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Paused && st.PauseReason == workflows.CodeLineMonthlyLimit && q.LINE.DeliveryCount() == limit
	})
	time.Sleep(500 * time.Millisecond)
	if st, err = q.status(0); err != nil {
		t.Fatal(err)
	}
	if st.Failed+st.Expired+st.Cancelled+st.Unknown != 0 || st.Sent+int64(st.Pending+st.InFlight) != n ||
		!st.Paused || st.PauseReason != workflows.CodeLineMonthlyLimit {
		t.Fatalf("at the monthly limit: %+v", st)
	}
	if c := q.LINE.DeliveryCount(); c != limit {
		t.Fatalf("LINE accepted %d pushes past its limit of %d", c, limit)
	}
	if len(q.HubSpot.Callbacks()) > limit {
		t.Fatalf("%d callbacks completed while only %d were delivered: %v", len(q.HubSpot.Callbacks()), limit, q.HubSpot.Callbacks())
	}
	gate.mu.Lock()
	monthly := gate.monthly
	gate.mu.Unlock()
	if monthly == 0 {
		t.Fatal("LINE never answered the monthly-limit 429")
	}

	// The month's limit is raised; a plain resume checks the quota (990 left) and sends on.
	gate.setLimit(1000)
	qfSignal(t, q, 0, workflows.SignalResume, workflows.ControlSignal{})
	sts := q.waitSettled(n, 30*time.Second)
	q.assertDeliveredOnce(n)
	if st := sts[0]; st.Sent != n || st.Failed+st.Expired+st.Cancelled+st.Unknown != 0 || st.Paused {
		t.Fatalf("after the limit was raised: %+v", st)
	}
	qfCallbacksOnce(t, q, qfCallbackIDs(0, n))
}

// TestQueuePauseHoldsOnIdleShards pauses every shard before any recipient exists (no queue
// runs yet): recipients that arrive later, on either shard, wait until the resume.
func TestQueuePauseHoldsOnIdleShards(t *testing.T) {
	const n = 30
	opts := starter.QueueOptions{Shards: 2, Workflow: workflows.QueueOptions{BatchSize: 10}}
	q := newQueueEnv(t, testenv.Options{}, opts, 1500)
	per := make([]int, 2)
	for i := 0; i < n; i++ {
		per[workflows.QueueShard(fmt.Sprintf("qcb-%d", i), 2)]++
	}
	if per[0] == 0 || per[1] == 0 {
		t.Fatalf("recipients do not land on both shards: %v", per)
	}
	for s := 0; s < 2; s++ {
		qfPauseShard(t, q, s, opts)
	}
	q.postAll(0, n, 8, func(int) string { return "" })
	time.Sleep(1500 * time.Millisecond)
	if c, r := q.LINE.DeliveryCount(), q.LINE.Requests(); c != 0 || r != 0 {
		t.Fatalf("paused shards pushed %d times (%d accepted)", r, c)
	}
	for s := 0; s < 2; s++ {
		st, err := q.status(s)
		if err != nil {
			t.Fatal(err)
		}
		if !st.Paused || st.PauseReason != workflows.PauseReasonOperator || st.Pending != per[s] || st.InFlight != 0 {
			t.Fatalf("shard %d: %+v, want paused with %d pending", s, st, per[s])
		}
	}
	for s := 0; s < 2; s++ {
		qfSignal(t, q, s, workflows.SignalResume, workflows.ControlSignal{})
	}
	q.waitSettled(n, 30*time.Second)
	q.assertDeliveredOnce(n)
	qfCallbacksOnce(t, q, qfCallbackIDs(0, n))
}

// TestQueueAdmissionBoundsBacklog: two starters flood one paused shard without retrying
// 429s. The queue workflow admits at most MaxBacklog, every refusal is a 429 with
// Retry-After, and what was answered 200 is exactly what the queue accepted (and, once
// resumed, delivered once). The same callbackId posted twice at once waits once.
func TestQueueAdmissionBoundsBacklog(t *testing.T) {
	const n, backlog = 100, 30
	opts := starter.QueueOptions{Shards: 1, Backlog: backlog, Workflow: workflows.QueueOptions{BatchSize: 10}}
	q := newQueueEnv(t, testenv.Options{}, opts, 1500)
	urls := []string{q.url, q.newStarter(opts, nil)}
	qfPauseShard(t, q, 0, opts)

	// One callbackId twice at once, through both starters: both 200, pending once.
	dup := testenv.Action("qcb-dup", map[string]string{"line_user_id": userID(n), "message_1": "Hello {{contact.firstname}}"},
		map[string]string{"firstname": "Aiko"})
	var wg sync.WaitGroup
	dupAns := make([]queueAnswer, 2)
	dupErr := make([]error, 2)
	for k := 0; k < 2; k++ {
		wg.Add(1)
		go func(k int) {
			defer wg.Done()
			dupAns[k], dupErr[k] = post(urls[k], dup, time.Now())
		}(k)
	}
	wg.Wait()
	for k := 0; k < 2; k++ {
		if dupErr[k] != nil || dupAns[k].Status != http.StatusOK {
			t.Fatalf("duplicate post %d: %v %+v", k, dupErr[k], dupAns[k])
		}
	}
	st, err := q.status(0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != 1 || st.Accepted != 2 || st.Deduplicated != 1 {
		t.Fatalf("after the same callbackId twice: %+v (want 1 pending, 2 accepted, 1 deduplicated)", st)
	}

	// The flood, watched by a status poller.
	var maxPending atomic.Int64
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			if st, err := q.status(0); err == nil && int64(st.Pending) > maxPending.Load() {
				maxPending.Store(int64(st.Pending))
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var mu sync.Mutex
	ok, refused := map[int]bool{}, 0
	var failures []string
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := range next {
				a, err := post(urls[w%2], queueAction(i, ""), time.Now())
				mu.Lock()
				switch {
				case err != nil:
					failures = append(failures, fmt.Sprintf("%d: %v", i, err))
				case a.Status == http.StatusOK && a.OutputFields["hs_execution_state"] == workflows.StateBlock:
					ok[i] = true
				case a.Status == http.StatusTooManyRequests && a.RetryAfter != "":
					refused++
				default:
					failures = append(failures, fmt.Sprintf("%d: %d retry-after %q %v", i, a.Status, a.RetryAfter, a.OutputFields))
				}
				mu.Unlock()
			}
		}(w)
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-polled
	if len(failures) > 0 {
		t.Fatalf("%d answers neither 200 BLOCK nor 429 with Retry-After, first: %s", len(failures), failures[0])
	}
	if st, err = q.status(0); err != nil {
		t.Fatal(err)
	}
	t.Logf("200: %d, 429: %d, max pending seen: %d, final: %+v", len(ok), refused, maxPending.Load(), st)
	if maxPending.Load() > backlog || st.Pending > backlog {
		t.Fatalf("pending reached %d (final %d), over the backlog of %d", maxPending.Load(), st.Pending, backlog)
	}
	if st.Accepted != int64(2+len(ok)) || st.Pending != 1+len(ok) {
		t.Fatalf("%d answered 200 but the queue accepted %d (pending %d)", len(ok), st.Accepted-2, st.Pending-1)
	}
	// A paused queue's backlog only grows, so a refusal means it was full: it ends full.
	if st.Pending != backlog || len(ok)+refused != n {
		t.Fatalf("pending %d, want the backlog of %d filled; 200 %d + 429 %d != %d", st.Pending, backlog, len(ok), refused, n)
	}

	qfSignal(t, q, 0, workflows.SignalResume, workflows.ControlSignal{})
	q.waitSettled(st.Accepted, 30*time.Second)
	for i := 0; i < n; i++ {
		want := 0
		if ok[i] {
			want = 1
		}
		if got := q.LINE.DeliveredTo(userID(i)); got != want {
			t.Fatalf("recipient %d (answered 200: %v): %d deliveries", i, ok[i], got)
		}
	}
	if got := q.LINE.DeliveredTo(userID(n)); got != 1 {
		t.Fatalf("the duplicated callbackId was delivered %d times", got)
	}
	if q.LINE.DeliveryCount() != backlog {
		t.Fatalf("LINE accepted %d pushes, want %d", q.LINE.DeliveryCount(), backlog)
	}
}

// TestQueueCancelSurvivesContinueAsNew: a cancel whose run continues as new before its
// cancelled batch closes stays a cancel in the next run (it once became a pause there, and
// the queue waited forever): the queue closes, every recipient ends cancelled, unsent.
func TestQueueCancelSurvivesContinueAsNew(t *testing.T) {
	// One signal per run: every signal or update is followed by a continue-as-new.
	opts := starter.QueueOptions{Shards: 1, Workflow: workflows.QueueOptions{BatchSize: 10, SignalsPerRun: 1}}
	q := newQueueEnv(t, testenv.Options{}, opts, 1500)
	qfPauseShard(t, q, 0, opts)
	q.postAll(0, 3, 1, func(int) string { return "" })
	qfSignal(t, q, 0, workflows.SignalCancel, nil)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var res workflows.QueueStatus
	if err := q.Client.GetWorkflow(ctx, workflows.QueueWorkflowID(1, 0), "").Get(ctx, &res); err != nil {
		t.Fatalf("the cancelled queue did not close: %v", err)
	}
	if res.Cancelled != 3 || res.Run < 2 {
		t.Fatalf("cancel result %+v, want 3 cancelled after a continue-as-new", res)
	}
	testenv.Eventually(t, "cancel callbacks", 30*time.Second, func() bool { return len(q.HubSpot.Callbacks()) == 3 })
	for _, cb := range q.HubSpot.Callbacks() {
		if cb.OutputFields["error_code"] != workflows.CodeCancelled {
			t.Fatalf("callback %s: %v, want cancelled", cb.ID, cb.OutputFields)
		}
	}
	if n := q.LINE.DeliveryCount(); n != 0 {
		t.Fatalf("%d pushes from a cancelled queue", n)
	}
}
