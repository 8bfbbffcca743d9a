package workflows_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// TestReplayQueueV1 replays every LineQueue and LineBatch run recorded from the queue-v1
// code: testdata/queue_v1 before batch-units (one send activity per batch on hubline-line),
// testdata/queue_units since (regenerate that one with HUBLINE_RECORD_HISTORIES=1 go test
// ./starter/ -run TestQueueLifecycle). Files are named <workflowID>_<runID>.json: the
// workflows derive child IDs from their own ID, so replay uses the recorded one. Each
// recorded set must keep covering each situation below, so a re-recording that loses one
// fails here.
func TestReplayQueueV1(t *testing.T) {
	for _, dir := range []string{"queue_v1", "queue_units"} {
		t.Run(dir, func(t *testing.T) { replayQueueDir(t, dir) })
	}
}

func replayQueueDir(t *testing.T, dir string) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories in testdata/%s: %v", dir, err)
	}
	covered := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		id := name[:strings.LastIndex(name, "_")]
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for k := range features(h) {
				covered[k] = true
			}
			r := sdkworker.NewWorkflowReplayer()
			worker.Register(r)
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, sdkworker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: id, RunID: h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetOriginalExecutionRunId()},
			})
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
		})
	}
	wants := []string{
		"queue continued as new", "queue started with open batches", "queue started with pending",
		"queue fill timer fired", "queue paused", "queue resumed", "queue cancelled", "queue idle completion",
		"queue watched a batch", "queue started a recovery", "queue read the quota",
		"batch blocked by monthly limit", "batch recovery", "batch expired item", "batch cancelled items", "batch failed items",
	}
	if dir == "queue_units" {
		wants = append(wants, "batch sent in units")
	} else {
		wants = append(wants, "batch sent on hubline-line")
	}
	for _, want := range wants {
		if !covered[want] {
			t.Errorf("no recorded history covers %q", want)
		}
	}
}

// features names the situations one recorded history shows.
func features(h *historypb.History) map[string]bool {
	f := map[string]bool{}
	evs := h.GetEvents()
	started := evs[0].GetWorkflowExecutionStartedEventAttributes()
	input := string(started.GetInput().GetPayloads()[0].GetData())
	queue := started.GetWorkflowType().GetName() == workflows.LineQueueWorkflow
	activities := map[int64]string{}
	for _, ev := range evs {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil {
			activities[ev.GetEventId()] = a.GetActivityType().GetName()
			if a.GetActivityType().GetName() == "SendLineBatch" {
				switch a.GetTaskQueue().GetName() {
				case workflows.LineTaskQueue:
					f["batch sent on hubline-line"] = true
				case workflows.LineAccountTaskQueue(1):
					f["batch sent in units"] = true
				}
			}
		}
	}
	if queue {
		f["queue started with open batches"] = strings.Contains(input, `"Open":{`)
		f["queue started with pending"] = strings.Contains(input, `"Pending":[`)
	} else {
		f["batch recovery"] = strings.Contains(input, `"Recover":"`)
	}
	for _, ev := range evs {
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			f["queue continued as new"] = queue
		case enumspb.EVENT_TYPE_TIMER_FIRED:
			f["queue fill timer fired"] = f["queue fill timer fired"] || queue
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
			switch ev.GetWorkflowExecutionSignaledEventAttributes().GetSignalName() {
			case workflows.SignalPause:
				f["queue paused"] = true
			case workflows.SignalResume:
				f["queue resumed"] = queue
			case workflows.SignalCancel:
				f["queue cancelled"] = queue
			}
		case enumspb.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED:
			if ev.GetSignalExternalWorkflowExecutionInitiatedEventAttributes().GetSignalName() == workflows.SignalBatchBlocked {
				f["batch blocked by monthly limit"] = true
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			// A cancelled queue's result says Cancelling; an idle one's does not.
			res := string(ev.GetWorkflowExecutionCompletedEventAttributes().GetResult().GetPayloads()[0].GetData())
			f["queue idle completion"] = queue && !strings.Contains(res, `"Cancelling":true`)
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			switch ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() {
			case "AwaitLineBatch":
				f["queue watched a batch"] = true
			case "LineQuota":
				f["queue read the quota"] = true
			}
		case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
			if strings.Contains(string(ev.GetStartChildWorkflowExecutionInitiatedEventAttributes().GetInput().GetPayloads()[0].GetData()), `"Recover":"`) {
				f["queue started a recovery"] = true
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := ev.GetActivityTaskCompletedEventAttributes()
			if activities[a.GetScheduledEventId()] != "SendLineBatch" {
				break
			}
			res := string(a.GetResult().GetPayloads()[0].GetData())
			f["batch expired item"] = f["batch expired item"] || strings.Contains(res, `"Status":"expired"`)
			f["batch failed items"] = f["batch failed items"] || strings.Contains(res, `"Status":"failed"`)
		}
	}
	if !queue {
		p := started.GetInput().GetPayloads()[0].GetData()
		f["batch cancelled items"] = strings.Contains(string(p), `"Cancelled":true`)
		f["batch expired item"] = f["batch expired item"] || hasExpiredSkip(evs)
	}
	return f
}

// hasExpiredSkip: a batch whose item was expired before any push (no SendLineBatch at all,
// and a callback completed with expired).
func hasExpiredSkip(evs []*historypb.HistoryEvent) bool {
	for _, ev := range evs {
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == "QueueCompleteCallbacks" {
			if strings.Contains(string(a.GetInput().GetPayloads()[0].GetData()), `"error_code":"expired"`) {
				return true
			}
		}
	}
	return false
}
