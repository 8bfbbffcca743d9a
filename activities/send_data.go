package activities

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/webhook"
)

// Error types of the Send Data activity. Details of webhook_* errors carry the HTTP status.
const (
	ErrDestinationNotAllowed = "destination_not_allowed"
	ErrInvalidWebhookURL     = "invalid_webhook_url"
	ErrWebhookRedirected     = "webhook_redirected"
	ErrWebhookRejected       = "webhook_rejected"
	ErrWebhookUnavailable    = "webhook_unavailable"
)

// SendDataInput is one Send Data delivery; Body is already rendered.
type SendDataInput struct {
	URL         string
	Body        []byte
	ContentType string
	// Secret signs each attempt when set.
	Secret string
	// IdempotencyKey is the same on every attempt of the execution.
	IdempotencyKey string
}

// SendDataOutput is the receiver's 2xx answer.
type SendDataOutput struct {
	Status int
}

// SendData POSTs the data to the webhook. 5xx, 429 (honouring Retry-After) and transport
// failures retry; other answers are final. Data and secret are never logged.
func (a *Activities) SendData(ctx context.Context, in SendDataInput) (SendDataOutput, error) {
	log := a.logger().With(zap.Int32("attempt", activity.GetInfo(ctx).Attempt))
	if a.Webhook == nil {
		return SendDataOutput{}, temporal.NewApplicationError("no webhook client is configured on this worker", ErrWebhookUnavailable)
	}
	res, err := a.Webhook.Send(ctx, webhook.Request{
		URL: in.URL, Body: in.Body, ContentType: in.ContentType, Secret: in.Secret, IdempotencyKey: in.IdempotencyKey,
	})
	var de *webhook.DestinationError
	var ue *webhook.URLError
	switch {
	case errors.As(err, &de):
		log.Warn("send data destination refused", zap.String("host", de.Host), zap.String("reason", de.Reason))
		return SendDataOutput{}, temporal.NewNonRetryableApplicationError(de.Error(), ErrDestinationNotAllowed, nil)
	case errors.As(err, &ue):
		return SendDataOutput{}, temporal.NewNonRetryableApplicationError(ue.Error(), ErrInvalidWebhookURL, nil)
	case err != nil:
		log.Warn("send data request failed", zap.Error(err))
		return SendDataOutput{}, temporal.NewApplicationError(err.Error(), ErrWebhookUnavailable)
	}
	log = log.With(zap.Int("status", res.Status))
	s := res.Status
	switch {
	case s >= 200 && s < 300:
		log.Info("send data delivered")
		return SendDataOutput{Status: s}, nil
	case s == http.StatusTooManyRequests || s >= 500:
		log.Warn("send data receiver unavailable; retrying", zap.Duration("retry_after", res.RetryAfter))
		return SendDataOutput{}, temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("the webhook answered HTTP %d", s), ErrWebhookUnavailable,
			temporal.ApplicationErrorOptions{NextRetryDelay: res.RetryAfter, Details: []any{s}})
	case s >= 300 && s < 400:
		log.Warn("send data receiver redirected; not following")
		return SendDataOutput{}, temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("the webhook answered HTTP %d (redirects are not followed)", s), ErrWebhookRedirected,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{s}})
	default:
		log.Warn("send data rejected by the receiver")
		return SendDataOutput{}, temporal.NewApplicationErrorWithOptions(
			fmt.Sprintf("the webhook answered HTTP %d", s), ErrWebhookRejected,
			temporal.ApplicationErrorOptions{NonRetryable: true, Details: []any{s}})
	}
}
