package starter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

const queueRoute = "/actions/send-line-message-queue"

// queueEnv is a testenv plus the hubline-line worker and a starter with queue options.
type queueEnv struct {
	*testenv.Env
	t      *testing.T
	url    string
	line   worker.Line
	shards int
	// action builds recipient i's request (default queueAction).
	action func(i int, wait string) map[string]any
}

func newQueueEnv(t *testing.T, o testenv.Options, q starter.QueueOptions, rate int) *queueEnv {
	env := testenv.New(t, o)
	env.Activities.LinePushRate = map[int]int{1: rate}
	qe := &queueEnv{Env: env, t: t, shards: q.Shards}
	qe.startLine()
	t.Cleanup(qe.stopLine)
	qe.url = qe.newStarter(q, nil)
	return qe
}

func (q *queueEnv) newStarter(o starter.QueueOptions, now func() time.Time) string {
	st := starter.New(starter.Options{
		Temporal: q.Client, Logger: q.Logger, ClientSecret: testenv.Secret, BlockExpiration: 24 * time.Hour,
		BlockExpirationISO: "PT86400S", Accounts: map[int]bool{1: false}, Queue: o, Now: now,
	})
	srv := httptest.NewServer(st.Handler())
	q.t.Cleanup(srv.Close)
	st.SetPublicURL(srv.URL)
	return srv.URL
}

func (q *queueEnv) startLine() {
	q.line = worker.NewLine(q.Client, q.Activities, []int{1}, 2*time.Second)
	if err := q.line.Start(); err != nil {
		q.t.Fatal(err)
	}
}

func (q *queueEnv) stopLine() {
	if q.line != nil {
		q.line.Stop()
		q.line = nil
	}
}

type queueAnswer struct {
	Status       int
	RetryAfter   string
	OutputFields map[string]string `json:"outputFields"`
}

// post sends a signed action (safe from any goroutine).
func post(base string, body any, at time.Time) (queueAnswer, error) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, base+queueRoute, bytes.NewReader(b))
	testenv.SignV3(req, b, at)
	resp, err := testenv.HTTP.Do(req)
	if err != nil {
		return queueAnswer{}, err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	a := queueAnswer{Status: resp.StatusCode, RetryAfter: resp.Header.Get("Retry-After")}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	return a, nil
}

func userID(i int) string { return fmt.Sprintf("U%032x", i+1) }

func queueAction(i int, wait string) map[string]any {
	in := map[string]string{"line_user_id": userID(i), "message_1": "Hello {{contact.firstname}}"}
	if wait != "" {
		in["wait_for_delivery"] = wait
	}
	return testenv.Action(fmt.Sprintf("qcb-%d", i), in, map[string]string{"firstname": "Aiko"})
}

// postAll posts actions [from, to) with some concurrency, retrying 429s as HubSpot does.
func (q *queueEnv) postAll(from, to, conc int, wait func(i int) string) {
	q.t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	next := make(chan int)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// HubSpot retries a 429 for about three days; a test gives a queue that never
				// drains three minutes, then fails with the item instead of hanging.
				giveUp := time.Now().Add(3 * time.Minute)
				for {
					build := q.action
					if build == nil {
						build = queueAction
					}
					a, err := post(q.url, build(i, wait(i)), time.Now())
					if err == nil && a.Status == http.StatusTooManyRequests && time.Now().Before(giveUp) {
						time.Sleep(100 * time.Millisecond)
						continue
					}
					want := workflows.StateBlock
					if wait(i) == "false" {
						want = workflows.StateSuccess
					}
					if err == nil && (a.Status != 200 || a.OutputFields["hs_execution_state"] != want) {
						err = fmt.Errorf("item %d: %d %v", i, a.Status, a.OutputFields)
					}
					if err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					}
					break
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		q.t.Fatalf("%d posts failed, first: %v", len(errs), errs[0])
	}
}

func (q *queueEnv) status(shard int) (workflows.QueueStatus, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var st workflows.QueueStatus
	v, err := q.Client.QueryWorkflow(ctx, workflows.QueueWorkflowID(1, shard), "", workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	return st, err
}

// waitSettled waits until every shard has accepted `accepted` recipients in total and has
// nothing pending, in flight or open (every batch closed, its slot freed).
func (q *queueEnv) waitSettled(accepted int64, timeout time.Duration) []workflows.QueueStatus {
	q.t.Helper()
	var sts []workflows.QueueStatus
	testenv.Eventually(q.t, "queue settled", timeout, func() bool {
		sts = sts[:0]
		var total int64
		for s := 0; s < q.shards; s++ {
			st, err := q.status(s)
			if err != nil {
				continue
			}
			if st.Pending > 0 || st.InFlight > 0 || st.OpenBatches > 0 {
				return false
			}
			total += st.Accepted
			sts = append(sts, st)
		}
		return total == accepted
	})
	return sts
}

func (q *queueEnv) assertDeliveredOnce(n int) {
	q.t.Helper()
	for i := 0; i < n; i++ {
		if got := q.LINE.DeliveredTo(userID(i)); got != 1 {
			q.t.Fatalf("recipient %d: %d accepted pushes, want exactly 1", i, got)
		}
	}
	if q.LINE.DeliveryCount() != n {
		q.t.Fatalf("LINE accepted %d pushes for %d recipients", q.LINE.DeliveryCount(), n)
	}
}

// TestQueueDeliversOnceAcrossContinueAsNew drives recipients through the HTTP starter with
// a tiny continue-as-new threshold, redelivers some callbackIds, and checks every recipient
// got exactly one accepted push and one callback.
func TestQueueDeliversOnceAcrossContinueAsNew(t *testing.T) {
	const n = 2000
	q := newQueueEnv(t, testenv.Options{}, starter.QueueOptions{
		Shards: 2, Workflow: workflows.QueueOptions{BatchSize: 50, MaxInFlight: 3, SignalsPerRun: 15},
	}, 1500)
	noWait := func(i int) string {
		if i%10 == 9 {
			return "false"
		}
		return ""
	}
	q.postAll(0, n, 32, noWait)
	// HubSpot redelivers 40 executions, some possibly still in flight.
	q.postAll(0, 40, 8, noWait)
	sts := q.waitSettled(n+40, 90*time.Second)

	q.assertDeliveredOnce(n)
	var sent int64
	runs := 0
	for _, st := range sts {
		sent += st.Sent + st.Deduplicated // a redelivery still waiting is queued once
		if st.Failed+st.Expired+st.Cancelled != 0 {
			t.Fatalf("unexpected failures: %+v", st)
		}
		runs += st.Run
	}
	if sent != n+40 {
		t.Fatalf("sent+deduplicated %d, want %d (redeliveries count as sent: LINE answered 409)", sent, n+40)
	}
	if runs <= len(sts) {
		t.Fatalf("no continue-as-new happened (runs %d)", runs)
	}
	testenv.Eventually(t, "callbacks", 30*time.Second, func() bool { return len(q.HubSpot.Callbacks()) == n-n/10 })
	for _, cb := range q.HubSpot.Callbacks() {
		if cb.OutputFields["hs_execution_state"] != "SUCCESS" || cb.OutputFields["line_request_id"] == "" {
			t.Fatalf("callback %s: %v", cb.ID, cb.OutputFields)
		}
	}
	testenv.Eventually(t, "timeline events", 30*time.Second, func() bool { return len(q.HubSpot.TimelineEvents()) == n })
	for _, d := range q.LINE.Deliveries()[:5] {
		var msg struct{ Text string }
		_ = json.Unmarshal(d.Messages[0], &msg)
		if msg.Text != "Hello Aiko" || d.RetryKey == "" {
			t.Fatalf("delivery: %+v", d)
		}
	}
	if os.Getenv("HUBLINE_RECORD_HISTORIES") == "1" {
		recordQueueHistories(t, q)
	}
}

// TestQueue429StormAndWorkerRestart sends into a LINE fake far slower than our rate (429
// storm) and restarts the workers mid-broadcast: everything ends delivered, exactly once.
func TestQueue429StormAndWorkerRestart(t *testing.T) {
	const n = 240
	q := newQueueEnv(t, testenv.Options{LINE: linesandbox.Options{PushRate: 120}}, starter.QueueOptions{
		Shards: 2, Workflow: workflows.QueueOptions{BatchSize: 40, MaxInFlight: 2, HeartbeatTimeout: 2 * time.Second},
	}, 1000)
	q.LINE.FailNext(http.StatusTooManyRequests, 30)
	q.postAll(0, n, 16, func(int) string { return "" })
	testenv.Eventually(t, "a third delivered", 60*time.Second, func() bool { return q.LINE.DeliveryCount() >= n/3 })
	q.StopWorker()
	q.stopLine()
	time.Sleep(500 * time.Millisecond)
	q.StartWorker()
	q.startLine()
	q.waitSettled(n, 90*time.Second)
	q.assertDeliveredOnce(n)
	if q.LINE.RateLimited() == 0 {
		t.Fatal("the LINE fake never answered 429")
	}
	testenv.Eventually(t, "callbacks", 30*time.Second, func() bool { return len(q.HubSpot.Callbacks()) == n })
	for _, cb := range q.HubSpot.Callbacks() {
		if cb.OutputFields["hs_execution_state"] != "SUCCESS" {
			t.Fatalf("callback %s: %v", cb.ID, cb.OutputFields)
		}
	}
	t.Logf("429s: %d, retry-key duplicates (409): %d", q.LINE.RateLimited(), q.LINE.Duplicates())
}

// TestQueuePauseResumeCancelBacklogExpiry covers the operator controls, the backlog 429,
// the monthly-limit pause, input validation and expiry.
func TestQueuePauseResumeCancelBacklogExpiry(t *testing.T) {
	opts := starter.QueueOptions{Shards: 1, Backlog: 25, Workflow: workflows.QueueOptions{BatchSize: 10}}
	q := newQueueEnv(t, testenv.Options{}, opts, 1500)
	id := workflows.QueueWorkflowID(1, 0)
	ctx := context.Background()
	signal := func(name string) {
		t.Helper()
		if err := q.Client.SignalWorkflow(ctx, id, "", name, workflows.ControlSignal{}); err != nil {
			t.Fatal(err)
		}
	}
	// Create the queue paused, before anything arrives.
	if _, err := q.Client.SignalWithStartWorkflow(ctx, id, workflows.SignalPause, workflows.ControlSignal{},
		client.StartWorkflowOptions{ID: id, TaskQueue: workflows.TaskQueue}, workflows.LineQueueWorkflow,
		workflows.LineQueueInput{Account: 1, Shard: 0, Options: opts.Workflow}); err != nil {
		t.Fatal(err)
	}
	q.postAll(0, 20, 4, func(int) string { return "" })
	testenv.Eventually(t, "20 pending", 10*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Pending == 20 && st.Paused && st.PauseReason == workflows.PauseReasonOperator
	})
	time.Sleep(300 * time.Millisecond)
	if c := q.LINE.DeliveryCount(); c != 0 {
		t.Fatalf("paused queue sent %d", c)
	}

	// Over the backlog: 429 with Retry-After.
	var got429 bool
	for i := 20; i < 40 && !got429; i++ {
		a, err := post(q.url, queueAction(i, ""), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if a.Status == http.StatusTooManyRequests {
			got429 = a.RetryAfter != ""
		}
	}
	if !got429 {
		t.Fatal("no 429 with Retry-After over the backlog")
	}
	time.Sleep(500 * time.Millisecond)
	st, _ := q.status(0)
	if st.Pending > opts.Backlog {
		t.Fatalf("pending %d over backlog %d", st.Pending, opts.Backlog)
	}
	accepted := st.Accepted

	// Invalid wait_for_delivery is rejected like v1 inputs.
	a, err := post(q.url, queueAction(99, "maybe"), time.Now())
	if err != nil || a.Status != 200 || a.OutputFields["error_code"] != starter.CodeInvalidWaitForDelivery {
		t.Fatalf("invalid wait_for_delivery: %v %+v", err, a)
	}

	signal(workflows.SignalResume)
	q.waitSettled(accepted, 30*time.Second)
	q.assertDeliveredOnce(int(accepted))

	// Monthly quota: the queue pauses itself and fails nobody; the batch that met the
	// limit holds its recipients until the queue is resumed.
	q.LINE.SetMonthlyLimitReached(true)
	q.postAll(100, 105, 2, func(int) string { return "" })
	testenv.Eventually(t, "monthly pause", 20*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Paused && st.PauseReason == workflows.CodeLineMonthlyLimit && st.Pending+st.InFlight == 5
	})
	if st, _ := q.status(0); st.Failed+st.Expired != 0 {
		t.Fatalf("monthly limit failed recipients: %+v", st)
	}
	q.LINE.SetMonthlyLimitReached(false)
	signal(workflows.SignalResume)
	q.waitSettled(accepted+5, 30*time.Second)
	for i := 100; i < 105; i++ {
		if q.LINE.DeliveredTo(userID(i)) != 1 {
			t.Fatalf("recipient %d not delivered once after resume", i)
		}
	}

	// Expired before sending: FAIL_CONTINUE expired, nothing sent.
	past := func() time.Time { return time.Now().Add(-25 * time.Hour) }
	oldURL := q.newStarter(opts, past)
	if a, err := post(oldURL, queueAction(200, ""), past()); err != nil || a.Status != 200 {
		t.Fatalf("expired post: %v %+v", err, a)
	}
	q.waitSettled(accepted+6, 30*time.Second)
	if q.LINE.DeliveredTo(userID(200)) != 0 {
		t.Fatal("expired recipient was sent")
	}

	// Pause, queue more, cancel: they end FAIL_CONTINUE cancelled, unsent.
	signal(workflows.SignalPause)
	testenv.Eventually(t, "paused", 10*time.Second, func() bool { st, err := q.status(0); return err == nil && st.Paused })
	q.postAll(300, 305, 2, func(int) string { return "" })
	signal(workflows.SignalCancel)
	var res workflows.QueueStatus
	gctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if err := q.Client.GetWorkflow(gctx, id, "").Get(gctx, &res); err != nil {
		t.Fatalf("the cancelled queue did not close: %v", err)
	}
	testenv.Eventually(t, "cancel callbacks", 30*time.Second, func() bool {
		n := 0
		for _, cb := range q.HubSpot.Callbacks() {
			switch cb.OutputFields["error_code"] {
			case workflows.CodeCancelled:
				n++
			case workflows.CodeExpired:
				if cb.ID != "qcb-200" {
					t.Fatalf("unexpected expired callback %s", cb.ID)
				}
			}
		}
		return n == 5
	})
	for i := 300; i < 305; i++ {
		if q.LINE.DeliveredTo(userID(i)) != 0 {
			t.Fatalf("cancelled recipient %d was sent", i)
		}
	}
}

// recordQueueHistories saves a LineQueue run that continued as new and a LineBatch run
// for the replay tests in workflows/.
func recordQueueHistories(t *testing.T, q *queueEnv) {
	ctx := context.Background()
	id := workflows.QueueWorkflowID(1, 0)
	resp, err := q.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: fmt.Sprintf("WorkflowId = '%s' AND ExecutionStatus = 'ContinuedAsNew'", id),
	})
	if err != nil || len(resp.Executions) == 0 {
		t.Fatalf("list continued-as-new runs: %v (%d)", err, len(resp.Executions))
	}
	if err := q.WriteHistory(id, resp.Executions[len(resp.Executions)-1].Execution.RunId, "../workflows/testdata/line_queue_fill_batches.json"); err != nil {
		t.Fatal(err)
	}
	batches, err := q.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowType = 'LineBatch' AND ExecutionStatus = 'Completed'",
	})
	if err != nil || len(batches.Executions) == 0 {
		t.Fatalf("list batches: %v", err)
	}
	if err := q.WriteHistory(batches.Executions[0].Execution.WorkflowId, batches.Executions[0].Execution.RunId, "../workflows/testdata/line_batch_v1.json"); err != nil {
		t.Fatal(err)
	}
}
