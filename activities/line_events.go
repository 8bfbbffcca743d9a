package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/store"
)

// LineEvents carries what the LINE webhook activities (LineProfile, ApplyLineContact,
// ForwardLineEvent) need beyond Activities. Register it with the workers of the interactive
// task queue (worker.Group.RegisterLineEvents); its exported methods are the activities.
type LineEvents struct {
	// Activities gives the LINE clients, the HubSpot client, the guarded webhook client and
	// the logger.
	Activities *Activities
	// Store keeps the LINE user -> contact mapping and the newest applied event times.
	Store *store.Store
	// Forwards are HUBLINE_LINE_EVENT_FORWARD_URL/_SECRET(_n) by account number.
	Forwards map[int]LineEventForward
	// SearchSettle is how long a retried follow waits before it searches HubSpot for a
	// contact an earlier attempt may have created (default DefaultNoteSearchSettle, 10 s).
	SearchSettle time.Duration
}

// LineEventForward is where an account's events are forwarded, signed with Secret if set.
type LineEventForward struct {
	URL    string
	Secret string
}

// Error types of the LINE webhook activities.
const (
	// ErrLineContactConflict: the search found no contact, yet HubSpot refused the create
	// with 409 without naming the contact holding the LINE user ID (retried).
	ErrLineContactConflict = "line_contact_conflict"
	// ErrNoLineStore: the worker has no database for the LINE user mapping.
	ErrNoLineStore = "line_store_unavailable"
)

func (l *LineEvents) logger() *zap.Logger {
	if l.Activities != nil {
		return l.Activities.logger()
	}
	return zap.NewNop()
}

func (l *LineEvents) settle() time.Duration {
	if l.SearchSettle > 0 {
		return l.SearchSettle
	}
	return DefaultNoteSearchSettle
}

// UserRef names a LINE user in logs without the ID: the first 8 hex digits of its SHA-256.
func UserRef(userID string) string {
	sum := sha256.Sum256([]byte(userID))
	return hex.EncodeToString(sum[:4])
}

// wait sleeps d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
