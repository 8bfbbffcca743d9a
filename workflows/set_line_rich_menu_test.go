package workflows_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

// TestSetLineRichMenuOutcomes maps each activity outcome to what HubSpot receives; a
// retryable failure is retried until the block expiration, then reported with the last
// failure's code, as the send actions do.
func TestSetLineRichMenuOutcomes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		err   error
		state string
		code  string
	}{
		{"linked", nil, "SUCCESS", ""},
		{"unknown menu", temporal.NewNonRetryableApplicationError("no such menu", activities.ErrUnknownRichMenu, nil), "FAIL_CONTINUE", workflows.CodeUnknownRichMenu},
		{"auth", temporal.NewNonRetryableApplicationError("401", activities.ErrLineAuth, nil), "FAIL_CONTINUE", workflows.CodeLineAuth},
		{"rejected", temporal.NewNonRetryableApplicationError("400", activities.ErrLineInvalid, nil), "FAIL_CONTINUE", workflows.CodeLineRejected},
		{"LINE down until the deadline", temporal.NewApplicationError("503", activities.ErrLineUnavailable), "FAIL_CONTINUE", workflows.CodeLineUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s testsuite.WorkflowTestSuite
			env := s.NewTestWorkflowEnvironment()
			env.RegisterActivity(&activities.Activities{})
			env.RegisterWorkflow(workflows.SetLineRichMenu)
			a := &activities.Activities{}
			attempts := 0
			env.OnActivity(a.SetLineRichMenu, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RichMenuInput) (activities.RichMenuOutput, error) {
				attempts++
				if in.UserID != "U4af4980629aaaaaaaaaaaaaaaaaaaaaa" || in.RichMenuID != "" || in.Account != 2 {
					t.Errorf("activity input: %+v", in)
				}
				return activities.RichMenuOutput{RequestID: "req-1"}, tc.err
			})
			var cb activities.CallbackInput
			env.OnActivity(a.CompleteCallback, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallbackInput) (activities.CallbackOutput, error) {
				cb = in
				return activities.CallbackOutput{}, nil
			})
			var tl activities.TimelineInput
			env.OnActivity(a.CreateTimelineEvent, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.TimelineInput) (activities.TimelineOutput, error) {
				tl = in
				return activities.TimelineOutput{}, nil
			})
			env.ExecuteWorkflow(workflows.SetLineRichMenu, workflows.SetLineRichMenuInput{
				CallbackID: "cb-rm", PortalID: 7, ObjectID: 904, ActionType: workflows.ActionSetLineRichMenu, Account: 2,
				LineUserID: "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", Deadline: env.Now().Add(time.Hour),
			})
			var res workflows.ActionResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.OutputFields["hs_execution_state"] != tc.state || res.OutputFields["error_code"] != tc.code {
				t.Fatalf("output: %+v", res.OutputFields)
			}
			if tc.err == nil && res.OutputFields["line_request_id"] != "req-1" {
				t.Fatalf("output: %+v", res.OutputFields)
			}
			if retryable := tc.code == workflows.CodeLineUnavailable; retryable != (attempts > 1) {
				t.Fatalf("%d attempts", attempts)
			}
			if cb.CallbackID != "cb-rm" || cb.OutputFields["hs_execution_state"] != tc.state {
				t.Fatalf("callback: %+v", cb)
			}
			if tl.EventID != "hubline-cb-rm" || tl.Tokens["action"] != "set_line_rich_menu" || tl.Tokens["line_account"] != "2" {
				t.Fatalf("timeline: %+v", tl)
			}
		})
	}
}
