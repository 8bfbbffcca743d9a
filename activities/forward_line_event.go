package activities

import (
	"context"

	"github.com/google/uuid"
	"go.uber.org/zap"
)

// lineEventKeys is the UUID namespace of forwarded events' Idempotency-Keys.
var lineEventKeys = uuid.NewSHA1(uuid.NameSpaceURL, []byte("https://github.com/hubline/hubline/line-event"))

// LineEventIdempotencyKey is the Idempotency-Key of the forward of the LINE event with
// webhookEventId id: the same on every attempt and redelivery.
func LineEventIdempotencyKey(id string) string {
	return uuid.NewSHA1(lineEventKeys, []byte(id)).String()
}

// ForwardLineEventInput is one LINE event to forward, as LINE sent it.
type ForwardLineEventInput struct {
	Account int
	// EventID is the event's webhookEventId; the Idempotency-Key of every attempt is a UUID
	// derived from it (LineEventIdempotencyKey), so the receiver can drop LINE's
	// redeliveries and hubline's retries alike.
	EventID string
	// Event is the event object's JSON, verbatim.
	Event []byte
}

// ForwardLineEventOutput says whether the event was forwarded (false: the account has no
// forward URL) and the receiver's 2xx status.
type ForwardLineEventOutput struct {
	Forwarded bool
	Status    int
}

// ForwardLineEvent POSTs the event to the account's HUBLINE_LINE_EVENT_FORWARD_URL(_n)
// through Send Data's delivery: the request forgery guard, no redirects, the X-Hubline-
// Signature of HUBLINE_LINE_EVENT_FORWARD_SECRET(_n), 429/5xx retried, other answers final.
// The URL and secret stay in the worker's settings, out of workflow histories.
func (l *LineEvents) ForwardLineEvent(ctx context.Context, in ForwardLineEventInput) (ForwardLineEventOutput, error) {
	f, ok := l.Forwards[in.Account]
	if !ok || f.URL == "" {
		return ForwardLineEventOutput{}, nil
	}
	res, err := l.Activities.SendData(ctx, SendDataInput{
		URL: f.URL, Body: in.Event, ContentType: "application/json", Secret: f.Secret, IdempotencyKey: LineEventIdempotencyKey(in.EventID),
	})
	if err != nil {
		l.logger().Warn("LINE event forward failed", zap.Int("line_account", in.Account), zap.Error(err))
		return ForwardLineEventOutput{}, err
	}
	return ForwardLineEventOutput{Forwarded: true, Status: res.Status}, nil
}
