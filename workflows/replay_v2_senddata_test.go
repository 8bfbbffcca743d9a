package workflows

import (
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplaySendDataAndV2 replays histories recorded from real runs (regenerate with
// HUBLINE_RECORD_HISTORIES=1 go test ./starter/ -run 'SendData|V2'), so a change that is
// not replay-safe fails here instead of breaking running workflows.
func TestReplaySendDataAndV2(t *testing.T) {
	for _, c := range []struct{ file, workflowType string }{
		{"send_data.json", SendDataWorkflow},
		{"send_line_message_v2.json", SendLineMessageV2Workflow},
	} {
		t.Run(c.workflowType, func(t *testing.T) {
			r := worker.NewWorkflowReplayer()
			r.RegisterWorkflowWithOptions(SendData, workflow.RegisterOptions{Name: SendDataWorkflow})
			r.RegisterWorkflowWithOptions(SendLineMessageV2, workflow.RegisterOptions{Name: SendLineMessageV2Workflow})
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", c.file)); err != nil {
				t.Fatalf("replay %s: %v", c.file, err)
			}
		})
	}
}
