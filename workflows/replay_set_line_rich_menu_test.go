package workflows_test

import (
	"testing"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/worker"
)

// TestReplaySetLineRichMenu replays a SetLineRichMenu history recorded from a real run
// (regenerate with HUBLINE_RECORD_HISTORIES=1 go test ./starter/ -run TestSetLineRichMenuLinksThenUnlinks),
// so a change that is not behind workflow.GetVersion fails here, not in running workflows.
func TestReplaySetLineRichMenu(t *testing.T) {
	r := sdkworker.NewWorkflowReplayer()
	worker.Register(r)
	if err := r.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/set_line_rich_menu.json"); err != nil {
		t.Fatalf("replay: %v", err)
	}
}
