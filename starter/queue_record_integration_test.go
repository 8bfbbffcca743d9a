package starter_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// TestQueueLifecycle walks one queue through what its histories must cover: continue-as-new
// under load with recipients waiting and batches open, a batch with failed and expired
// items, pause and resume, LINE's monthly limit holding a batch, a held batch terminated
// and recovered, cancel, and a new run completing idle. Each step checks its outcome.
// With HUBLINE_RECORD_HISTORIES=1 it writes every LineQueue and LineBatch run to
// workflows/testdata/queue_units/ for the replay test (testdata/queue_v1 keeps the runs
// recorded before batch-units).
func TestQueueLifecycle(t *testing.T) {
	opts := starter.QueueOptions{Shards: 1, Backlog: 40, Workflow: workflows.QueueOptions{
		BatchSize: 10, MaxInFlight: 2, SignalsPerRun: 12, IdleTimeout: 2 * time.Second, HeartbeatTimeout: 2 * time.Second,
	}}
	q := newQueueEnv(t, testenv.Options{}, opts, 1500)
	ctx := context.Background()
	id := workflows.QueueWorkflowID(1, 0)
	signal := func(name string, arg any) {
		t.Helper()
		if err := q.Client.SignalWorkflow(ctx, id, "", name, arg); err != nil {
			t.Fatal(err)
		}
	}
	none := func(int) string { return "" }

	// Load: continue-as-new while recipients wait and batches are open; two LINE 400s.
	q.LINE.FailNext(http.StatusBadRequest, 2)
	q.postAll(0, 80, 16, func(i int) string {
		if i%7 == 0 {
			return "false"
		}
		return ""
	})
	sts := q.waitSettled(80, 60*time.Second)
	if sts[0].Failed != 2 || sts[0].Sent != 78 || sts[0].Run < 2 {
		t.Fatalf("after load: %+v", sts[0])
	}

	// An expired recipient.
	past := func() time.Time { return time.Now().Add(-25 * time.Hour) }
	if a, err := post(q.newStarter(opts, past), queueAction(100, ""), past()); err != nil || a.Status != 200 {
		t.Fatalf("expired post: %v %+v", err, a)
	}
	q.waitSettled(81, 30*time.Second)

	// Pause, queue, resume.
	signal(workflows.SignalPause, workflows.ControlSignal{})
	testenv.Eventually(t, "paused", 10*time.Second, func() bool { st, err := q.status(0); return err == nil && st.Paused })
	q.postAll(110, 115, 2, none)
	time.Sleep(300 * time.Millisecond)
	if q.LINE.DeliveredTo(userID(110)) != 0 {
		t.Fatal("a paused queue sent")
	}
	signal(workflows.SignalResume, workflows.ControlSignal{})
	q.waitSettled(86, 30*time.Second)

	// The monthly limit holds a batch; terminating it hands its recipients to a recovery,
	// which is held too until the resume.
	q.LINE.SetMonthlyLimitReached(true)
	q.postAll(120, 124, 2, none)
	testenv.Eventually(t, "monthly pause", 20*time.Second, func() bool {
		st, err := q.status(0)
		return err == nil && st.Paused && st.PauseReason == workflows.CodeLineMonthlyLimit && st.InFlight > 0 && st.Pending+st.InFlight == 4
	})
	held := runningBatches(t, q)
	if len(held) != 1 {
		t.Fatalf("held batches: %v", held)
	}
	if err := q.Client.TerminateWorkflow(ctx, held[0], "", "test: a held batch is terminated"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "recovery held", 30*time.Second, func() bool {
		r := runningBatches(t, q)
		return len(r) == 1 && r[0] != held[0] && q.LINE.Requests() > 0
	})
	time.Sleep(500 * time.Millisecond) // let the recovery meet the limit and report it
	q.LINE.SetMonthlyLimitReached(false)
	signal(workflows.SignalResume, workflows.ControlSignal{})
	sts = q.waitSettled(90, 30*time.Second)
	for i := 120; i < 124; i++ {
		if q.LINE.DeliveredTo(userID(i)) != 1 {
			t.Fatalf("recipient %d: %d deliveries after recovery", i, q.LINE.DeliveredTo(userID(i)))
		}
	}
	if sts[0].OpenBatches != 0 {
		t.Fatalf("open batches left: %+v", sts[0])
	}

	// Pause, queue, cancel: cancelled, unsent; the queue closes.
	signal(workflows.SignalPause, workflows.ControlSignal{})
	testenv.Eventually(t, "paused", 10*time.Second, func() bool { st, err := q.status(0); return err == nil && st.Paused })
	q.postAll(130, 133, 2, none)
	signal(workflows.SignalCancel, nil)
	var res workflows.QueueStatus
	gctx, stop := context.WithTimeout(ctx, time.Minute)
	defer stop()
	if err := q.Client.GetWorkflow(gctx, id, "").Get(gctx, &res); err != nil {
		t.Fatalf("the cancelled queue did not close: %v", err)
	}
	if res.Cancelled != 3 {
		t.Fatalf("cancel result: %+v", res)
	}

	// A new run that completes idle.
	q.postAll(140, 141, 1, none)
	testenv.Eventually(t, "idle completion", 30*time.Second, func() bool {
		d, err := q.Client.DescribeWorkflowExecution(ctx, id, "")
		return err == nil && d.GetWorkflowExecutionInfo().GetStatus().String() == "Completed" && q.LINE.DeliveredTo(userID(140)) == 1
	})
	// 80 - 12 (wait_for_delivery false) + 1 expired + 5 + 4 + 3 cancelled + 1, each once.
	testenv.Eventually(t, "callbacks", 30*time.Second, func() bool { return len(q.HubSpot.Callbacks()) >= 82 })
	time.Sleep(300 * time.Millisecond)
	states := map[string]int{}
	seen := map[string]bool{}
	for _, cb := range q.HubSpot.Callbacks() {
		if seen[cb.ID] {
			t.Fatalf("callback %s completed twice", cb.ID)
		}
		seen[cb.ID] = true
		states[cb.OutputFields["hs_execution_state"]+"/"+cb.OutputFields["error_code"]]++
	}
	if len(seen) != 82 || states["FAIL_CONTINUE/cancelled"] != 3 || states["FAIL_CONTINUE/expired"] != 1 {
		t.Fatalf("callbacks: %d, by outcome %v", len(seen), states)
	}

	if os.Getenv("HUBLINE_RECORD_HISTORIES") == "1" {
		recordAll(t, q, "../workflows/testdata/queue_units")
	}
}

func runningBatches(t *testing.T, q *queueEnv) []string {
	t.Helper()
	resp, err := q.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
		Query: "WorkflowType = 'LineBatch' AND ExecutionStatus = 'Running'",
	})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, ex := range resp.Executions {
		ids = append(ids, ex.GetExecution().GetWorkflowId())
	}
	return ids
}

// recordAll writes every closed LineQueue and LineBatch run as <workflowID>_<runID>.json
// (the replay test takes the workflow ID from the name).
func recordAll(t *testing.T, q *queueEnv, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range old {
		_ = os.Remove(f)
	}
	var token []byte
	for {
		resp, err := q.Client.ListWorkflow(context.Background(), &workflowservice.ListWorkflowExecutionsRequest{
			Query: "ExecutionStatus != 'Running'", NextPageToken: token,
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, ex := range resp.Executions {
			e := ex.GetExecution()
			if typ := ex.GetType().GetName(); typ != workflows.LineQueueWorkflow && typ != workflows.LineBatchWorkflow {
				continue
			}
			path := filepath.Join(dir, fmt.Sprintf("%s_%s.json", e.GetWorkflowId(), e.GetRunId()[:8]))
			if err := q.WriteHistory(e.GetWorkflowId(), e.GetRunId(), path); err != nil {
				t.Fatal(err)
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			return
		}
	}
}
