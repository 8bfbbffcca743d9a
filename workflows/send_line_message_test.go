package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

func input(deadline time.Time) workflows.SendLineMessageInput {
	return workflows.SendLineMessageInput{
		CallbackID: "cb-1", PortalID: 7, ObjectID: 904, ActionType: workflows.ActionSendLineMessage, Account: 1,
		LineUserID: "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", Messages: []json.RawMessage{[]byte(`{"type":"text","text":"hi"}`)},
		Deadline: deadline,
	}
}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&activities.Activities{})
	env.RegisterWorkflow(workflows.SendLineMessage)
	return env
}

func TestSendLineMessageSuccessReportsToHubSpot(t *testing.T) {
	env := newEnv(t)
	a := &activities.Activities{}
	start := env.Now()
	var pushed activities.PushInput
	env.OnActivity(a.PushLineMessage, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.PushInput) (activities.PushOutput, error) {
		pushed = in
		return activities.PushOutput{RequestID: "req-1"}, nil
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
	env.ExecuteWorkflow(workflows.SendLineMessage, input(start.Add(24*time.Hour)))
	var res workflows.SendLineMessageResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.OutputFields["line_request_id"] != "req-1" {
		t.Fatalf("output: %+v", res.OutputFields)
	}
	if pushed.RetryKey != workflows.RetryKey("cb-1") || pushed.RetryKey == workflows.RetryKey("cb-2") {
		t.Fatalf("retry key %q not derived from the callbackId", pushed.RetryKey)
	}
	if cb.CallbackID != "cb-1" || cb.PortalID != 7 || cb.OutputFields["line_request_id"] != "req-1" {
		t.Fatalf("callback: %+v", cb)
	}
	if tl.EventID != "hubline-cb-1" || tl.ObjectID != 904 || tl.Tokens["status"] != "SUCCESS" {
		t.Fatalf("timeline: %+v", tl)
	}
}

func TestSendLineMessageErrorCodes(t *testing.T) {
	for _, tc := range []struct {
		err  error
		code string
	}{
		{temporal.NewNonRetryableApplicationError("bad", activities.ErrLineInvalid, nil), workflows.CodeLineRejected},
		{temporal.NewNonRetryableApplicationError("auth", activities.ErrLineAuth, nil), workflows.CodeLineAuth},
		{temporal.NewNonRetryableApplicationError("quota", activities.ErrLineMonthlyLimit, nil), workflows.CodeLineMonthlyLimit},
		{temporal.NewNonRetryableApplicationError("late", activities.ErrExpired, nil), workflows.CodeExpired},
		{temporal.NewNonRetryableApplicationError("acct", activities.ErrUnknownAccount, nil), workflows.CodeUnknownAccount},
	} {
		t.Run(tc.code, func(t *testing.T) {
			env := newEnv(t)
			a := &activities.Activities{}
			env.OnActivity(a.PushLineMessage, mock.Anything, mock.Anything).Return(activities.PushOutput{}, tc.err).Once()
			var cb activities.CallbackInput
			env.OnActivity(a.CompleteCallback, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CallbackInput) (activities.CallbackOutput, error) {
				cb = in
				return activities.CallbackOutput{}, nil
			})
			env.OnActivity(a.CreateTimelineEvent, mock.Anything, mock.Anything).Return(activities.TimelineOutput{}, nil)
			env.ExecuteWorkflow(workflows.SendLineMessage, input(env.Now().Add(time.Hour)))
			var res workflows.SendLineMessageResult
			if err := env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.OutputFields["error_code"] != tc.code || cb.OutputFields["error_code"] != tc.code || cb.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" {
				t.Fatalf("result %+v, callback %+v", res.OutputFields, cb.OutputFields)
			}
		})
	}
}

func TestSendLineMessagePastDeadlineSendsNothing(t *testing.T) {
	env := newEnv(t)
	a := &activities.Activities{}
	env.OnActivity(a.CompleteCallback, mock.Anything, mock.Anything).Return(activities.CallbackOutput{AlreadyDone: true}, nil)
	env.OnActivity(a.CreateTimelineEvent, mock.Anything, mock.Anything).Return(activities.TimelineOutput{}, nil)
	env.ExecuteWorkflow(workflows.SendLineMessage, input(env.Now().Add(-time.Minute)))
	var res workflows.SendLineMessageResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if res.OutputFields["error_code"] != workflows.CodeExpired {
		t.Fatalf("output: %+v", res.OutputFields)
	}
	env.AssertNotCalled(t, "PushLineMessage", mock.Anything, mock.Anything)
}

func TestSendLineMessageTimelineFailureStillCompletesCallback(t *testing.T) {
	env := newEnv(t)
	a := &activities.Activities{}
	env.OnActivity(a.PushLineMessage, mock.Anything, mock.Anything).Return(activities.PushOutput{RequestID: "r"}, nil)
	called := false
	env.OnActivity(a.CompleteCallback, mock.Anything, mock.Anything).Return(func(_ context.Context, _ activities.CallbackInput) (activities.CallbackOutput, error) {
		called = true
		return activities.CallbackOutput{}, nil
	})
	env.OnActivity(a.CreateTimelineEvent, mock.Anything, mock.Anything).Return(activities.TimelineOutput{},
		temporal.NewNonRetryableApplicationError("private app token", activities.ErrHubSpotAuth, errors.New("403")))
	env.ExecuteWorkflow(workflows.SendLineMessage, input(env.Now().Add(time.Hour)))
	var res workflows.SendLineMessageResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	if !called || res.TimelineError == "" || res.CallbackError != "" || res.OutputFields["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("called %v, result %+v", called, res)
	}
}

func TestRetryKeyIsAUUIDAndStable(t *testing.T) {
	k := workflows.RetryKey("ap-102670506-56776413549-7-0")
	if len(k) != 36 || k != workflows.RetryKey("ap-102670506-56776413549-7-0") {
		t.Fatalf("retry key %q", k)
	}
}
