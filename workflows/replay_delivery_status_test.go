package workflows_test

import (
	"path/filepath"
	"testing"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/worker"
)

// TestReplayDeliveryStatus replays each per-execution action's history from before
// DeliveryStatus (no upserts: they must replay without them) and from after (version marker
// delivery-status, pending, then the outcome). Regenerate the new ones with
// HUBLINE_RECORD_HISTORIES=1 go test ./starter/ -run TestDeliveryStatusThroughStarterAndWorker.
func TestReplayDeliveryStatus(t *testing.T) {
	for _, f := range []string{
		"send_line_message_v1.json", "send_line_message_v1_delivery_status.json", // v1: LINE 400, failed
		"send_line_message_v2.json", "send_line_message_v2_delivery_status.json", // v2: from the CRM, delivered
		"send_data.json", "send_data_delivery_status.json", // Send Data: receiver 400, failed
		"set_line_rich_menu.json", "set_line_rich_menu_delivery_status.json", // rich menu: linked, delivered
	} {
		t.Run(f, func(t *testing.T) {
			r := sdkworker.NewWorkflowReplayer()
			worker.Register(r)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, filepath.Join("testdata", f)); err != nil {
				t.Fatalf("replay %s: %v", f, err)
			}
		})
	}
}
