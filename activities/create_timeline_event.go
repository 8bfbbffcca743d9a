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

// TimelineOutput reports whether the write was skipped because no template is configured.
type TimelineOutput struct {
	Skipped bool
}

// CreateTimelineEvent writes the delivery to the contact's HubSpot timeline.
func (a *Activities) CreateTimelineEvent(ctx context.Context, in TimelineInput) (TimelineOutput, error) {
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
