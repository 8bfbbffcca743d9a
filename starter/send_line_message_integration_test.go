package starter_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

const route = "/actions/send-line-message"

func hello(callbackID string) map[string]any {
	return testenv.Action(callbackID, map[string]string{
		"line_user_id": testenv.UserID, "message_1": "Hello {{contact.firstname}}", "analytics_tag": "spring_sale",
	}, map[string]string{"firstname": "Aiko"})
}

func waitResult(t *testing.T, env *testenv.Env, callbackID string) workflows.SendLineMessageResult {
	t.Helper()
	var res workflows.SendLineMessageResult
	if err := env.Result(workflows.WorkflowID(callbackID), &res); err != nil {
		t.Fatalf("workflow result: %v", err)
	}
	return res
}

func TestDeliveredOnceWithRetryKeyCallbackAndTimeline(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	r := env.Post(route, hello("cb-1"))
	if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" || r.OutputFields["hs_expiration_duration"] != "PT86400S" {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	res := waitResult(t, env, "cb-1")
	if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.OutputFields["line_request_id"] == "" {
		t.Fatalf("result: %+v", res)
	}
	ds := env.LINE.Deliveries()
	if len(ds) != 1 {
		t.Fatalf("want 1 delivery, got %d", len(ds))
	}
	if ds[0].RetryKey != workflows.RetryKey("cb-1") || ds[0].To != testenv.UserID {
		t.Fatalf("delivery: %+v", ds[0])
	}
	var msg struct{ Type, Text string }
	if err := json.Unmarshal(ds[0].Messages[0], &msg); err != nil || msg.Text != "Hello Aiko" || msg.Type != "text" {
		t.Fatalf("message: %s", ds[0].Messages[0])
	}
	if len(ds[0].AggregationUnits) != 0 {
		t.Fatalf("account 1 has no unit statistics, yet units were sent: %v", ds[0].AggregationUnits)
	}
	cbs := env.HubSpot.Callbacks()
	if len(cbs) != 1 || cbs[0].ID != "cb-1" || cbs[0].OutputFields["hs_execution_state"] != "SUCCESS" ||
		cbs[0].OutputFields["line_request_id"] != res.OutputFields["line_request_id"] {
		t.Fatalf("callbacks: %+v", cbs)
	}
	evs := env.HubSpot.TimelineEvents()
	if len(evs) != 1 || evs[0].ID != "hubline-cb-1" || evs[0].ObjectID != "904" || evs[0].Tokens["status"] != "SUCCESS" {
		t.Fatalf("timeline: %+v", evs)
	}
	if os.Getenv("HUBLINE_RECORD_HISTORIES") == "1" {
		if err := env.WriteHistory(workflows.WorkflowID("cb-1"), "", filepath.Join("..", "workflows", "testdata", "send_line_message_v1.json")); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAggregationUnitsOnlyForApprovedAccountsAndValidTags(t *testing.T) {
	env := testenv.New(t, testenv.Options{Accounts: map[int]bool{1: false, 2: true}})
	send := func(cb, account, tag string) {
		env.Post(route, testenv.Action(cb, map[string]string{
			"line_user_id": testenv.UserID, "line_account": account, "message_1": "hi", "analytics_tag": tag,
		}, nil))
		waitResult(t, env, cb)
	}
	send("units-1", "2", "spring_sale")
	send("units-2", "2", "春のセール")
	send("units-3", "1", "spring_sale")
	got := map[string][]string{}
	for _, d := range env.LINE.Deliveries() {
		got[d.RetryKey] = d.AggregationUnits
	}
	if u := got[workflows.RetryKey("units-1")]; len(u) != 1 || u[0] != "spring_sale" {
		t.Errorf("approved account, valid tag: units %v", u)
	}
	if u := got[workflows.RetryKey("units-2")]; len(u) != 0 {
		t.Errorf("Japanese tag does not fit LINE's pattern, yet sent: %v", u)
	}
	if u := got[workflows.RetryKey("units-3")]; len(u) != 0 {
		t.Errorf("account without unit statistics got units: %v", u)
	}
	// The Japanese tag is still searchable in Temporal.
	desc, err := env.Client.DescribeWorkflowExecution(t.Context(), workflows.WorkflowID("units-2"), "")
	if err != nil {
		t.Fatal(err)
	}
	var tag string
	if p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()["AnalyticsTag"]; p != nil {
		_ = json.Unmarshal(p.GetData(), &tag)
	}
	if tag != "春のセール" {
		t.Errorf("AnalyticsTag search attribute = %q", tag)
	}
}

func TestRedeliveryWhileOpenAndAfterCloseSendsNothingMore(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoWorker: true})
	first := env.Post(route, hello("cb-dup"))
	again := env.Post(route, hello("cb-dup"))
	if first.OutputFields["hs_execution_state"] != "BLOCK" || again.OutputFields["hs_execution_state"] != "BLOCK" {
		t.Fatalf("open run: first %s, again %s", first.Raw, again.Raw)
	}
	env.StartWorker()
	res := waitResult(t, env, "cb-dup")
	closed := env.Post(route, hello("cb-dup"))
	if closed.Status != 200 || closed.OutputFields["hs_execution_state"] != "SUCCESS" ||
		closed.OutputFields["line_request_id"] != res.OutputFields["line_request_id"] {
		t.Fatalf("closed run redelivery: %s", closed.Raw)
	}
	time.Sleep(300 * time.Millisecond) // give a wrongly started second run the chance to send
	if n := env.LINE.DeliveryCount(); n != 1 {
		t.Fatalf("want 1 delivery, got %d", n)
	}
	if n := len(env.HubSpot.Callbacks()); n != 1 {
		t.Fatalf("want 1 callback completion, got %d", n)
	}
}

func TestLine500TwiceThen200IsDeliveredOnce(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	env.LINE.FailNext(http.StatusInternalServerError, 2)
	env.Post(route, hello("cb-500"))
	res := waitResult(t, env, "cb-500")
	if res.OutputFields["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("result: %+v", res)
	}
	if env.LINE.DeliveryCount() != 1 || env.LINE.Requests() != 3 {
		t.Fatalf("deliveries %d, requests %d", env.LINE.DeliveryCount(), env.LINE.Requests())
	}
}

func TestLineErrorsEndFailContinueWithCode(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		code   string
	}{
		{"bad request", http.StatusBadRequest, workflows.CodeLineRejected},
		{"unauthorized", http.StatusUnauthorized, workflows.CodeLineAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.New(t, testenv.Options{})
			env.LINE.FailNext(tc.status, 1)
			env.Post(route, hello("cb-err"))
			res := waitResult(t, env, "cb-err")
			if res.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || res.OutputFields["error_code"] != tc.code {
				t.Fatalf("result: %+v", res)
			}
			if env.LINE.Requests() != 1 {
				t.Fatalf("a final error was retried: %d requests", env.LINE.Requests())
			}
			cbs := env.HubSpot.Callbacks()
			if len(cbs) != 1 || cbs[0].OutputFields["error_code"] != tc.code || cbs[0].OutputFields["hs_execution_state"] != "FAIL_CONTINUE" {
				t.Fatalf("callback: %+v", cbs)
			}
		})
	}
}

func TestMonthlyLimitIsFinal(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	env.LINE.SetMonthlyLimitReached(true)
	env.Post(route, hello("cb-quota"))
	res := waitResult(t, env, "cb-quota")
	if res.OutputFields["error_code"] != workflows.CodeLineMonthlyLimit || env.LINE.Requests() != 1 {
		t.Fatalf("result %+v after %d requests", res, env.LINE.Requests())
	}
}

func TestRateLimited429IsRetried(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	env.LINE.FailNext(http.StatusTooManyRequests, 1)
	env.Post(route, hello("cb-429"))
	res := waitResult(t, env, "cb-429")
	if res.OutputFields["hs_execution_state"] != "SUCCESS" || env.LINE.DeliveryCount() != 1 {
		t.Fatalf("result %+v, deliveries %d", res, env.LINE.DeliveryCount())
	}
}

func TestExpiredBlockIsNotSentLate(t *testing.T) {
	// The request "arrived" 25 hours ago with a 24-hour block: its deadline has passed.
	env := testenv.New(t, testenv.Options{StarterNow: func() time.Time { return time.Now().Add(-25 * time.Hour) }})
	env.Post(route, hello("cb-late"))
	res := waitResult(t, env, "cb-late")
	if res.OutputFields["error_code"] != workflows.CodeExpired || res.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" {
		t.Fatalf("result: %+v", res)
	}
	if env.LINE.Requests() != 0 {
		t.Fatalf("sent late: %d requests", env.LINE.Requests())
	}
}

func TestTimelineFailureDoesNotHoldTheCallback(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	env.HubSpot.FailNext("/crm/v3/timeline", http.StatusServiceUnavailable, 1000)
	env.Post(route, hello("cb-tl"))
	testenv.Eventually(t, "callback completion", 30*time.Second, func() bool { return len(env.HubSpot.Callbacks()) == 1 })
	desc, err := env.Client.DescribeWorkflowExecution(t.Context(), workflows.WorkflowID("cb-tl"), "")
	if err != nil {
		t.Fatal(err)
	}
	if desc.GetWorkflowExecutionInfo().GetStatus().String() != "Running" {
		t.Fatalf("workflow should still be retrying the timeline, status %v", desc.GetWorkflowExecutionInfo().GetStatus())
	}
	if got := env.HubSpot.Callbacks()[0].OutputFields["hs_execution_state"]; got != "SUCCESS" {
		t.Fatalf("callback state %s", got)
	}
}

func TestPrivateAppTokenTimelineRefusalIsReported(t *testing.T) {
	env := testenv.New(t, testenv.Options{HubSpot: hubspotsandbox.Options{PrivateAppToken: true}})
	env.Post(route, hello("cb-pa"))
	res := waitResult(t, env, "cb-pa")
	if res.OutputFields["hs_execution_state"] != "SUCCESS" || len(env.HubSpot.Callbacks()) != 1 {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.TimelineError, "OAuth") {
		t.Fatalf("timeline error should explain the OAuth requirement: %q", res.TimelineError)
	}
}

func TestReadiness(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoWorker: true})
	resp, err := http.Get(env.Starter.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("readyz: %d", resp.StatusCode)
	}
}

func TestRedeliveryOfATerminatedRunFailsContinue(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoWorker: true})
	env.Post(route, hello("cb-term"))
	if err := env.Client.TerminateWorkflow(t.Context(), workflows.WorkflowID("cb-term"), "", "operator stopped it"); err != nil {
		t.Fatal(err)
	}
	r := env.Post(route, hello("cb-term"))
	if r.Status != 200 || r.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || r.OutputFields["error_code"] != "run_failed" {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	env.StartWorker()
	time.Sleep(300 * time.Millisecond)
	if env.LINE.Requests() != 0 {
		t.Fatal("a terminated execution was sent")
	}
}

// Per-execution actions run on hubline-interactive alone: with only that task queue
// polled (the queue's hubline as busy as a broadcast can make it, here not polled at all),
// a Send LINE Message still completes.
func TestActionsRunOnTheirOwnTaskQueue(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoWorker: true})
	w := sdkworker.New(env.Client, workflows.InteractiveTaskQueue, sdkworker.Options{})
	worker.Register(w)
	w.RegisterActivity(env.Activities)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	if r := env.Post(route, hello("cb-own-queue")); r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	if res := waitResult(t, env, "cb-own-queue"); res.OutputFields["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("result: %+v", res)
	}
}
