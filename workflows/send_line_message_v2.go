package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// SendLineMessageV2Workflow is the (deprecated) Send LINE Message v2 workflow type (contract).
const SendLineMessageV2Workflow = "SendLineMessageV2"

// Error codes of v2's LINE user ID lookup.
const (
	CodeNoLineUserID       = "no_line_user_id"
	CodeInvalidLineUserID  = "invalid_line_user_id"
	CodeHubSpotAuth        = "hubspot_auth"
	CodeHubSpotRejected    = "hubspot_rejected"
	CodeHubSpotUnavailable = "hubspot_unavailable"
)

// SendLineMessageV2Input is v1's input plus where the LINE user ID lives. LineUserID is
// set when the starter found it in the request's object.properties; empty, the workflow
// reads UserIDProperty of the contact through the CRM API.
type SendLineMessageV2Input struct {
	SendLineMessageInput
	UserIDProperty string
}

// SendLineMessageV2 resolves the contact's LINE user ID when needed, then does exactly what
// SendLineMessage does: push, then callback and timeline.
func SendLineMessageV2(ctx workflow.Context, in SendLineMessageV2Input) (ActionResult, error) {
	status := trackDelivery(ctx)
	var out map[string]string
	if in.LineUserID == "" {
		in.LineUserID, out = lookupLineUserID(ctx, in)
	}
	if out == nil {
		out = push(ctx, in.SendLineMessageInput)
	}
	workflow.GetLogger(ctx).Info("LINE push (v2) finished",
		"state", out[FieldExecutionState], "error_code", out[FieldErrorCode])
	status.settle(ctx, out)

	return reportLineDelivery(ctx, in.SendLineMessageInput, out), nil
}

// lookupLineUserID reads the ID through the CRM API; a non-nil map is a final failure.
func lookupLineUserID(ctx workflow.Context, in SendLineMessageV2Input) (string, map[string]string) {
	window := in.Deadline.Sub(workflow.Now(ctx))
	if window > maxRetryWindow {
		window = maxRetryWindow
	}
	if window <= 0 {
		return "", Failure(CodeExpired, "the action's block expiration passed before the message could be sent")
	}
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    time.Minute,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    time.Minute,
			NonRetryableErrorTypes: []string{
				activities.ErrNoLineUserID, activities.ErrInvalidLineUserID,
				activities.ErrHubSpotAuth, activities.ErrHubSpotRejected,
			},
		},
	})
	var lo activities.LookupLineUserIDOutput
	err := workflow.ExecuteActivity(actx, a.LookupLineUserID, activities.LookupLineUserIDInput{
		PortalID: in.PortalID, ObjectID: in.ObjectID, Property: in.UserIDProperty,
	}).Get(actx, &lo)
	if err == nil {
		return lo.LineUserID, nil
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return "", Failure(CodeExpired, "the contact's LINE user ID could not be read before the action's block expiration")
	}
	var ae *temporal.ApplicationError
	if !errors.As(err, &ae) {
		return "", Failure(CodeHubSpotUnavailable, err.Error())
	}
	code := CodeHubSpotUnavailable
	switch ae.Type() {
	case activities.ErrNoLineUserID:
		code = CodeNoLineUserID
	case activities.ErrInvalidLineUserID:
		code = CodeInvalidLineUserID
	case activities.ErrHubSpotAuth:
		code = CodeHubSpotAuth
	case activities.ErrHubSpotRejected:
		code = CodeHubSpotRejected
	}
	return "", Failure(code, ae.Message())
}
