// Package worker runs hubline's workflows and activities on the `hubline` task queue.
package worker

import (
	"fmt"
	"sync"
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
	r.RegisterWorkflowWithOptions(workflows.LineEvent, workflow.RegisterOptions{Name: workflows.LineEventWorkflow})
	r.RegisterWorkflowWithOptions(workflows.SetLineRichMenu, workflow.RegisterOptions{Name: workflows.SetLineRichMenuWorkflow})
	registerQueue(r)
}

// New builds the workers of the hubline and hubline-interactive task queues: the same
// workflows and activities, with their own task slots, so a broadcast's queue work on
// hubline never delays a per-execution action (v1, v2, Send Data) on hubline-interactive.
// stopTimeout is how long Stop lets running activities finish.
func New(c client.Client, acts *activities.Activities, stopTimeout time.Duration) Group {
	var g Group
	for _, tq := range []string{workflows.TaskQueue, workflows.InteractiveTaskQueue} {
		w := sdkworker.New(c, tq, sdkworker.Options{
			WorkerStopTimeout: stopTimeout,
			// A panicking workflow task is retried after a fix is deployed instead of failing
			// the execution: no HubSpot action is lost to a bug.
			WorkflowPanicPolicy: sdkworker.BlockWorkflow,
		})
		Register(w)
		w.RegisterActivity(acts)
		g = append(g, w)
	}
	return g
}

// Runner is what Start runs: an SDK worker, or a group of them (Line).
type Runner interface {
	Start() error
	Stop()
}

// Start starts the workers, stopping those already started if one fails. The returned stop
// stops them all at once (each stops polling at once and waits up to its WorkerStopTimeout
// for running activities), so a shutdown takes one timeout, not one per worker; it may be
// called more than once.
func Start(ws ...Runner) (stop func(), err error) {
	var started []Runner
	stop = sync.OnceFunc(func() {
		var wg sync.WaitGroup
		for _, w := range started {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w.Stop()
			}()
		}
		wg.Wait()
	})
	for _, w := range ws {
		if err := w.Start(); err != nil {
			stop()
			return nil, fmt.Errorf("start worker: %w", err)
		}
		started = append(started, w)
	}
	return stop, nil
}
