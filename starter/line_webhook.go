package starter

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/workflows"
)

// RouteLineWebhook receives LINE webhooks; :account is the account number (line_account).
// Set <HUBLINE_PUBLIC_URL>/line/webhook/<n> as the webhook URL of account n's channel.
const RouteLineWebhook = "/line/webhook/:account"

// MaxLineWebhookBytes caps a LINE webhook body; LINE's are a few KiB.
const MaxLineWebhookBytes = 1 << 20

// LineSignatureHeader carries LINE's webhook signature: base64(HMAC-SHA256(channel secret,
// raw body)).
const LineSignatureHeader = "x-line-signature"

// LineWebhookOptions configure POST /line/webhook/<n>.
type LineWebhookOptions struct {
	// Secrets are the environment accounts' channel secrets (LINE_CHANNEL_SECRET, _2, ...);
	// stored accounts use their stored secret.
	Secrets map[int]string
}

// lineEvent is the part of a LINE webhook event the starter reads.
type lineEvent struct {
	Type           string `json:"type"`
	Timestamp      int64  `json:"timestamp"`
	WebhookEventID string `json:"webhookEventId"`
	Source         struct {
		Type   string `json:"type"`
		UserID string `json:"userId"`
	} `json:"source"`
}

// lineChannelSecret is account n's channel secret, "" when the account or its secret is
// unknown. ok reports whether the account exists.
func (s *Server) lineChannelSecret(ctx context.Context, n int) (secret string, portalID int64, ok bool) {
	a, ok := s.opts.LineAccounts.Account(ctx, n)
	if !ok {
		return "", 0, false
	}
	if sec := s.opts.LineWebhook.Secrets[n]; sec != "" && !a.Stored {
		return sec, a.PortalID, true
	}
	return a.ChannelSecret, a.PortalID, true
}

// unknownSecret stands in for the secret of an unknown account, so that refusal costs the
// same HMAC as a wrong signature: the two are indistinguishable, also in timing.
var unknownSecret = []byte("hubline: no such LINE account")

// validLineSignature checks header against body in constant time.
func validLineSignature(secret []byte, header string, body []byte) bool {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	want := mac.Sum(nil)
	got, err := base64.StdEncoding.DecodeString(header)
	return err == nil && hmac.Equal(got, want)
}

// lineWebhook verifies a LINE webhook and durably starts one LineEvent workflow per event
// before answering 200, so a lost answer only makes LINE redeliver, which the workflow IDs
// absorb. A refused request records nothing.
func (s *Server) lineWebhook(c *gin.Context) {
	const action = "line_webhook"
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxLineWebhookBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.requests.WithLabelValues(action, "body_too_large").Inc()
			abortError(c, http.StatusRequestEntityTooLarge, "body_too_large", "the webhook body is larger than 1 MiB")
			return
		}
		abortError(c, http.StatusBadRequest, "invalid_body", "could not read the request body")
		return
	}
	n, err := strconv.Atoi(c.Param("account"))
	secret, portalID, known := "", int64(0), false
	if err == nil && n >= 1 {
		secret, portalID, known = s.lineChannelSecret(c.Request.Context(), n)
	}
	key := []byte(secret)
	if !known || secret == "" {
		key = unknownSecret
	}
	if !validLineSignature(key, c.GetHeader(LineSignatureHeader), body) || !known || secret == "" {
		if known && secret == "" {
			s.log.Warn("LINE webhook refused: the account has no channel secret (set LINE_CHANNEL_SECRET for account 1, LINE_CHANNEL_SECRET_<n> for the others)", zap.Int("line_account", n))
		}
		s.requests.WithLabelValues(action, "invalid_signature").Inc()
		// The same answer for an unknown account, a missing secret and a bad signature.
		abortError(c, http.StatusUnauthorized, "invalid_signature", "missing or invalid x-line-signature")
		return
	}
	var payload struct {
		Events []json.RawMessage `json:"events"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		s.requests.WithLabelValues(action, "invalid_json").Inc()
		abortError(c, http.StatusBadRequest, "invalid_json", "the body is not a LINE webhook (JSON with an events list)")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
	defer cancel()
	started := 0
	for _, raw := range payload.Events {
		var ev lineEvent
		if err := json.Unmarshal(raw, &ev); err != nil || ev.WebhookEventID == "" || ev.Source.Type != "user" || ev.Source.UserID == "" {
			// Accepted and ignored: group and room events, and anything without an ID.
			s.log.Debug("LINE event without a webhookEventId or a user source ignored", zap.Int("line_account", n), zap.String("type", ev.Type))
			s.metrics.WebhookEvent(lineEventType(ev.Type), "ignored")
			continue
		}
		if err := s.startLineEvent(ctx, n, portalID, ev, raw); err != nil {
			s.log.Error("could not start the LINE event workflow", zap.Int("line_account", n), zap.Error(err))
			s.requests.WithLabelValues(action, "temporal_error").Inc()
			s.metrics.WebhookEvent(lineEventType(ev.Type), "temporal_error")
			// 503: LINE redelivers (when redelivery is on), and the workflow IDs keep the
			// events that did start from running twice.
			abortError(c, http.StatusServiceUnavailable, "temporal_unavailable", "could not durably hand the events to Temporal; LINE will redeliver")
			return
		}
		started++
		s.metrics.WebhookEvent(lineEventType(ev.Type), "started")
	}
	s.log.Info("LINE webhook accepted", zap.Int("line_account", n), zap.Int("events", len(payload.Events)), zap.Int("started", started))
	s.requests.WithLabelValues(action, "accepted").Inc()
	c.JSON(http.StatusOK, gin.H{})
}

// startLineEvent starts the event's workflow, or finds the run of an earlier delivery.
func (s *Server) startLineEvent(ctx context.Context, n int, portalID int64, ev lineEvent, raw []byte) error {
	sa := []temporal.SearchAttributeUpdate{workflows.SALineAccount.ValueSet(strconv.Itoa(n))}
	if portalID > 0 {
		sa = append(sa, workflows.SAHubSpotPortalID.ValueSet(strconv.FormatInt(portalID, 10)))
	}
	_, err := s.opts.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        workflows.LineEventWorkflowID(ev.WebhookEventID),
		TaskQueue: workflows.InteractiveTaskQueue,
		// A redelivery joins the open run, and never starts a closed one again.
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(sa...),
	}, workflows.LineEventWorkflow, workflows.LineEventInput{
		Account: n, PortalID: portalID, EventID: ev.WebhookEventID, Type: ev.Type, UserID: ev.Source.UserID,
		Timestamp: ev.Timestamp, UserIDProperty: s.lineUserIDProperty(n), Event: raw,
	})
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &already) {
		s.log.Debug("LINE event redelivered; its workflow exists", zap.Int("line_account", n), zap.String("user", activities.UserRef(ev.Source.UserID)))
		return nil
	}
	return err
}

// UseLineWebhook sets the channel secrets of the environment accounts (call before serving).
func (s *Server) UseLineWebhook(o LineWebhookOptions) { s.opts.LineWebhook = o }
