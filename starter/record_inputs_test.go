package starter_test

// Recording what a version of hubline sends its workflows and activities (the same helpers,
// run on a worktree of the released commit, recorded workflows/testdata/inputs/89c522c).

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hubline/hubline/internal/testenv"
)

// recordedInputs is every distinct input one workflow, activity, signal or update received,
// each as its list of arguments (the payloads' JSON).
// recordRequest is one action request to record.
type recordRequest struct {
	route string
	body  map[string]any
}

type recordedInputs map[string][][]json.RawMessage

// recordRequests are the actions whose inputs are recorded: every route with its optional
// inputs set and left out.
func recordRequests(receiver string) []recordRequest {
	v2 := func(cb string, props map[string]any) map[string]any {
		a := testenv.Action(cb, map[string]string{"message_1": "Hello {{contact.firstname|there}}"}, nil)
		a["object"] = map[string]any{"objectId": 1002, "objectType": "CONTACT", "properties": props}
		return a
	}
	return []recordRequest{
		{"/actions/send-line-message", testenv.Action("rec-v1-full", map[string]string{
			"line_user_id": testenv.UserID, "line_account": "1", "analytics_tag": "spring_sale",
			"message_1": "Hello {{contact.firstname|there}}", "message_2": `{"type":"sticker","packageId":"446","stickerId":"1988"}`,
		}, map[string]string{"firstname": "Aiko"})},
		{"/actions/send-line-message", testenv.Action("rec-v1-min", map[string]string{
			"line_user_id": testenv.UserID, "message_1": "hi",
		}, nil)},
		{"/actions/send-line-message-v2", v2("rec-v2-prop", map[string]any{"line_user_id": testenv.UserID, "firstname": "Ken"})},
		{"/actions/send-line-message-v2", v2("rec-v2-lookup", map[string]any{"firstname": "Ken"})},
		{"/actions/send-data", testenv.Action("rec-send-data-json", map[string]string{
			"webhook_url": receiver + "/hook?k=v", "data": `{"name":"{{contact.firstname}}","n":1}`,
		}, map[string]string{"firstname": "Aiko"})},
		{"/actions/send-data", testenv.Action("rec-send-data-text", map[string]string{
			"webhook_url": receiver + "/hook", "data": "plain {{contact.firstname|text}}", "request_signature": "test-signing-secret",
		}, nil)},
		{"/actions/send-line-message-queue", testenv.Action("rec-queue", map[string]string{
			"line_user_id": testenv.UserID, "message_1": "queued hello", "analytics_tag": "spring_sale",
		}, nil)},
	}
}

// recordInputs runs every recordRequests action through env's starter and worker, waits
// for them to settle and returns what each workflow, activity, signal and update received.
func recordInputs(t *testing.T, env *testenv.Env, extra ...recordRequest) recordedInputs {
	t.Helper()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	t.Cleanup(recv.Close)
	env.HubSpot.SetContact("1002", map[string]string{"line_user_id": testenv.UserID, "firstname": "Ken"})
	reqs := append(recordRequests(recv.URL), extra...)
	for _, r := range reqs {
		if a := env.Post(r.route, r.body); a.Status != 200 {
			t.Fatalf("%s %v: %d %s", r.route, r.body["callbackId"], a.Status, a.Raw)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every run but the queue's (which waits for more) closes; the queue's batch too.
	var execs []*workflowservice.ListWorkflowExecutionsResponse
	testenv.Eventually(t, "recorded actions settle", 90*time.Second, func() bool {
		time.Sleep(500 * time.Millisecond)
		resp, err := env.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Namespace: env.Temporal.GetDefaultNamespace(), PageSize: 1000})
		if err != nil {
			return false
		}
		closed, batches := 0, 0
		for _, e := range resp.Executions {
			if e.Type.GetName() == "LineBatch" {
				batches++
			}
			if e.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
				closed++
			} else if e.Type.GetName() != "LineQueue" {
				return false
			}
		}
		execs = []*workflowservice.ListWorkflowExecutionsResponse{resp}
		return closed >= len(reqs)-1 && batches > 0 && len(env.HubSpot.Callbacks()) >= len(reqs)-1
	})
	out := recordedInputs{}
	add := func(key string, p *commonpb.Payloads) {
		var args []json.RawMessage
		for _, pl := range p.GetPayloads() {
			if string(pl.GetMetadata()["encoding"]) != "json/plain" {
				t.Fatalf("%s: payload encoding %q (record without a payload key)", key, pl.GetMetadata()["encoding"])
			}
			args = append(args, json.RawMessage(pl.GetData()))
		}
		for _, seen := range out[key] {
			if sameArgs(seen, args) {
				return
			}
		}
		out[key] = append(out[key], args)
	}
	for _, e := range execs[0].Executions {
		wt := e.Type.GetName()
		// HUBLINE_RECORD_HISTORIES_DIR also keeps the closed runs' histories (for replay tests
		// of the next version, as workflows/testdata/released_<release>).
		if dir := os.Getenv("HUBLINE_RECORD_HISTORIES_DIR"); dir != "" && e.Status != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			if err := env.WriteHistory(e.Execution.WorkflowId, e.Execution.RunId, filepath.Join(dir, e.Execution.WorkflowId+"_"+e.Execution.RunId[:8]+".json")); err != nil {
				t.Fatal(err)
			}
		}
		it := env.Client.GetWorkflowHistory(ctx, e.Execution.WorkflowId, e.Execution.RunId, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			switch ev.EventType {
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
				add("workflow/"+wt, ev.GetWorkflowExecutionStartedEventAttributes().GetInput())
			case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
				a := ev.GetActivityTaskScheduledEventAttributes()
				add("activity/"+a.GetActivityType().GetName(), a.GetInput())
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
				a := ev.GetWorkflowExecutionSignaledEventAttributes()
				add("signal/"+wt+"."+a.GetSignalName(), a.GetInput())
			case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
				in := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
				add("update/"+wt+"."+in.GetName(), in.GetArgs())
			}
		}
	}
	return out
}

func sameArgs(a, b []json.RawMessage) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// writeInputs saves recorded inputs as dir/<kind>/<name>.json, indented, in a stable order.
func writeInputs(t *testing.T, dir string, in recordedInputs) {
	t.Helper()
	keys := make([]string, 0, len(in))
	for k := range in {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b, err := json.MarshalIndent(in[k], "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, k+".json")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
