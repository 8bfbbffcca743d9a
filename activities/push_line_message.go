package activities

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/logging"
)

// PushInput is one LINE push: up to three already-rendered, validated message objects.
type PushInput struct {
	Account         int
	To              string
	Messages        []json.RawMessage
	AggregationUnit string
	// RetryKey is the same on every attempt, so LINE accepts the push at most once.
	RetryKey string
	// Deadline is the block expiration: a push not sent by then is never sent.
	Deadline time.Time
}

// PushOutput says how LINE accepted the push.
type PushOutput struct {
	RequestID string
	// Duplicate is true when LINE answered 409: an earlier attempt was already accepted.
	Duplicate bool
}

// PushLineMessage sends one push with the execution's retry key.
func (a *Activities) PushLineMessage(ctx context.Context, in PushInput) (PushOutput, error) {
	log := a.logger().With(zap.Int("line_account", in.Account), logging.UserID(in.To),
		zap.Int32("attempt", activity.GetInfo(ctx).Attempt))
	if !in.Deadline.IsZero() && !a.now().Before(in.Deadline) {
		return PushOutput{}, temporal.NewNonRetryableApplicationError(
			"the action's block expiration passed before the message could be sent; not sending late", ErrExpired, nil)
	}
	client, err := a.lineClient(ctx, in.Account)
	if err != nil {
		return PushOutput{}, err
	}
	res, err := a.push(ctx, in.Account, client, line.PushRequest{
		To: in.To, Messages: in.Messages, AggregationUnit: in.AggregationUnit, RetryKey: in.RetryKey,
	})
	if err != nil {
		log.Warn("LINE push failed", zap.Error(err))
		return PushOutput{}, classifyLineError(err)
	}
	id := res.RequestID
	if res.Duplicate && res.AcceptedRequestID != "" {
		id = res.AcceptedRequestID
	}
	log.Info("LINE push accepted", zap.String("line_request_id", id), zap.Bool("duplicate", res.Duplicate))
	return PushOutput{RequestID: id, Duplicate: res.Duplicate}, nil
}

// classifyLineError turns LINE's answer into Temporal's retry semantics: 5xx, timeouts and
// rate limits retry; bad requests, auth and the monthly quota are final.
func classifyLineError(err error) error {
	var ae *line.APIError
	if !errors.As(err, &ae) {
		return temporal.NewApplicationErrorWithCause("LINE did not answer: "+err.Error(), ErrLineUnavailable, err)
	}
	msg := ae.Error()
	switch ae.Kind {
	case line.KindInvalid:
		return temporal.NewNonRetryableApplicationError(msg, ErrLineInvalid, nil)
	case line.KindAuth:
		return temporal.NewNonRetryableApplicationError(msg+" (check the channel access token)", ErrLineAuth, nil)
	case line.KindMonthlyLimit:
		return temporal.NewNonRetryableApplicationError(msg, ErrLineMonthlyLimit, nil)
	case line.KindRateLimited:
		return temporal.NewApplicationError(msg, ErrLineRateLimited)
	default:
		return temporal.NewApplicationError(msg, ErrLineUnavailable)
	}
}
