package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// Two worker processes (two Activities, each with its own per-process pacer) sending for
// one account push at LINE_PUSH_RATE together, not twice it: the server's rate limit on
// the account's send-unit task queue is the pace of the whole deployment.
func TestOnePaceForManyWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("sends for several seconds at a low rate")
	}
	const rate = 100
	env := testenv.New(t, testenv.Options{DynamicConfig: map[string]any{
		// One partition: the server's limiter is one bucket, as a deployment's is in total.
		"matching.numTaskqueueReadPartitions":  1,
		"matching.numTaskqueueWritePartitions": 1,
	}})
	env.Activities.LinePushRate = map[int]int{1: rate}
	second := &activities.Activities{LINE: env.Activities.LINE, Logger: env.Logger, LinePushRate: map[int]int{1: rate}}
	for _, a := range []*activities.Activities{env.Activities, second} {
		l := worker.NewLine(env.Client, a, []int{1}, 2*time.Second)
		if err := l.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(l.Stop)
	}

	const batches, perBatch = 4, 200
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	deadline := time.Now().Add(time.Hour)
	var runs []client.WorkflowRun
	for b := 0; b < batches; b++ {
		var items []workflows.QueueItem
		for i := 0; i < perBatch; i++ {
			items = append(items, workflows.QueueItem{
				CallbackID: fmt.Sprintf("pace-%d-%d", b, i), PortalID: 7, ObjectID: 900,
				LineUserID: fmt.Sprintf("U%032x", b*perBatch+i+1),
				Messages:   []json.RawMessage{[]byte(`{"type":"text","text":"hi"}`)}, Deadline: deadline,
			})
		}
		run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
			ID: fmt.Sprintf("line-queue-1-0-pace-%d", b), TaskQueue: workflows.TaskQueue,
		}, workflows.LineBatchWorkflow, workflows.LineBatchInput{QueueID: "line-queue-1-0", Account: 1, Items: items, Protocol: 1})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, run)
	}
	for _, run := range runs {
		var res workflows.LineBatchResult
		if err := run.Get(ctx, &res); err != nil {
			t.Fatal(err)
		}
		if res.Done.Sent != perBatch {
			t.Fatalf("%s sent %d of %d", run.GetID(), res.Done.Sent, perBatch)
		}
	}

	ds := env.LINE.Deliveries()
	if len(ds) != batches*perBatch || env.LINE.Duplicates() != 0 {
		t.Fatalf("%d deliveries, %d duplicates; want %d once each", len(ds), env.LINE.Duplicates(), batches*perBatch)
	}
	at := make([]time.Time, len(ds))
	for i, d := range ds {
		at[i] = d.At
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	// After the server's bucket spends what it starts with (up to a second's worth), the
	// pushes come at the rate: each worker pacing itself alone would take half the time.
	burst := rate
	took := at[len(at)-1].Sub(at[0])
	least := time.Duration(float64(len(at)-burst) / rate * 0.9 * float64(time.Second))
	hist := map[int]int{}
	for _, a := range at {
		hist[int(a.Sub(at[0])/time.Second)]++
	}
	if took < least {
		t.Fatalf("%d pushes across two workers took %v, want at least %v (LINE_PUSH_RATE %d for the deployment); per second: %v", len(at), took, least, rate, hist)
	}
	t.Logf("%d pushes in %v (at least %v); per second: %v", len(at), took.Round(time.Millisecond), least, hist)
}
