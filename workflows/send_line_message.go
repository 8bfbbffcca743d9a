package workflows

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// SendLineMessageInput is everything the workflow needs, resolved by the starter from the
// HubSpot request and its configuration, so that replay never depends on the environment.
type SendLineMessageInput struct {
	CallbackID        string
	PortalID          int64
	HubSpotWorkflowID int64
	ObjectID          int64
	ActionType        string
	Account           int
	LineUserID        string
	// Messages are rendered and validated LINE message objects (1 to 3).
	Messages     []json.RawMessage
	AnalyticsTag string
	// AggregationUnit is the analytics tag when LINE may receive it (account approved for
	// unit-based statistics and the tag fits LINE's pattern), else empty.
	AggregationUnit string
	// Deadline is when HubSpot's block expires: nothing is sent after it.
	Deadline time.Time
}

// SendLineMessageResult is the workflow's outcome; OutputFields is what HubSpot received
// (and what a redelivered callbackId gets back once the run has closed).
type SendLineMessageResult struct {
	OutputFields map[string]string
	// CallbackError and TimelineError are set when those writes failed for good.
	CallbackError string `json:",omitempty"`
	TimelineError string `json:",omitempty"`
	// DeliveryStatus (the search attribute's value) and ErrorCode (output field error_code)
	// say at a glance how the action settled: a FAIL_CONTINUE run still completes, because
	// failing it would answer a redelivery with run_failed instead of the real code.
	DeliveryStatus string `json:"delivery_status,omitempty"`
	ErrorCode      string `json:"error_code,omitempty"`
}

// retryKeyNamespace scopes retry keys to hubline so they cannot collide with other senders' UUIDs.
var retryKeyNamespace = uuid.MustParse("8c1e3f4a-6b0e-4d47-9a55-2f1d3c7b9e01")

// RetryKey derives the X-Line-Retry-Key of one HubSpot execution: the same on every attempt
// and every redelivery, so LINE accepts the push at most once.
func RetryKey(callbackID string) string {
	return uuid.NewSHA1(retryKeyNamespace, []byte("push:"+callbackID)).String()
}

// maxRetryWindow keeps push retries well inside LINE's 24-hour retry-key window.
const maxRetryWindow = 20 * time.Hour

// SendLineMessage pushes the messages, then completes the HubSpot callback and writes the
// timeline event, neither delaying the other.
func SendLineMessage(ctx workflow.Context, in SendLineMessageInput) (SendLineMessageResult, error) {
	status := trackDelivery(ctx)
	out := push(ctx, in)
	workflow.GetLogger(ctx).Info("LINE push finished",
		"state", out[FieldExecutionState], "error_code", out[FieldErrorCode])
	status.settle(ctx, out)

	return reportLineDelivery(ctx, in, out), nil
}

// reportLineDelivery tells HubSpot the outcome of a LINE send (v1 and v2 alike).
func reportLineDelivery(ctx workflow.Context, in SendLineMessageInput, out map[string]string) SendLineMessageResult {
	res := withOutcome(SendLineMessageResult{OutputFields: out})
	res.CallbackError, res.TimelineError = reportToHubSpot(ctx, hubspotReport{
		PortalID: in.PortalID, CallbackID: in.CallbackID, ObjectID: in.ObjectID, ActionType: in.ActionType,
		Deadline: in.Deadline, OutputFields: out,
		Tokens: map[string]string{
			"line_account":  strconv.Itoa(in.Account),
			"analytics_tag": in.AnalyticsTag,
			"message_count": strconv.Itoa(len(in.Messages)),
		},
		ExtraData: map[string]any{"messages": in.Messages},
	})
	return res
}

// push runs the LINE push activity and turns its outcome into HubSpot output fields.
func push(ctx workflow.Context, in SendLineMessageInput) map[string]string {
	now := workflow.Now(ctx)
	window := in.Deadline.Sub(now)
	if window > maxRetryWindow {
		window = maxRetryWindow
	}
	if window <= 0 {
		return Failure(CodeExpired, "the action's block expiration passed before the message could be sent")
	}
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Retries stop at the block expiration (or 20 h): a late message is worse than none.
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    45 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			NonRetryableErrorTypes: []string{
				activities.ErrLineInvalid, activities.ErrLineAuth, activities.ErrLineMonthlyLimit,
				activities.ErrUnknownAccount, activities.ErrExpired,
			},
		},
	})
	var po activities.PushOutput
	err := workflow.ExecuteActivity(actx, a.PushLineMessage, activities.PushInput{
		Account: in.Account, To: in.LineUserID, Messages: in.Messages, AggregationUnit: in.AggregationUnit,
		RetryKey: RetryKey(in.CallbackID), Deadline: in.Deadline,
	}).Get(actx, &po)
	if err == nil {
		return Success(map[string]string{FieldLineRequestID: po.RequestID})
	}
	return failureFromError(err)
}

// failureFromError maps an activity failure to the error_code HubSpot workflows branch on.
func failureFromError(err error) map[string]string {
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return Failure(CodeExpired, "the message could not be sent in time (before the block expiration, and within LINE's 24-hour retry-key window); it is not sent late")
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) {
		code := CodeLineUnavailable
		switch ae.Type() {
		case activities.ErrLineInvalid:
			code = CodeLineRejected
		case activities.ErrLineAuth:
			code = CodeLineAuth
		case activities.ErrLineMonthlyLimit:
			code = CodeLineMonthlyLimit
		case activities.ErrUnknownAccount:
			code = CodeUnknownAccount
		case activities.ErrExpired:
			code = CodeExpired
		}
		return Failure(code, ae.Message())
	}
	return Failure(CodeLineUnavailable, err.Error())
}
