package workflows_test

import (
	"os"
	"testing"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/worker"
)

// TestReplayLineQueue replays LineQueue (a run that ended in continue-as-new) and LineBatch
// histories recorded from real runs (regenerate with HUBLINE_RECORD_HISTORIES=1 go test
// ./starter/ -run TestQueueDeliversOnceAcrossContinueAsNew writes the newest pair). A change to either workflow
// that is not behind workflow.GetVersion fails here with a non-determinism error. The
// workflows derive child IDs from their own workflow ID, so replay uses the recorded one.
func TestReplayLineQueue(t *testing.T) {
	for _, c := range []struct{ file, workflowID string }{
		// Recorded before batches waited to fill (the "fill-batches" version's default branch).
		{"testdata/line_queue_continue_as_new.json", "line-queue-1-0"},
		{"testdata/line_batch.json", ""},
		// Recorded with fill-batches version 1.
		{"testdata/line_queue_fill_batches.json", "line-queue-1-0"},
		{"testdata/line_batch_v1.json", ""},
	} {
		t.Run(c.file, func(t *testing.T) {
			f, err := os.Open(c.file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			id := c.workflowID
			if id == "" {
				// LineBatch IDs are in the recorded first event's parent; any stable ID replays it.
				id = h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetParentWorkflowExecution().GetWorkflowId() + "-batch"
			}
			r := sdkworker.NewWorkflowReplayer()
			worker.Register(r)
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, sdkworker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()},
			})
			if err != nil {
				t.Fatalf("replay %s: %v", c.file, err)
			}
		})
	}
}
