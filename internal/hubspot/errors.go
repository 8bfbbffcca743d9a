package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ErrCallbackNotPending means HubSpot no longer waits for this callback: it was
// already completed or it expired. Callers should treat it as done.
var ErrCallbackNotPending = errors.New("hubspot: callback is not pending (already completed or expired)")

// maxErrorBody caps how much of an error response we read; HubSpot error
// bodies are small and we never want a misbehaving proxy to exhaust memory.
const maxErrorBody = 64 << 10

// APIError is a non-success answer from the HubSpot API.
type APIError struct {
	StatusCode    int
	Category      string
	Message       string
	CorrelationID string
	PolicyName    string
	// RetryAfter is how long to wait before retrying, when known (429).
	RetryAfter time.Duration
	// Op names the client operation, e.g. "complete callback".
	Op string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "hubspot %s: HTTP %d", e.Op, e.StatusCode)
	if e.Category != "" {
		b.WriteString(" " + e.Category)
	}
	switch {
	case e.StatusCode == http.StatusUnauthorized:
		b.WriteString(": the access token was rejected (check HUBSPOT_ACCESS_TOKEN)")
	case e.StatusCode == http.StatusForbidden && strings.Contains(e.Op, "timeline"):
		b.WriteString(": HubSpot only lets OAuth access tokens (not private-app tokens) create timeline events")
	case e.StatusCode == http.StatusForbidden && strings.Contains(e.Op, "note"):
		b.WriteString(": notes need the crm.objects.contacts.write and crm.objects.contacts.read scopes")
	case e.StatusCode == http.StatusTooManyRequests:
		b.WriteString(": rate limited")
		if e.PolicyName != "" {
			b.WriteString(" (" + e.PolicyName + ")")
		}
		if e.RetryAfter > 0 {
			b.WriteString(", retry after " + e.RetryAfter.String())
		}
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	if e.CorrelationID != "" {
		b.WriteString(" (correlationId " + e.CorrelationID + ")")
	}
	return b.String()
}

// Retryable reports whether the same request may succeed later.
func (e *APIError) Retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// Auth reports whether the token was rejected or lacks permission.
func (e *APIError) Auth() bool {
	return e.StatusCode == http.StatusUnauthorized || e.StatusCode == http.StatusForbidden
}

// Retryable reports whether err is worth retrying: API errors say so
// themselves, ErrCallbackNotPending never is, and anything else returned by
// the client (network failures, timeouts) is, except cancellation.
func Retryable(err error) bool {
	// A cancelled context means the caller gave up; a deadline may just be
	// this attempt's timeout, so that stays retryable.
	if err == nil || errors.Is(err, ErrCallbackNotPending) || errors.Is(err, context.Canceled) {
		return false
	}
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Retryable()
	}
	var se *SignatureError
	return !errors.As(err, &se)
}

// errorBody is HubSpot's JSON error shape.
type errorBody struct {
	Status        string `json:"status"`
	Message       string `json:"message"`
	CorrelationID string `json:"correlationId"`
	Category      string `json:"category"`
	ErrorType     string `json:"errorType"`
	PolicyName    string `json:"policyName"`
}

// maxMessage bounds the server message we keep in errors and logs.
const maxMessage = 500

func newAPIError(op string, status int, body []byte) *APIError {
	e := &APIError{Op: op, StatusCode: status}
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		e.Message, e.CorrelationID, e.Category, e.PolicyName = eb.Message, eb.CorrelationID, eb.Category, eb.PolicyName
		if e.Category == "" {
			e.Category = eb.ErrorType
		}
	} else if s := strings.TrimSpace(string(body)); s != "" && !strings.HasPrefix(s, "<") {
		// Non-JSON (e.g. a proxy's plain-text answer); HTML pages are noise.
		e.Message = s
	}
	if len(e.Message) > maxMessage {
		e.Message = e.Message[:maxMessage] + "..."
	}
	return e
}

func readCapped(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, limit))
}

// retryAfterHeader parses a Retry-After given in seconds; HubSpot does not
// document one for API 429s, but a proxy in front of it might send it.
func retryAfterHeader(h http.Header) time.Duration {
	if s := h.Get("Retry-After"); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return 0
}
