package workflows_test

import (
	"testing"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/worker"
)

// TestReplaySendLineMessage replays histories recorded from real runs (regenerate with
// HUBLINE_RECORD_HISTORIES=1 go test ./starter/). A change to SendLineMessage that is not
// behind workflow.GetVersion makes this fail with a non-determinism error.
func TestReplaySendLineMessage(t *testing.T) {
	for _, f := range []string{"testdata/send_line_message_v1.json"} {
		t.Run(f, func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.Register(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
