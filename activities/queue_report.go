package activities

import (
	"context"
	"errors"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
)

// QueueCallback is one blocked action a queue batch completes.
type QueueCallback struct {
	PortalID     int64
	CallbackID   string
	OutputFields map[string]string
}

// CompleteCallbacksInput is a batch's callbacks (any mix of portals).
type CompleteCallbacksInput struct {
	Items []QueueCallback
}

// CompleteCallbacksOutput counts the outcomes; Rejected lists callbacks HubSpot refused for good.
type CompleteCallbacksOutput struct {
	Completed   int
	AlreadyDone int
	Rejected    map[string]string `json:",omitempty"`
}

// QueueCompleteCallbacks completes a batch's callbacks through HubSpot's batch endpoint (≤100 per
// call, per portal, through the portal's limiter). One bad callbackId does not fail the
// rest: the client falls back to one-by-one for a rejected chunk. Completed IDs are
// heartbeated so a retried attempt does not redo them.
func (a *Activities) QueueCompleteCallbacks(ctx context.Context, in CompleteCallbacksInput) (CompleteCallbacksOutput, error) {
	done := map[string]bool{}
	if activity.HasHeartbeatDetails(ctx) {
		var ids []string
		if activity.GetHeartbeatDetails(ctx, &ids) == nil {
			for _, id := range ids {
				done[id] = true
			}
		}
	}
	out := CompleteCallbacksOutput{}
	var order []int64
	byPortal := map[int64][]hubspot.CallbackCompletion{}
	for _, it := range in.Items {
		if done[it.CallbackID] {
			out.Completed++
			continue
		}
		if _, ok := byPortal[it.PortalID]; !ok {
			order = append(order, it.PortalID)
		}
		byPortal[it.PortalID] = append(byPortal[it.PortalID], hubspot.CallbackCompletion{CallbackID: it.CallbackID, OutputFields: it.OutputFields})
	}
	states := map[string]string{}
	for _, it := range in.Items {
		states[it.CallbackID] = it.OutputFields[stateField]
	}
	record := func(res map[string]error) {
		for id, err := range res {
			done[id] = true
			a.Metrics.Callback(states[id], callbackOutcome(err))
			switch {
			case err == nil:
				out.Completed++
			case errors.Is(err, hubspot.ErrCallbackNotPending):
				out.AlreadyDone++
			default:
				if out.Rejected == nil {
					out.Rejected = map[string]string{}
				}
				out.Rejected[id] = clip(err.Error(), 300)
			}
		}
		ids := make([]string, 0, len(done))
		for id := range done {
			ids = append(ids, id)
		}
		activity.RecordHeartbeat(ctx, ids)
	}
	for _, portal := range order {
		res, err := a.HubSpot.CompleteCallbacks(ctx, portal, byPortal[portal])
		if errors.Is(err, hubspot.ErrNotConnected) {
			// Final for this portal only: the other portals' callbacks still go out.
			res = map[string]error{}
			for _, it := range byPortal[portal] {
				res[it.CallbackID] = err
			}
			err = nil
		}
		record(res)
		if err != nil {
			if typ := hubspotErrorType(err); typ != "" {
				return out, temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
			}
			return out, err
		}
	}
	if len(out.Rejected) > 0 {
		a.logger().Warn("HubSpot rejected some callback completions", zap.Int("rejected", len(out.Rejected)))
	}
	return out, nil
}

// TimelineEventsInput is a batch's timeline events (any mix of portals).
type TimelineEventsInput struct {
	Events []TimelineInput
}

// QueueTimelineEvents records a batch's deliveries as the worker is configured: notes or
// timeline events, in batches of up to 100 per portal through the portal's limiter.
// Deterministic event IDs make a retried event write add nothing; notes are searched for
// on retry (writeNotes).
func (a *Activities) QueueTimelineEvents(ctx context.Context, in TimelineEventsInput) (TimelineOutput, error) {
	switch a.timelineMode() {
	case TimelineOff:
		return TimelineOutput{Skipped: true}, nil
	case TimelineNotes:
		return TimelineOutput{}, a.writeNotes(ctx, in.Events)
	}
	if a.TimelineEventTemplateID == "" {
		return TimelineOutput{Skipped: true}, nil
	}
	var order []int64
	byPortal := map[int64][]hubspot.TimelineEvent{}
	for _, ev := range in.Events {
		if _, ok := byPortal[ev.PortalID]; !ok {
			order = append(order, ev.PortalID)
		}
		byPortal[ev.PortalID] = append(byPortal[ev.PortalID], hubspot.TimelineEvent{
			ID: ev.EventID, EventTemplateID: a.TimelineEventTemplateID, ObjectID: ev.ObjectID,
			Tokens: ev.Tokens, ExtraData: ev.ExtraData, Timestamp: ev.Timestamp,
		})
	}
	for _, portal := range order {
		if err := a.HubSpot.CreateTimelineEvents(ctx, portal, byPortal[portal]); err != nil {
			if typ := hubspotErrorType(err); typ != "" {
				return TimelineOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
			}
			return TimelineOutput{}, err
		}
	}
	return TimelineOutput{}, nil
}
