package starter_test

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/workflows"
)

// The queries in docs/temporal.md for DeliveryStatus, run here verbatim against temporaltest's SQLite
// visibility (the date there is in the past, so every run of this test is after it).
const (
	readmeFailedThisWeek = `AnalyticsTag = "spring_sale" AND DeliveryStatus = "failed" AND StartTime > "2025-06-02T00:00:00Z"`
	readmeNotDelivered   = `DeliveryStatus IN ("failed", "expired") AND ExecutionStatus = "Completed"`
	readmeStillPending   = `DeliveryStatus = "pending" AND ExecutionStatus = "Running"`
)

// TestDeliveryStatusThroughStarterAndWorker: every per-execution action upserts
// DeliveryStatus as it settles, its result carries delivery_status and error_code, the run
// completes (green in the UI) even when the delivery failed, and the queries in docs/temporal.md find
// exactly the runs they describe.
func TestDeliveryStatusThroughStarterAndWorker(t *testing.T) {
	// The starter's clock: moved 25 hours back for one request, whose 24-hour block has then
	// already expired when the workflow runs.
	var skew atomic.Int64
	env := testenv.New(t, testenv.Options{
		SendDataAllow: "127.0.0.1/32",
		StarterNow:    func() time.Time { return time.Now().Add(time.Duration(skew.Load())) },
	})
	menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")
	rejecting := newReceiver(t, status(http.StatusBadRequest))
	accepting := newReceiver(t, status(http.StatusNoContent))
	env.HubSpot.SetContact("1002", map[string]string{"line_user_id": otherUserID, "firstname": "Ken"})
	env.HubSpot.SetContact("1003", map[string]string{"firstname": "Mei"}) // no LINE user ID

	type outcome struct {
		cb, route string
		body      map[string]any
		before    func()
		status    string
		errorCode string
		record    string // file under workflows/testdata with HUBLINE_RECORD_HISTORIES=1
	}
	for _, o := range []outcome{
		{cb: "ds-delivered", route: route, body: hello("ds-delivered"), status: "delivered"},
		{cb: "ds-line-400", route: route, body: hello("ds-line-400"), before: func() { env.LINE.FailNext(http.StatusBadRequest, 1) },
			status: "failed", errorCode: workflows.CodeLineRejected, record: "send_line_message_v1_delivery_status.json"},
		{cb: "ds-expired", route: route, body: hello("ds-expired"), before: func() { skew.Store(int64(-25 * time.Hour)) },
			status: "expired", errorCode: workflows.CodeExpired},
		{cb: "ds-v2", route: "/actions/send-line-message-v2", body: v2Action("ds-v2", 1002, map[string]any{"firstname": "Ken"}),
			status: "delivered", record: "send_line_message_v2_delivery_status.json"},
		{cb: "ds-v2-missing", route: "/actions/send-line-message-v2", body: v2Action("ds-v2-missing", 1003, nil),
			status: "failed", errorCode: workflows.CodeNoLineUserID},
		{cb: "ds-data-400", route: "/actions/send-data", body: sendDataAction("ds-data-400", rejecting.URL, `{"a":1}`, "", nil),
			status: "failed", errorCode: workflows.CodeWebhookRejected, record: "send_data_delivery_status.json"},
		{cb: "ds-data-204", route: "/actions/send-data", body: sendDataAction("ds-data-204", accepting.URL, `{"a":1}`, "", nil),
			status: "delivered"},
		{cb: "ds-menu", route: richMenuRoute, body: richMenu("ds-menu", menu), status: "delivered",
			record: "set_line_rich_menu_delivery_status.json"},
		{cb: "ds-menu-unknown", route: richMenuRoute, body: richMenu("ds-menu-unknown", "richmenu-"+strings.Repeat("0", 32)),
			status: "failed", errorCode: workflows.CodeUnknownRichMenu},
	} {
		skew.Store(0)
		if o.before != nil {
			o.before()
		}
		if r := env.Post(o.route, o.body); r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" {
			t.Fatalf("%s: answer %d %s", o.cb, r.Status, r.Raw)
		}
		var res workflows.ActionResult
		if err := env.Result(workflows.WorkflowID(o.cb), &res); err != nil {
			t.Fatalf("%s: %v", o.cb, err)
		}
		if res.DeliveryStatus != o.status || res.ErrorCode != o.errorCode || res.OutputFields["error_code"] != o.errorCode {
			t.Errorf("%s: result %+v, want delivery_status %q, error_code %q", o.cb, res, o.status, o.errorCode)
		}
		desc, err := env.Client.DescribeWorkflowExecution(t.Context(), workflows.WorkflowID(o.cb), "")
		if err != nil {
			t.Fatal(err)
		}
		info := desc.GetWorkflowExecutionInfo()
		var got string
		if p := info.GetSearchAttributes().GetIndexedFields()["DeliveryStatus"]; p != nil {
			_ = json.Unmarshal(p.GetData(), &got)
		}
		if got != o.status || info.GetStatus().String() != "Completed" {
			t.Errorf("%s: DeliveryStatus %q in a %s run, want %q in a Completed one", o.cb, got, info.GetStatus(), o.status)
		}
		if o.record != "" {
			recordHistory(t, env, workflows.WorkflowID(o.cb), o.record)
		}
	}
	// The result as the UI's codec-less JSON view shows it.
	var raw map[string]any
	if err := env.Result(workflows.WorkflowID("ds-line-400"), &raw); err != nil {
		t.Fatal(err)
	}
	if raw["delivery_status"] != "failed" || raw["error_code"] != "line_rejected" || raw["OutputFields"] == nil {
		t.Errorf("result JSON %v", raw)
	}

	// A push LINE keeps refusing with 500 is retried to the deadline: pending meanwhile.
	env.LINE.FailNext(http.StatusInternalServerError, 1_000_000)
	before := env.LINE.Requests()
	env.Post(route, hello("ds-retrying"))
	testenv.Eventually(t, "a retried push", 30*time.Second, func() bool { return env.LINE.Requests() > before })

	list := func(query string) []string {
		var ids []string
		var token []byte
		for {
			resp, err := env.Client.ListWorkflow(t.Context(), &workflowservice.ListWorkflowExecutionsRequest{
				Namespace: env.Temporal.GetDefaultNamespace(), Query: query, NextPageToken: token,
			})
			if err != nil {
				t.Fatalf("query %s: %v", query, err)
			}
			for _, e := range resp.GetExecutions() {
				ids = append(ids, strings.TrimPrefix(e.GetExecution().GetWorkflowId(), "hubspot-"))
			}
			if token = resp.GetNextPageToken(); len(token) == 0 {
				slices.Sort(ids)
				return ids
			}
		}
	}
	future := `StartTime > "` + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + `"`
	for _, q := range []struct {
		query string
		want  []string
	}{
		{readmeFailedThisWeek, []string{"ds-line-400"}},
		{strings.Replace(readmeFailedThisWeek, `StartTime > "2025-06-02T00:00:00Z"`, future, 1), nil},
		{readmeNotDelivered, []string{"ds-data-400", "ds-expired", "ds-line-400", "ds-menu-unknown", "ds-v2-missing"}},
		{readmeStillPending, []string{"ds-retrying"}},
		{`DeliveryStatus = "delivered"`, []string{"ds-data-204", "ds-delivered", "ds-menu", "ds-v2"}},
	} {
		// Visibility is eventually consistent: wait for the answer, then say what it was.
		var got []string
		deadline := time.Now().Add(30 * time.Second)
		for got = list(q.query); !slices.Equal(got, q.want) && time.Now().Before(deadline); got = list(q.query) {
			time.Sleep(100 * time.Millisecond)
		}
		if !slices.Equal(got, q.want) {
			t.Errorf("%s found %v, want %v", q.query, got, q.want)
		}
	}

	readme, err := os.ReadFile("../docs/temporal.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{readmeFailedThisWeek, readmeNotDelivered, readmeStillPending} {
		if !strings.Contains(string(readme), q) {
			t.Errorf("docs/temporal.md does not show the tested query %s", q)
		}
	}
}
