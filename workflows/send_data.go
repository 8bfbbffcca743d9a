package workflows

import (
	"errors"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// SendDataWorkflow is the Send Data workflow type (contract).
const SendDataWorkflow = "SendData"

// Send Data output fields and error codes (contract).
const (
	FieldHTTPStatus = "http_status"

	CodeDestinationNotAllowed = "destination_not_allowed"
	CodeInvalidWebhookURL     = "invalid_webhook_url"
	CodeWebhookRedirected     = "webhook_redirected"
	CodeWebhookRejected       = "webhook_rejected"
	CodeWebhookUnavailable    = "webhook_unavailable"
)

// DefaultSendDataMaxAttempts applies when the input carries no MaxAttempts.
const DefaultSendDataMaxAttempts = 10

// SendDataInput is resolved by the starter: the data is already rendered and its content
// type chosen, and MaxAttempts comes from HUBLINE_SEND_DATA_MAX_ATTEMPTS.
type SendDataInput struct {
	CallbackID        string
	PortalID          int64
	HubSpotWorkflowID int64
	ObjectID          int64
	ActionType        string
	WebhookURL        string
	Body              []byte
	ContentType       string
	// Secret signs the requests (request_signature); payload encryption protects it at rest.
	Secret      string `json:",omitempty"`
	MaxAttempts int
	// Deadline is when HubSpot's block expires: no attempt after it.
	Deadline time.Time
}

// ActionResult is the outcome of every action workflow (same shape as SendLineMessage's,
// which the starter reads back for redelivered executions).
type ActionResult = SendLineMessageResult

// IdempotencyKey is the Idempotency-Key of one Send Data execution: the same on every
// attempt and every redelivery of the callbackId.
func IdempotencyKey(callbackID string) string {
	return uuid.NewSHA1(retryKeyNamespace, []byte("send-data:"+callbackID)).String()
}

// SendData POSTs the data to the webhook, then completes the HubSpot callback and writes
// the timeline event.
func SendData(ctx workflow.Context, in SendDataInput) (ActionResult, error) {
	status := trackDelivery(ctx)
	out := deliverData(ctx, in)
	workflow.GetLogger(ctx).Info("send data finished",
		"state", out[FieldExecutionState], "error_code", out[FieldErrorCode], "http_status", out[FieldHTTPStatus])
	status.settle(ctx, out)

	host := ""
	if u, err := url.Parse(in.WebhookURL); err == nil {
		host = u.Host // never the path or query: they may carry secrets
	}
	res := withOutcome(ActionResult{OutputFields: out})
	res.CallbackError, res.TimelineError = reportToHubSpot(ctx, hubspotReport{
		PortalID: in.PortalID, CallbackID: in.CallbackID, ObjectID: in.ObjectID, ActionType: in.ActionType,
		Deadline: in.Deadline, OutputFields: out,
		Tokens: map[string]string{
			"http_status":  out[FieldHTTPStatus],
			"webhook_host": host,
			"signed":       strconv.FormatBool(in.Secret != ""),
		},
	})
	return res, nil
}

func deliverData(ctx workflow.Context, in SendDataInput) map[string]string {
	window := in.Deadline.Sub(workflow.Now(ctx))
	if window > maxRetryWindow {
		window = maxRetryWindow
	}
	if window <= 0 {
		return Failure(CodeExpired, "the action's block expiration passed before the data could be sent")
	}
	attempts := in.MaxAttempts
	if attempts <= 0 {
		attempts = DefaultSendDataMaxAttempts
	}
	var a *activities.Activities
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    45 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:    time.Second,
			BackoffCoefficient: 2,
			MaximumInterval:    5 * time.Minute,
			MaximumAttempts:    int32(attempts),
			NonRetryableErrorTypes: []string{
				activities.ErrDestinationNotAllowed, activities.ErrInvalidWebhookURL,
				activities.ErrWebhookRedirected, activities.ErrWebhookRejected,
			},
		},
	})
	var so activities.SendDataOutput
	err := workflow.ExecuteActivity(actx, a.SendData, activities.SendDataInput{
		URL: in.WebhookURL, Body: in.Body, ContentType: in.ContentType, Secret: in.Secret,
		IdempotencyKey: IdempotencyKey(in.CallbackID),
	}).Get(actx, &so)
	if err == nil {
		return Success(map[string]string{FieldHTTPStatus: strconv.Itoa(so.Status)})
	}
	return sendDataFailure(err)
}

// sendDataFailure maps the activity's final error to output fields.
func sendDataFailure(err error) map[string]string {
	var ae *temporal.ApplicationError
	hasApp := errors.As(err, &ae)
	var te *temporal.TimeoutError
	if errors.As(err, &te) && !(hasApp && ae.NonRetryable()) {
		out := Failure(CodeExpired, "the data could not be delivered before the action's block expiration")
		if hasApp {
			addStatus(out, ae)
		}
		return out
	}
	if !hasApp {
		return Failure(CodeWebhookUnavailable, err.Error())
	}
	code := CodeWebhookUnavailable
	switch ae.Type() {
	case activities.ErrDestinationNotAllowed:
		code = CodeDestinationNotAllowed
	case activities.ErrInvalidWebhookURL:
		code = CodeInvalidWebhookURL
	case activities.ErrWebhookRedirected:
		code = CodeWebhookRedirected
	case activities.ErrWebhookRejected:
		code = CodeWebhookRejected
	}
	out := Failure(code, ae.Message())
	addStatus(out, ae)
	return out
}

func addStatus(out map[string]string, ae *temporal.ApplicationError) {
	var status int
	if ae.HasDetails() && ae.Details(&status) == nil && status > 0 {
		out[FieldHTTPStatus] = strconv.Itoa(status)
	}
}
