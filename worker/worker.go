// Package worker runs hubline's workflows and activities on the `hubline` task queue.
package worker

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

// Register adds every workflow to a worker or a replayer.
func Register(r sdkworker.WorkflowRegistry) {
	r.RegisterWorkflowWithOptions(workflows.SendLineMessage, workflow.RegisterOptions{Name: workflows.SendLineMessageWorkflow})
	r.RegisterWorkflowWithOptions(workflows.SendLineMessageV2, workflow.RegisterOptions{Name: workflows.SendLineMessageV2Workflow})
	r.RegisterWorkflowWithOptions(workflows.SendData, workflow.RegisterOptions{Name: workflows.SendDataWorkflow})
	registerQueue(r)
}

// New builds the worker. stopTimeout is how long Stop lets running activities finish.
func New(c client.Client, acts *activities.Activities, stopTimeout time.Duration) sdkworker.Worker {
	w := sdkworker.New(c, workflows.TaskQueue, sdkworker.Options{
		WorkerStopTimeout: stopTimeout,
		// A panicking workflow task is retried after a fix is deployed instead of failing
		// the execution: no HubSpot action is lost to a bug.
		WorkflowPanicPolicy: sdkworker.BlockWorkflow,
	})
	Register(w)
	w.RegisterActivity(acts)
	return w
}

// Run polls until ctx is done, then stops polling and waits for running activities.
func Run(ctx context.Context, w sdkworker.Worker) error {
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}
