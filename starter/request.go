package starter

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/actionreq"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/workflows"
)

// actionRequest is HubSpot's custom workflow action execution request, decoded strictly
// (exact field names, one JSON object: see internal/actionreq).
type actionRequest struct {
	actionreq.Request

	// Flattened to strings: HubSpot sends numbers for number properties and null for unset ones.
	props  map[string]string
	inputs map[string]string
}

// input returns an input field as trimmed text ("" when absent).
func (r *actionRequest) input(name string) string { return strings.TrimSpace(r.inputs[name]) }

// actionDef is what the starter knows of an action route: its ActionType and the input
// fields its hubspot/*.action.json definition declares (a test keeps them equal).
type actionDef struct {
	action string
	inputs []string
}

var lineInputs = append([]string{InputLineUserID, InputLineAccount, InputAnalyticsTag}, MessageInputs...)

// allInputs are the input fields of all the actions, sorted.
var allInputs = func() []string {
	var all []string
	for _, d := range actionDefs {
		all = append(all, d.inputs...)
	}
	slices.Sort(all)
	return slices.Compact(all)
}()

var actionDefs = map[string]actionDef{
	"/actions/send-line-message":       {workflows.ActionSendLineMessage, lineInputs},
	"/actions/send-line-message-v2":    {workflows.ActionSendLineMessageV2, slices.DeleteFunc(slices.Clone(lineInputs), func(s string) bool { return s == InputLineUserID })},
	"/actions/send-line-message-queue": {workflows.ActionSendLineMessageQueue, append(slices.Clone(lineInputs), InputWaitForDelivery)},
	"/actions/send-data":               {workflows.ActionSendData, []string{InputWebhookURL, InputData, InputRequestSignature}},
	"/actions/create-line-link":        {ActionCreateLineLink, []string{InputLineAccount}},
	"/actions/set-line-rich-menu":      {workflows.ActionSetLineRichMenu, setLineRichMenuInputs},
}

const bodyKey = "hubline.body"

// CodeInvalidInput answers an input problem without a code of its own, such as an input
// field the action does not define.
const CodeInvalidInput = "invalid_input"

// HTTP error codes of requests HubSpot would never send.
const (
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeCrossOriginRefused   = "cross_origin_refused"
)

// fromHubSpotLike refuses, before the body is read, requests HubSpot would never send.
//
// Only application/json is accepted: a web page can POST text/plain or a form to any
// address without the browser asking first, but not JSON. And while signatures are off
// (dev, or HUBLINE_INSECURE_SKIP_SIGNATURE) nothing else proves a request came from
// HubSpot, so a request with a browser's Origin or Sec-Fetch-Site header (HubSpot sends
// neither) is refused: otherwise any page a developer opens could make dev send LINE
// messages or reach loopback services through Send Data.
func (s *Server) fromHubSpotLike(c *gin.Context) bool {
	ct := c.GetHeader("Content-Type")
	mt, params, err := mime.ParseMediaType(ct)
	if cs, ok := params["charset"]; err != nil || mt != "application/json" || (ok && !strings.EqualFold(cs, "utf-8")) {
		abortError(c, http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
			"Content-Type must be application/json (charset utf-8 if given), not "+strconv.Quote(truncate(ct, 100)))
		return false
	}
	if s.opts.ClientSecret == "" && (c.GetHeader("Origin") != "" || c.GetHeader("Sec-Fetch-Site") != "") {
		s.log.Warn("refused a browser's request while signatures are off", zap.String("path", c.Request.URL.Path))
		abortError(c, http.StatusForbidden, CodeCrossOriginRefused,
			"requests from web pages (with an Origin or Sec-Fetch-Site header) are refused while HubSpot signatures are not checked")
		return false
	}
	return true
}

// truncate shortens s to at most n bytes of valid UTF-8.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}

// readVerifiedBody reads the body under the size cap and checks HubSpot's signature over
// the raw bytes before anything parses them.
func (s *Server) readVerifiedBody(c *gin.Context) {
	if !s.fromHubSpotLike(c) {
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			abortError(c, http.StatusRequestEntityTooLarge, "body_too_large", fmt.Sprintf("request body over %d bytes", MaxBodyBytes))
			return
		}
		abortError(c, http.StatusBadRequest, "unreadable_body", "could not read the request body")
		return
	}
	if s.opts.ClientSecret != "" {
		// The signature covers the URI exactly as HubSpot called it: the public base URL plus
		// the raw request URI (not the decoded path).
		uri := s.opts.PublicURL + c.Request.RequestURI
		policy := hubspot.SignaturePolicy{RequireV3: s.opts.RequireSignatureV3}
		if err := policy.Verify(s.opts.ClientSecret, c.Request.Method, uri, body, c.Request.Header, s.opts.Now()); err != nil {
			s.log.Warn("rejected unsigned or badly signed request", zap.String("path", c.Request.URL.Path), zap.Error(err))
			abortError(c, http.StatusUnauthorized, hubspot.SignatureErrorCode(err), err.Error())
			return
		}
	}
	c.Set(bodyKey, body)
	c.Next()
}

// decodeAction parses and checks the request envelope. A body that is not a HubSpot
// action execution at all is a 400. An input field none of hubline's actions defines (a typo
// such as lineUserId, or message_4) is FAIL_CONTINUE invalid_input, naming it: ignoring it
// would answer a misleading missing-input error, or silently drop what the user set. An
// input of another of the actions is tolerated (a workflow moved from v2 to v1, or the
// other way, may still carry one) and ignored.
func (s *Server) decodeAction(c *gin.Context) (*actionRequest, bool) {
	req, err := actionreq.Decode(c.MustGet(bodyKey).([]byte))
	if err != nil {
		var de *actionreq.Error
		if !errors.As(err, &de) {
			de = &actionreq.Error{Code: actionreq.CodeInvalidJSON, Message: err.Error()}
		}
		abortError(c, http.StatusBadRequest, de.Code, de.Message)
		return nil, false
	}
	r := &actionRequest{Request: *req, props: req.Props, inputs: req.Inputs}
	if def, ok := actionDefs[c.FullPath()]; ok {
		if err := unknownInputs(r, allInputs); err != nil {
			s.reject(c, def.action, r, err)
			return nil, false
		}
	}
	return r, true
}

// unknownInputs names the input fields that are not among known, in a bounded message
// (the names come from the request).
func unknownInputs(r *actionRequest, known []string) error {
	var unknown []string
	for k := range r.InputFields {
		if !slices.Contains(known, k) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	slices.Sort(unknown)
	const maxNames, maxName = 3, 40
	var names []string
	for i, k := range unknown {
		if i == maxNames {
			names = append(names, fmt.Sprintf("and %d more", len(unknown)-maxNames))
			break
		}
		names = append(names, strconv.Quote(truncate(k, maxName)))
	}
	what := "is not an input field"
	if len(unknown) > 1 {
		what = "are not input fields"
	}
	return &inputError{CodeInvalidInput, fmt.Sprintf("inputFields: %s %s of hubline's actions (their inputs: %s)",
		strings.Join(names, ", "), what, strings.Join(known, ", "))}
}
