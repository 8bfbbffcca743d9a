// Package activities holds every side effect hubline performs: LINE pushes and HubSpot
// callback completions and timeline events. One struct carries the clients, so tests point
// them at local HTTP fakes; one file per activity.
package activities

import (
	"context"
	"errors"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/webhook"
)

// Error types carried by non-retryable application errors; workflows map them to the
// error_code HubSpot sees.
const (
	ErrLineInvalid      = "line_rejected"
	ErrLineAuth         = "line_auth"
	ErrLineMonthlyLimit = "line_monthly_limit"
	ErrLineRateLimited  = "line_rate_limited"
	ErrLineUnavailable  = "line_unavailable"
	ErrUnknownAccount   = "unknown_line_account"
	ErrExpired          = "expired"
	ErrHubSpotAuth      = "hubspot_auth"
	ErrHubSpotRejected  = "hubspot_rejected"
	// ErrHubSpotNotConnected: hubline holds no usable token for the portal (never installed,
	// revoked, or outside HUBLINE_ALLOWED_PORTALS). Final: retrying cannot help until the
	// portal installs the app again.
	ErrHubSpotNotConnected = "hubspot_not_connected"
)

// Activities is registered once with the worker; its methods are the activities.
type Activities struct {
	// LINE holds one client per account number (1, 2, ...).
	LINE map[int]*line.Client
	// Accounts finds the accounts LINE does not hold (stored accounts, also those added
	// while the worker runs); nil: LINE only.
	Accounts LineAccounts
	// HubSpot makes every HubSpot API call through its per-portal limiter.
	HubSpot *hubspot.Client
	// TimelineEventTemplateID is the app's timeline event template (Timeline events).
	TimelineEventTemplateID string
	// Timeline is how deliveries are recorded on the contact: TimelineNotes,
	// TimelineEvents or TimelineOff; "" means events when TimelineEventTemplateID is set,
	// else notes (HUBLINE_TIMELINE).
	Timeline string
	// NoteSearchSettle is how long a retried note write waits before searching for the
	// note an earlier attempt may have created (default DefaultNoteSearchSettle).
	NoteSearchSettle time.Duration
	Logger           *zap.Logger
	// Now is the clock for deadline checks (tests move it).
	Now func() time.Time

	// Webhook sends Send Data requests through the SSRF guard.
	Webhook *webhook.Client
	// ContactBatchWindow is how long a LINE user ID lookup waits for others to share one
	// HubSpot batch read (default DefaultContactBatchWindow).
	ContactBatchWindow time.Duration

	contactsOnce sync.Once
	contacts     *contactBatcher

	// LinePushRate is pushes per second per LINE account for queue batches (LINE_PUSH_RATE,
	// _2, ...; unset accounts use DefaultLinePushRate).
	LinePushRate map[int]int
	lineLimits   lineLimiters

	// Temporal and DataConverter let queue activities wait for and read back LineBatch
	// runs (AwaitLineBatch, LoadLineBatch); DataConverter is the client's (nil: default).
	Temporal      client.Client
	DataConverter converter.DataConverter

	// Metrics counts LINE pushes and HubSpot callbacks (nil: not counted).
	Metrics *metrics.Metrics
}

func (a *Activities) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *Activities) logger() *zap.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return zap.NewNop()
}

// hubspotErrorType classifies a HubSpot failure: "" means retry.
func hubspotErrorType(err error) string {
	if errors.Is(err, hubspot.ErrNotConnected) {
		return ErrHubSpotNotConnected
	}
	var ae *hubspot.APIError
	if !errors.As(err, &ae) {
		return ""
	}
	switch {
	case ae.Auth():
		return ErrHubSpotAuth
	case ae.Retryable():
		return ""
	default:
		return ErrHubSpotRejected
	}
}

// push sends one LINE push request and counts it (hubline_line_pushes_total and the latency
// histogram), so single sends and queue batches are measured alike.
func (a *Activities) push(ctx context.Context, account int, c *line.Client, r line.PushRequest) (line.PushResult, error) {
	start := time.Now()
	res, err := c.Push(ctx, r)
	a.Metrics.LinePush(account, pushOutcome(res, err), time.Since(start))
	return res, err
}

// pushOutcome names a push answer for the outcome label.
func pushOutcome(res line.PushResult, err error) string {
	if err == nil {
		if res.Duplicate {
			return "duplicate"
		}
		return "accepted"
	}
	var ae *line.APIError
	if !errors.As(err, &ae) {
		return "no_answer"
	}
	switch ae.Kind {
	case line.KindInvalid:
		return "invalid"
	case line.KindAuth:
		return "auth"
	case line.KindRateLimited:
		return "rate_limited"
	case line.KindMonthlyLimit:
		return "monthly_limit"
	default:
		return "server_error"
	}
}
