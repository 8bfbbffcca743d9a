package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
)

// CallbackInput completes one blocked HubSpot workflow action.
type CallbackInput struct {
	PortalID     int64
	CallbackID   string
	OutputFields map[string]string
}

// CallbackOutput reports whether HubSpot had already closed the callback.
type CallbackOutput struct {
	AlreadyDone bool
}

// CompleteCallback tells HubSpot the action's outcome so the HubSpot workflow moves on.
func (a *Activities) CompleteCallback(ctx context.Context, in CallbackInput) (CallbackOutput, error) {
	err := a.HubSpot.CompleteCallback(ctx, in.PortalID, in.CallbackID, in.OutputFields)
	a.Metrics.Callback(in.OutputFields[stateField], callbackOutcome(err))
	if errors.Is(err, hubspot.ErrCallbackNotPending) {
		// Completed by an earlier attempt, or expired: either way nothing is left to do.
		a.logger().Info("HubSpot callback was no longer pending", zap.String("callback_id", in.CallbackID))
		return CallbackOutput{AlreadyDone: true}, nil
	}
	if err != nil {
		if typ := hubspotErrorType(err); typ != "" {
			return CallbackOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
		}
		return CallbackOutput{}, err
	}
	return CallbackOutput{}, nil
}

// stateField is HubSpot's output field for the execution state (workflows.FieldExecutionState;
// activities do not import workflows).
const stateField = "hs_execution_state"

// callbackOutcome names a completion's result for hubline_callbacks_total: completed,
// already_done (HubSpot no longer waits for it), rejected (final) or retry.
func callbackOutcome(err error) string {
	switch {
	case err == nil:
		return "completed"
	case errors.Is(err, hubspot.ErrCallbackNotPending):
		return "already_done"
	case hubspotErrorType(err) != "":
		return "rejected"
	default:
		return "retry"
	}
}
