package starter

import (
	"context"
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"go.temporal.io/api/serviceerror"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// DefaultMaxInFlight is how many action requests the starter hands to Temporal at once when
// HUBLINE_STARTER_MAX_IN_FLIGHT is unset.
const DefaultMaxInFlight = 256

// admit bounds the action requests waiting on Temporal. Past the bound the starter answers
// 429 overloaded with Retry-After at once, which HubSpot honours: a burst beyond what
// Temporal can take becomes retries later, not requests that pile up, time out and answer
// 503 (HubSpot backs off from those for much longer) while the starter's memory grows.
func (s *Server) admit(c *gin.Context) {
	select {
	case s.inFlight <- struct{}{}:
		defer func() { <-s.inFlight }()
		c.Next()
	default:
		s.overloaded(c)
	}
}

func (s *Server) overloaded(c *gin.Context) {
	c.Header("Retry-After", "1")
	abortError(c, http.StatusTooManyRequests, "overloaded", "hubline is busy; retry after the Retry-After delay")
}

// temporalFailed answers a call to Temporal that failed: 429 overloaded when Temporal is up
// but slower than the request's deadline or out of resources (a retry soon succeeds), 503
// temporal_unavailable when it cannot be reached. HubSpot retries both.
func (s *Server) temporalFailed(c *gin.Context, err error, msg string) {
	if isOverload(err) {
		s.overloaded(c)
		return
	}
	abortError(c, http.StatusServiceUnavailable, "temporal_unavailable", msg)
}

func isOverload(err error) bool {
	var exhausted *serviceerror.ResourceExhausted
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &exhausted) {
		return true
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded, codes.ResourceExhausted:
		return true
	}
	return false
}
