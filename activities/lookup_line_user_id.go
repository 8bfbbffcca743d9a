package activities

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/logging"
)

// Error types of the LINE user ID lookup.
const (
	ErrNoLineUserID       = "no_line_user_id"
	ErrInvalidLineUserID  = "invalid_line_user_id"
	ErrHubSpotUnavailable = "hubspot_unavailable"
)

// DefaultContactBatchWindow is how long a contact lookup waits for others to share its
// HubSpot batch read.
const DefaultContactBatchWindow = 50 * time.Millisecond

// LookupLineUserIDInput names the contact and the property holding its LINE user ID.
type LookupLineUserIDInput struct {
	PortalID int64
	ObjectID int64
	Property string
}

// LookupLineUserIDOutput is the contact's LINE user ID.
type LookupLineUserIDOutput struct {
	LineUserID string
}

// LookupLineUserID reads the contact's LINE user ID through the CRM API. Concurrent
// lookups within a short window share one batch read (up to 100 contacts), which goes
// through the portal's rate limiter like every HubSpot call.
func (a *Activities) LookupLineUserID(ctx context.Context, in LookupLineUserIDInput) (LookupLineUserIDOutput, error) {
	props, err := a.contactBatcher().get(ctx, in.PortalID, strconv.FormatInt(in.ObjectID, 10), in.Property)
	if err != nil {
		var ae *hubspot.APIError
		if errors.As(err, &ae) {
			switch {
			case ae.Auth():
				return LookupLineUserIDOutput{}, temporal.NewNonRetryableApplicationError(
					ae.Error()+" (the token needs the crm.objects.contacts.read scope)", ErrHubSpotAuth, nil)
			case ae.Retryable():
				return LookupLineUserIDOutput{}, temporal.NewApplicationErrorWithOptions(ae.Error(), ErrHubSpotUnavailable,
					temporal.ApplicationErrorOptions{NextRetryDelay: ae.RetryAfter})
			default:
				return LookupLineUserIDOutput{}, temporal.NewNonRetryableApplicationError(ae.Error(), ErrHubSpotRejected, nil)
			}
		}
		return LookupLineUserIDOutput{}, temporal.NewApplicationError("reading the contact from HubSpot: "+err.Error(), ErrHubSpotUnavailable)
	}
	id := props[in.Property]
	log := a.logger().With(zap.Int64("portal_id", in.PortalID), zap.Int64("object_id", in.ObjectID), zap.String("property", in.Property))
	switch {
	case id == "":
		log.Info("contact has no LINE user ID")
		return LookupLineUserIDOutput{}, temporal.NewNonRetryableApplicationError(
			"the contact has no value in property "+in.Property, ErrNoLineUserID, nil)
	case !line.ValidUserID(id):
		log.Info("contact's LINE user ID is malformed", logging.UserID(id))
		return LookupLineUserIDOutput{}, temporal.NewNonRetryableApplicationError(
			"property "+in.Property+" does not hold a LINE user ID (U followed by 32 hex digits)", ErrInvalidLineUserID, nil)
	}
	return LookupLineUserIDOutput{LineUserID: id}, nil
}

func (a *Activities) contactBatcher() *contactBatcher {
	a.contactsOnce.Do(func() {
		w := a.ContactBatchWindow
		if w <= 0 {
			w = DefaultContactBatchWindow
		}
		a.contacts = newContactBatcher(a.HubSpot.ReadContacts, w)
	})
	return a.contacts
}

// readContactsFunc is hubspot.Client.ReadContacts (tests substitute it).
type readContactsFunc func(ctx context.Context, portalID int64, ids, properties []string) (map[string]map[string]string, error)

// contactBatcher coalesces contact reads of one portal and property into batch reads.
type contactBatcher struct {
	read    readContactsFunc
	window  time.Duration
	mu      sync.Mutex
	pending map[batchKey]*contactBatch
}

type batchKey struct {
	portal   int64
	property string
}

type contactBatch struct {
	ids    []string
	seen   map[string]bool
	done   chan struct{}
	result map[string]map[string]string
	err    error
}

// maxBatch is HubSpot's batch read limit.
const maxBatch = 100

func newContactBatcher(read readContactsFunc, window time.Duration) *contactBatcher {
	return &contactBatcher{read: read, window: window, pending: map[batchKey]*contactBatch{}}
}

// get returns the contact's properties (nil when the contact does not exist).
func (b *contactBatcher) get(ctx context.Context, portal int64, id, property string) (map[string]string, error) {
	k := batchKey{portal, property}
	b.mu.Lock()
	bt := b.pending[k]
	if bt == nil {
		bt = &contactBatch{seen: map[string]bool{}, done: make(chan struct{})}
		b.pending[k] = bt
		time.AfterFunc(b.window, func() { b.flush(k, bt) })
	}
	if !bt.seen[id] {
		bt.seen[id] = true
		bt.ids = append(bt.ids, id)
	}
	if len(bt.ids) >= maxBatch {
		delete(b.pending, k)
		go b.run(k, bt)
	}
	b.mu.Unlock()
	select {
	case <-bt.done:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if bt.err != nil {
		return nil, bt.err
	}
	return bt.result[id], nil
}

// flush sends the batch when its window closes, unless it filled up and left already.
func (b *contactBatcher) flush(k batchKey, bt *contactBatch) {
	b.mu.Lock()
	if b.pending[k] != bt {
		b.mu.Unlock()
		return
	}
	delete(b.pending, k)
	b.mu.Unlock()
	b.run(k, bt)
}

func (b *contactBatcher) run(k batchKey, bt *contactBatch) {
	// The read serves every waiter, so no single caller's cancellation may abort it.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bt.result, bt.err = b.read(ctx, k.portal, bt.ids, []string{k.property})
	close(bt.done)
}
