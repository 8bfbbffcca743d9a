package worker

import (
	"context"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

// registerQueue adds the Send LINE Message by Queue workflows.
func registerQueue(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.LineQueue, workflow.RegisterOptions{Name: workflows.LineQueueWorkflow})
	r.RegisterWorkflowWithOptions(workflows.LineBatch, workflow.RegisterOptions{Name: workflows.LineBatchWorkflow})
}

// LineActivitiesPerSecond derives the server-side activity rate of the hubline-line task
// queue from the accounts' push rates: a batch carries up to 500 pushes, so this bound
// (one activity per 10 pushes/s) never limits full batches; it stops a flood of tiny batches.
func LineActivitiesPerSecond(acts *activities.Activities, accounts []int) float64 {
	total := 0
	for _, n := range accounts {
		total += activities.RateFor(activities.PushRateOf(context.Background(), acts, n)).PushesPerSecond
	}
	if total == 0 {
		total = activities.DefaultLinePushRate
	}
	r := float64(total) / 10
	if r < 1 {
		r = 1
	}
	return r
}

// SendUnitsPerSecond is the server-side rate of account n's send-unit task queue: its push
// rate in send units (activities.SendUnitFor). Every worker polls with the same value, so
// the server holds the channel to LINE_PUSH_RATE however many workers run.
func SendUnitsPerSecond(acts *activities.Activities, account int) float64 {
	r := activities.RateFor(activities.PushRateOf(context.Background(), acts, account)).PushesPerSecond
	return float64(r) / float64(activities.SendUnitFor(r))
}

// Group is several SDK workers started and stopped as one.
type Group []sdkworker.Worker

// Line is the LINE senders: the hubline-line worker (batches started before batch-units)
// and one worker per account on hubline-line-<n>.
type Line = Group

// Start starts every worker, stopping the started ones if one fails.
func (l Group) Start() error {
	for i, w := range l {
		if err := w.Start(); err != nil {
			for _, s := range l[:i] {
				s.Stop()
			}
			return err
		}
	}
	return nil
}

// Stop stops every worker at once.
func (l Group) Stop() {
	var wg sync.WaitGroup
	for _, w := range l {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.Stop()
		}()
	}
	wg.Wait()
}

// NewLine builds the LINE senders. accounts are the configured LINE account numbers.
func NewLine(c client.Client, acts *activities.Activities, accounts []int, stopTimeout time.Duration) Line {
	w := sdkworker.New(c, workflows.LineTaskQueue, sdkworker.Options{
		WorkerStopTimeout:                  stopTimeout,
		TaskQueueActivitiesPerSecond:       LineActivitiesPerSecond(acts, accounts),
		MaxConcurrentActivityExecutionSize: 64,
	})
	w.RegisterActivityWithOptions(acts.SendLineBatch, activity.RegisterOptions{Name: "SendLineBatch"})
	l := Line{w}
	for _, n := range accounts {
		l = append(l, newSendUnitWorker(c, acts, n, stopTimeout))
	}
	return l
}

// newSendUnitWorker builds account n's worker of hubline-line-<n>, paced by the server.
func newSendUnitWorker(c client.Client, acts *activities.Activities, n int, stopTimeout time.Duration) sdkworker.Worker {
	u := sdkworker.New(c, workflows.LineAccountTaskQueue(n), sdkworker.Options{
		WorkerStopTimeout:            stopTimeout,
		TaskQueueActivitiesPerSecond: SendUnitsPerSecond(acts, n),
		// Units in flight per process: enough to keep the pace when LINE answers slowly,
		// while the per-process pacer still holds one process to the channel's rate.
		MaxConcurrentActivityExecutionSize: 32,
	})
	u.RegisterActivityWithOptions(acts.SendLineBatch, activity.RegisterOptions{Name: "SendLineBatch"})
	return u
}
