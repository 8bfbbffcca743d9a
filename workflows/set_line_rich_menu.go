package workflows

import (
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// SetLineRichMenuWorkflow is the Set LINE Rich Menu workflow type (contract).
const SetLineRichMenuWorkflow = "SetLineRichMenu"

// CodeUnknownRichMenu: the LINE account has no rich menu with that ID (contract).
const CodeUnknownRichMenu = "unknown_rich_menu"

// SetLineRichMenuInput is resolved by the starter: the user ID and menu ID are validated and
// the account is the portal's.
type SetLineRichMenuInput struct {
	CallbackID        string
	PortalID          int64
	HubSpotWorkflowID int64
	ObjectID          int64
	ActionType        string
	Account           int
	LineUserID        string
	// RichMenuID is the menu to link; empty unlinks (the account's default menu shows).
	RichMenuID string
	// Deadline is when HubSpot's block expires: the menu is not changed after it.
	Deadline time.Time
}

// SetLineRichMenu links (or unlinks) the user's rich menu, then completes the HubSpot
// callback and records the change on the contact, neither delaying the other.
func SetLineRichMenu(ctx workflow.Context, in SetLineRichMenuInput) (ActionResult, error) {
	status := trackDelivery(ctx)
	out := setRichMenu(ctx, in)
	workflow.GetLogger(ctx).Info("LINE rich menu change finished",
		"state", out[FieldExecutionState], "error_code", out[FieldErrorCode])
	status.settle(ctx, out)

	res := withOutcome(ActionResult{OutputFields: out})
	res.CallbackError, res.TimelineError = reportToHubSpot(ctx, hubspotReport{
		PortalID: in.PortalID, CallbackID: in.CallbackID, ObjectID: in.ObjectID, ActionType: in.ActionType,
		Deadline: in.Deadline, OutputFields: out,
		Tokens: map[string]string{
			"line_account": strconv.Itoa(in.Account),
			"rich_menu_id": in.RichMenuID,
		},
	})
	return res, nil
}

func setRichMenu(ctx workflow.Context, in SetLineRichMenuInput) map[string]string {
	window := in.Deadline.Sub(workflow.Now(ctx))
	if window > maxRetryWindow {
		window = maxRetryWindow
	}
	if window <= 0 {
		return Failure(CodeExpired, "the action's block expiration passed before the rich menu could be changed")
	}
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Retries (5xx, timeouts, 429) stop at the block expiration: HubSpot no longer
		// waits for the outcome then.
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    45 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			NonRetryableErrorTypes: []string{
				activities.ErrUnknownRichMenu, activities.ErrLineInvalid, activities.ErrLineAuth,
				activities.ErrLineMonthlyLimit, activities.ErrUnknownAccount, activities.ErrExpired,
			},
		},
	})
	var ro activities.RichMenuOutput
	err := workflow.ExecuteActivity(actx, a.SetLineRichMenu, activities.RichMenuInput{
		Account: in.Account, UserID: in.LineUserID, RichMenuID: in.RichMenuID, Deadline: in.Deadline,
	}).Get(actx, &ro)
	if err == nil {
		return Success(map[string]string{FieldLineRequestID: ro.RequestID})
	}
	var te *temporal.TimeoutError
	if errors.As(err, &te) {
		return Failure(CodeExpired, "the rich menu could not be changed before the action's block expiration")
	}
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && ae.Type() == activities.ErrUnknownRichMenu {
		return Failure(CodeUnknownRichMenu, ae.Message())
	}
	return failureFromError(err)
}
