package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// hubspotReport is what every action tells HubSpot once its work is done.
type hubspotReport struct {
	PortalID     int64
	CallbackID   string
	ObjectID     int64
	ActionType   string
	Deadline     time.Time
	OutputFields map[string]string
	// Tokens and ExtraData describe the delivery on the contact's timeline.
	Tokens    map[string]string
	ExtraData map[string]any
}

// hubspotRetry retries rate limits and outages with backoff; auth and rejections are final.
var hubspotRetry = &temporal.RetryPolicy{
	InitialInterval:        time.Second,
	BackoffCoefficient:     2,
	MaximumInterval:        time.Minute,
	NonRetryableErrorTypes: []string{activities.ErrHubSpotAuth, activities.ErrHubSpotRejected},
}

// reportToHubSpot completes the callback and writes the timeline event at the same time, so
// a failing timeline never holds the HubSpot workflow. It returns each write's final error.
func reportToHubSpot(ctx workflow.Context, r hubspotReport) (callbackErr, timelineErr string) {
	var a *activities.Activities
	// Completing is pointless once the block has expired (HubSpot moved on), but one try
	// shortly after still records the outcome when the deadline was close.
	window := r.Deadline.Sub(workflow.Now(ctx))
	if window < 10*time.Minute {
		window = 10 * time.Minute
	}
	cbCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    time.Minute,
		RetryPolicy:            hubspotRetry,
	})
	cb := workflow.ExecuteActivity(cbCtx, a.CompleteCallback, activities.CallbackInput{
		PortalID: r.PortalID, CallbackID: r.CallbackID, OutputFields: r.OutputFields,
	})

	tokens := map[string]string{
		"action":          r.ActionType,
		"status":          r.OutputFields[FieldExecutionState],
		"error_code":      r.OutputFields[FieldErrorCode],
		"line_request_id": r.OutputFields[FieldLineRequestID],
	}
	for k, v := range r.Tokens {
		tokens[k] = v
	}
	tlCtx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: 24 * time.Hour,
		StartToCloseTimeout:    time.Minute,
		RetryPolicy:            hubspotRetry,
	})
	tl := workflow.ExecuteActivity(tlCtx, a.CreateTimelineEvent, activities.TimelineInput{
		PortalID: r.PortalID, EventID: "hubline-" + r.CallbackID, ObjectID: r.ObjectID,
		Tokens: tokens, ExtraData: r.ExtraData, Timestamp: workflow.Now(ctx),
	})

	log := workflow.GetLogger(ctx)
	if err := cb.Get(ctx, nil); err != nil {
		log.Error("HubSpot callback could not be completed", "error", err)
		callbackErr = err.Error()
	}
	if err := tl.Get(ctx, nil); err != nil {
		log.Error("timeline event could not be written", "error", err)
		timelineErr = err.Error()
	}
	return callbackErr, timelineErr
}
