package starter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/tokens"
	"github.com/hubline/hubline/internal/webhook"
	"github.com/hubline/hubline/workflows"
)

// Input field names of the Send Data action (contract).
const (
	InputWebhookURL       = "webhook_url"
	InputData             = "data"
	InputRequestSignature = "request_signature"
)

// Error codes of Send Data inputs rejected before anything is sent.
const (
	CodeMissingWebhookURL = "missing_webhook_url"
	CodeInvalidWebhookURL = workflows.CodeInvalidWebhookURL
	CodeDestinationDenied = workflows.CodeDestinationNotAllowed
	CodeMissingData       = "missing_data"
	CodeDataTooLarge      = "data_too_large"
)

// DefaultSendDataMaxBytes is HUBLINE_SEND_DATA_MAX_BYTES's default, and its largest
// value: the body travels base64-encoded in the workflow input, which Temporal refuses
// over 2 MB.
const DefaultSendDataMaxBytes = 1 << 20

// Content types of Send Data bodies.
const (
	ContentTypeJSON = "application/json"
	ContentTypeText = "text/plain; charset=utf-8"
)

func (s *Server) sendData(c *gin.Context) {
	r, ok := s.decodeAction(c)
	if !ok {
		return
	}
	in, err := s.sendDataInput(r)
	if err != nil {
		s.reject(c, workflows.ActionSendData, r, err)
		return
	}
	s.start(c, r, workflows.ActionSendData, workflows.SendDataWorkflow, in, 0, "")
}

// sendDataInput validates the URL's form and renders the data.
func (s *Server) sendDataInput(r *actionRequest) (workflows.SendDataInput, error) {
	in := workflows.SendDataInput{
		CallbackID: r.CallbackID, PortalID: r.Origin.PortalID, HubSpotWorkflowID: r.Context.WorkflowID,
		ObjectID: r.Object.ObjectID, ActionType: workflows.ActionSendData,
		Deadline: s.opts.Now().Add(s.opts.BlockExpiration).UTC(), MaxAttempts: s.opts.SendDataMaxAttempts,
	}
	if in.MaxAttempts <= 0 {
		in.MaxAttempts = workflows.DefaultSendDataMaxAttempts
	}
	in.WebhookURL = r.input(InputWebhookURL)
	if in.WebhookURL == "" {
		return in, &inputError{CodeMissingWebhookURL, "webhook_url is required"}
	}
	if _, err := webhook.CheckURL(in.WebhookURL, s.opts.SendDataAllow); err != nil {
		var de *webhook.DestinationError
		if errors.As(err, &de) {
			return in, &inputError{CodeDestinationDenied, "webhook_url: " + de.Error()}
		}
		return in, &inputError{CodeInvalidWebhookURL, "webhook_url: " + err.Error()}
	}
	// Not trimmed: whitespace may be part of a text payload.
	data := r.inputs[InputData]
	if len(bytes.TrimSpace([]byte(data))) == 0 {
		return in, &inputError{CodeMissingData, "data is required"}
	}
	// Rendering stops at the limit: a few tokens and a long property must not build a
	// huge body before it is refused.
	limit := s.opts.SendDataMaxBytes
	if limit <= 0 {
		limit = DefaultSendDataMaxBytes
	}
	tooLarge := &inputError{CodeDataTooLarge, fmt.Sprintf("data is over %d bytes after its contact tokens render (HUBLINE_SEND_DATA_MAX_BYTES)", limit)}
	var missing []string
	if trimmed := bytes.TrimSpace([]byte(data)); json.Valid(trimmed) {
		body, miss, err := tokens.RenderJSON(trimmed, r.props, limit)
		if errors.Is(err, tokens.ErrTooLarge) {
			return in, tooLarge
		}
		if err != nil {
			return in, &inputError{"invalid_data", "data: " + err.Error()}
		}
		in.Body, in.ContentType, missing = body, ContentTypeJSON, miss
	} else {
		text, miss, err := tokens.Render(data, r.props, limit)
		if err != nil { // only ErrTooLarge
			return in, tooLarge
		}
		in.Body, in.ContentType, missing = []byte(text), ContentTypeText, miss
	}
	if len(missing) > 0 {
		s.log.Warn("contact token without a value", zap.String("callback_id", r.CallbackID),
			zap.String("field", InputData), zap.Strings("properties", missing))
	}
	in.Secret = r.inputs[InputRequestSignature]
	return in, nil
}
