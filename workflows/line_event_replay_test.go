package workflows_test

import (
	"testing"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/worker"
)

// TestReplayLineEvent replays LineEvent histories recorded from real runs: a follow that
// created a contact, an unfollow and a forwarded message (regenerate with
// HUBLINE_RECORD_HISTORIES=1 go test -run 'TestLine' ./starter/). A change to LineEvent
// that is not behind workflow.GetVersion makes this fail with a non-determinism error.
func TestReplayLineEvent(t *testing.T) {
	for _, f := range []string{"testdata/line_event_follow.json", "testdata/line_event_unfollow.json", "testdata/line_event_message.json"} {
		t.Run(f, func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.Register(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
