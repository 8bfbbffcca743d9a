package worker

import (
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
		total += activities.RateFor(acts.LinePushRate[n]).PushesPerSecond
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

// NewLine builds the worker of the rate-limited hubline-line task queue: it runs only the
// LINE batch activity. accounts are the configured LINE account numbers.
func NewLine(c client.Client, acts *activities.Activities, accounts []int, stopTimeout time.Duration) sdkworker.Worker {
	w := sdkworker.New(c, workflows.LineTaskQueue, sdkworker.Options{
		WorkerStopTimeout:                  stopTimeout,
		TaskQueueActivitiesPerSecond:       LineActivitiesPerSecond(acts, accounts),
		MaxConcurrentActivityExecutionSize: 64,
	})
	w.RegisterActivityWithOptions(acts.SendLineBatch, activity.RegisterOptions{Name: "SendLineBatch"})
	return w
}
