package activities

import (
	"context"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/hubline/hubline/internal/hubspot"
)

// TimelineInput is one delivery record on a contact's timeline.
type TimelineInput struct {
	PortalID int64
	// EventID is deterministic, so a retried write finds the first one (409) and adds nothing.
	EventID   string
	ObjectID  int64
	Tokens    map[string]string
	ExtraData map[string]any
	Timestamp time.Time
}

// TimelineOutput reports whether the write was skipped (history off, or events without a
// template).
type TimelineOutput struct {
	Skipped bool
}

// CreateTimelineEvent records the delivery on the contact: a note, a timeline event or
// nothing, as the worker is configured (the workflow does not choose, so changing
// HUBLINE_TIMELINE never touches workflow code or history).
func (a *Activities) CreateTimelineEvent(ctx context.Context, in TimelineInput) (TimelineOutput, error) {
	switch a.timelineMode() {
	case TimelineOff:
		return TimelineOutput{Skipped: true}, nil
	case TimelineNotes:
		return TimelineOutput{}, a.writeNotes(ctx, []TimelineInput{in})
	}
	if a.TimelineEventTemplateID == "" {
		return TimelineOutput{Skipped: true}, nil
	}
	err := a.HubSpot.CreateTimelineEvent(ctx, in.PortalID, hubspot.TimelineEvent{
		ID: in.EventID, EventTemplateID: a.TimelineEventTemplateID, ObjectID: in.ObjectID,
		Tokens: in.Tokens, ExtraData: in.ExtraData, Timestamp: in.Timestamp,
	})
	if err != nil {
		if typ := hubspotErrorType(err); typ != "" {
			return TimelineOutput{}, temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
		}
		return TimelineOutput{}, err
	}
	return TimelineOutput{}, nil
}
