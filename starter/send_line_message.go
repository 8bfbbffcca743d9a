package starter

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/accounts"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/workflows"
)

// Input field names of the Send LINE Message actions (contract).
const (
	InputLineUserID   = "line_user_id"
	InputLineAccount  = "line_account"
	InputAnalyticsTag = "analytics_tag"
)

// MessageInputs are the message fields, in order; message_1 is required.
var MessageInputs = []string{"message_1", "message_2", "message_3"}

// Error codes of inputs rejected before anything is sent.
const (
	CodeMissingLineUserID   = "missing_line_user_id"
	CodeInvalidLineUserID   = "invalid_line_user_id"
	CodeInvalidLineAccount  = accounts.CodeInvalid
	CodeUnknownLineAccount  = accounts.CodeUnknown
	CodeInvalidAnalyticsTag = "invalid_analytics_tag"
)

// maxAnalyticsTagBytes keeps the tag a usable search attribute value.
const maxAnalyticsTagBytes = 255

// inputError is a well-formed request whose inputs cannot be sent: HubSpot gets
// FAIL_CONTINUE with the code, so its workflow can branch.
type inputError struct{ code, message string }

func (e *inputError) Error() string { return e.message }

func (s *Server) sendLineMessage(c *gin.Context) {
	r, ok := s.decodeAction(c)
	if !ok {
		return
	}
	in, err := s.lineMessageInput(r, workflows.ActionSendLineMessage)
	if err != nil {
		s.reject(c, workflows.ActionSendLineMessage, r, err)
		return
	}
	s.start(c, r, workflows.ActionSendLineMessage, workflows.SendLineMessageWorkflow, in, in.Account, in.AnalyticsTag)
}

// lineMessageInput validates and renders a Send LINE Message request into workflow input.
func (s *Server) lineMessageInput(r *actionRequest, action string) (workflows.SendLineMessageInput, error) {
	in := workflows.SendLineMessageInput{
		CallbackID: r.CallbackID, PortalID: r.Origin.PortalID, HubSpotWorkflowID: r.Context.WorkflowID,
		ObjectID: r.Object.ObjectID, ActionType: action, Deadline: s.opts.Now().Add(s.opts.BlockExpiration).UTC(),
	}
	in.LineUserID = r.input(InputLineUserID)
	switch {
	case in.LineUserID == "":
		return in, &inputError{CodeMissingLineUserID, "line_user_id is empty: the contact has no LINE user ID for this account"}
	case !line.ValidUserID(in.LineUserID):
		return in, &inputError{CodeInvalidLineUserID, "line_user_id is not a LINE user ID (U followed by 32 hex digits)"}
	}
	acct, err := s.account(r)
	if err != nil {
		return in, err
	}
	in.Account = acct.Number
	in.AnalyticsTag = r.input(InputAnalyticsTag)
	if len(in.AnalyticsTag) > maxAnalyticsTagBytes {
		return in, &inputError{CodeInvalidAnalyticsTag, fmt.Sprintf("analytics_tag is over %d bytes", maxAnalyticsTagBytes)}
	}
	if acct.AggregationUnits && line.ValidAggregationUnit(in.AnalyticsTag) {
		in.AggregationUnit = in.AnalyticsTag
	}
	in.Messages, err = s.messages(r)
	return in, err
}

// account resolves line_account against the accounts the requesting portal may use: ""
// means its lowest-numbered one; another portal's account is answered like a missing one.
func (s *Server) account(r *actionRequest) (accounts.Account, error) {
	// The request context is not passed: a reload on a miss should finish for the next
	// request even if HubSpot hangs up on this one.
	a, err := s.opts.LineAccounts.Resolve(context.Background(), r.Origin.PortalID, r.input(InputLineAccount))
	var ae *accounts.Error
	if errors.As(err, &ae) {
		return a, &inputError{ae.Code, ae.Message}
	}
	return a, err
}

// messages renders contact tokens into message_1..3 and validates each as LINE requires.
func (s *Server) messages(r *actionRequest) ([]json.RawMessage, error) {
	var msgs []json.RawMessage
	for i, name := range MessageInputs {
		raw := r.input(name)
		if raw == "" {
			if i == 0 {
				return nil, &inputError{"empty_message", "message_1 is required"}
			}
			continue
		}
		msg, missing, err := line.BuildMessage(raw, r.props)
		if err != nil {
			var ve *line.ValidationError
			if errors.As(err, &ve) {
				return nil, &inputError{ve.Code, name + ": " + ve.Message}
			}
			return nil, &inputError{"invalid_message", name + ": " + err.Error()}
		}
		if len(missing) > 0 {
			// Usually the action definition does not request the property: say which (names only).
			s.log.Warn("contact token without a value", zap.String("callback_id", r.CallbackID),
				zap.String("field", name), zap.Strings("properties", missing))
		}
		msgs = append(msgs, msg)
	}
	return msgs, nil
}

// reject answers a well-formed request with invalid inputs: FAIL_CONTINUE, logged, counted.
func (s *Server) reject(c *gin.Context, action string, r *actionRequest, err error) {
	var ie *inputError
	if !errors.As(err, &ie) {
		ie = &inputError{CodeInvalidInput, err.Error()}
	}
	s.requests.WithLabelValues(action, "rejected_"+ie.code).Inc()
	s.log.Info("action rejected", zap.String("action", action), zap.String("callback_id", r.CallbackID),
		zap.Int64("portal_id", r.Origin.PortalID), zap.String("error_code", ie.code))
	c.JSON(http.StatusOK, outputs(workflows.Failure(ie.code, ie.message)))
}

func outputs(fields map[string]string) gin.H { return gin.H{"outputFields": fields} }

// start durably starts the action's workflow, or finds the run of an earlier delivery of the
// same callbackId, and answers HubSpot. A duplicate never starts a second run.
func (s *Server) start(c *gin.Context, r *actionRequest, action, workflowType string, input any, account int, tag string) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
	defer cancel()
	log := s.log.With(zap.String("action", action), zap.String("callback_id", r.CallbackID), zap.Int64("portal_id", r.Origin.PortalID))

	sa := []temporal.SearchAttributeUpdate{
		workflows.SAHubSpotPortalID.ValueSet(strconv.FormatInt(r.Origin.PortalID, 10)),
		workflows.SAHubSpotWorkflowID.ValueSet(strconv.FormatInt(r.Context.WorkflowID, 10)),
		workflows.SAHubSpotObjectID.ValueSet(strconv.FormatInt(r.Object.ObjectID, 10)),
		workflows.SAActionType.ValueSet(action),
	}
	if account > 0 {
		sa = append(sa, workflows.SALineAccount.ValueSet(strconv.Itoa(account)))
	}
	if tag != "" {
		sa = append(sa, workflows.SAAnalyticsTag.ValueSet(tag))
	}
	id := workflows.WorkflowID(r.CallbackID)
	run, err := s.opts.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        id,
		TaskQueue: workflows.InteractiveTaskQueue,
		// An open run of this callbackId is reused; a closed one is never run again.
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		// Without this the SDK hands back the closed run as if started; we need to know, to
		// answer with that run's outcome instead of BLOCK.
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes:                    temporal.NewSearchAttributes(sa...),
	}, workflowType, input)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &already):
		s.closedRun(ctx, c, log, action, id)
		return
	case err != nil:
		log.Error("could not start workflow", zap.Error(err))
		s.requests.WithLabelValues(action, "temporal_error").Inc()
		// 503: HubSpot retries with backoff, and the callbackId keeps the retry idempotent.
		s.temporalFailed(c, err, "could not start the workflow; HubSpot will retry")
		return
	}
	log.Info("workflow started (or joined an open run of this callbackId)", zap.String("workflow_id", id), zap.String("run_id", run.GetRunID()))
	s.requests.WithLabelValues(action, "started").Inc()
	c.JSON(http.StatusOK, outputs(map[string]string{
		workflows.FieldExecutionState:     workflows.StateBlock,
		workflows.FieldExpirationDuration: s.opts.BlockExpirationISO,
	}))
}

// closedRun answers a redelivered callbackId whose run has finished with that run's outcome.
func (s *Server) closedRun(ctx context.Context, c *gin.Context, log *zap.Logger, action, id string) {
	s.requests.WithLabelValues(action, "duplicate").Inc()
	var res workflows.SendLineMessageResult
	err := s.opts.Temporal.GetWorkflow(ctx, id, "").Get(ctx, &res)
	var ended *temporal.WorkflowExecutionError
	if err != nil && !errors.As(err, &ended) {
		// Temporal did not answer: not the run's outcome. HubSpot retries a 503, and the
		// retry is still deduplicated.
		log.Error("could not read the closed run's outcome", zap.Error(err))
		s.temporalFailed(c, err, "could not read this execution's earlier outcome; HubSpot will retry")
		return
	}
	if err != nil || res.OutputFields == nil {
		log.Warn("redelivered execution's run did not complete normally", zap.Error(err))
		c.JSON(http.StatusOK, outputs(workflows.Failure("run_failed",
			"this execution was already processed and its run did not complete normally; see workflow "+id)))
		return
	}
	log.Info("redelivered execution answered from its closed run", zap.String("workflow_id", id))
	c.JSON(http.StatusOK, outputs(res.OutputFields))
}
