package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// LineEventWorkflow is the workflow type of one LINE webhook event (contract).
const LineEventWorkflow = "LineEvent"

// LineEventWorkflowID is the ID of the workflow of one LINE webhook event, so LINE's
// redeliveries (same webhookEventId) join the run that exists instead of starting another.
func LineEventWorkflowID(webhookEventID string) string { return "line-event-" + webhookEventID }

// Activity names of the LINE webhook activities (activities.LineEvents' methods).
const (
	activityLineProfile      = "LineProfile"
	activityApplyLineContact = "ApplyLineContact"
	activityForwardLineEvent = "ForwardLineEvent"
)

// LineEventInput is resolved by the starter from a verified webhook: the event's fields
// hubline acts on, and the event itself for forwarding.
type LineEventInput struct {
	Account  int
	PortalID int64 // the account's owner portal; 0 in single-portal mode
	EventID  string
	Type     string
	UserID   string
	// Timestamp is the event's LINE timestamp, Unix milliseconds.
	Timestamp int64
	// UserIDProperty is the account's LINE user ID contact property.
	UserIDProperty string
	// Event is the event object as LINE sent it (forwarded verbatim).
	Event []byte
}

// LineEventResult says what the event did.
type LineEventResult struct {
	// Contact is ApplyLineContact's outcome ("" when the event type does not touch contacts).
	Contact   string `json:",omitempty"`
	ContactID string `json:",omitempty"`
	Forwarded bool   `json:",omitempty"`
	// Ignored: an event type hubline does not act on.
	Ignored bool `json:",omitempty"`
}

// lineInteractionTypes are the user events that count as an interaction and are forwarded.
// Other types (join, leave, memberJoined, ...) and unknown ones are ignored.
var lineInteractionTypes = map[string]bool{
	"message": true, "postback": true, "beacon": true, "videoPlayComplete": true,
	"accountLink": true, "things": true, "unsend": true, "membership": true,
}

// LineEvent applies one LINE webhook event: a follow creates or updates the user's contact
// from the profile, an unfollow marks it blocked, and messages and other user events record
// the last interaction and are forwarded to the account's forward URL. Every step retries
// durably (HubSpot 429/5xx, LINE 5xx, an unreachable forward receiver).
func LineEvent(ctx workflow.Context, in LineEventInput) (LineEventResult, error) {
	retry := &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 5 * time.Minute}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// A retried follow waits 10 s before it searches, and may wait for the user's lock.
		StartToCloseTimeout:    2 * time.Minute,
		ScheduleToCloseTimeout: 72 * time.Hour,
		RetryPolicy:            retry,
	})
	ts := time.UnixMilli(in.Timestamp).UTC()
	apply := func(kind string, p activities.LineProfileOutput) (LineEventResult, error) {
		var out activities.ApplyLineContactOutput
		err := workflow.ExecuteActivity(actx, activityApplyLineContact, activities.ApplyLineContactInput{
			PortalID: in.PortalID, Account: in.Account, UserID: in.UserID, UserIDProperty: in.UserIDProperty,
			Kind: kind, Timestamp: ts, Profile: p,
		}).Get(ctx, &out)
		return LineEventResult{Contact: out.Outcome, ContactID: out.ContactID}, err
	}
	switch {
	case in.Type == "follow":
		var p activities.LineProfileOutput
		if err := workflow.ExecuteActivity(actx, activityLineProfile, activities.LineProfileInput{Account: in.Account, UserID: in.UserID}).Get(ctx, &p); err != nil {
			return LineEventResult{}, err
		}
		if !p.Friend {
			return apply(activities.LineKindNotFriend, p)
		}
		return apply(activities.LineKindFollow, p)
	case in.Type == "unfollow":
		return apply(activities.LineKindUnfollow, activities.LineProfileOutput{})
	case lineInteractionTypes[in.Type]:
		// The forward runs beside the contact write: a chatbot's answer must not wait for HubSpot.
		fctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute, ScheduleToCloseTimeout: 24 * time.Hour, RetryPolicy: retry,
		})
		forward := workflow.ExecuteActivity(fctx, activityForwardLineEvent, activities.ForwardLineEventInput{
			Account: in.Account, EventID: in.EventID, Event: in.Event,
		})
		res, err := apply(activities.LineKindInteraction, activities.LineProfileOutput{})
		var fw activities.ForwardLineEventOutput
		if ferr := forward.Get(ctx, &fw); ferr != nil && err == nil {
			err = ferr
		}
		res.Forwarded = fw.Forwarded
		return res, err
	}
	return LineEventResult{Ignored: true}, nil
}
