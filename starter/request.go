package starter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
)

// actionRequest is HubSpot's custom workflow action execution request.
type actionRequest struct {
	CallbackID string `json:"callbackId"`
	Origin     struct {
		PortalID                int64 `json:"portalId"`
		ActionDefinitionID      int64 `json:"actionDefinitionId"`
		ActionDefinitionVersion int64 `json:"actionDefinitionVersion"`
	} `json:"origin"`
	Context struct {
		Source     string `json:"source"`
		WorkflowID int64  `json:"workflowId"`
	} `json:"context"`
	Object struct {
		ObjectID   int64          `json:"objectId"`
		ObjectType string         `json:"objectType"`
		Properties map[string]any `json:"properties"`
	} `json:"object"`
	InputFields map[string]any `json:"inputFields"`

	// Flattened to strings: HubSpot sends numbers for number properties and null for unset ones.
	props  map[string]string
	inputs map[string]string
}

// input returns an input field as trimmed text ("" when absent).
func (r *actionRequest) input(name string) string { return strings.TrimSpace(r.inputs[name]) }

const bodyKey = "hubline.body"

// readVerifiedBody reads the body under the size cap and checks HubSpot's signature over
// the raw bytes before anything parses them.
func (s *Server) readVerifiedBody(c *gin.Context) {
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

// decodeAction parses and checks the request envelope. Failures are 400s: the request is
// not a HubSpot action execution at all.
func decodeAction(c *gin.Context) (*actionRequest, bool) {
	body := c.MustGet(bodyKey).([]byte)
	var r actionRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&r); err != nil {
		abortError(c, http.StatusBadRequest, "invalid_json", "request body is not a valid JSON action request: "+err.Error())
		return nil, false
	}
	switch {
	case r.CallbackID == "":
		abortError(c, http.StatusBadRequest, "missing_callback_id", "callbackId is required")
		return nil, false
	case len(r.CallbackID) > 255 || strings.IndexFunc(r.CallbackID, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) >= 0:
		abortError(c, http.StatusBadRequest, "invalid_callback_id", "callbackId must be at most 255 printable characters without spaces")
		return nil, false
	}
	r.props = flatten(r.Object.Properties)
	r.inputs = flatten(r.InputFields)
	return &r, true
}

func flatten(m map[string]any) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		switch v := v.(type) {
		case nil:
		case string:
			out[k] = v
		case json.Number:
			out[k] = v.String()
		case bool:
			out[k] = strconv.FormatBool(v)
		default:
			b, _ := json.Marshal(v)
			out[k] = string(b)
		}
	}
	return out
}
