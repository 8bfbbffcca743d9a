package activities

import (
	"context"
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/store"
)

// What a LINE event does to the contact (ApplyLineContactInput.Kind).
const (
	LineKindFollow      = "follow"      // create or update the contact, following
	LineKindNotFriend   = "not_friend"  // a follow whose profile answered 404: only its time is recorded
	LineKindUnfollow    = "unfollow"    // follow status blocked
	LineKindInteraction = "interaction" // last interaction time
)

// Outcomes of ApplyLineContact.
const (
	LineOutcomeCreated   = "created"
	LineOutcomeUpdated   = "updated"
	LineOutcomeStale     = "stale"      // a newer event of the same order was applied already
	LineOutcomeNoContact = "no_contact" // unfollow or interaction of a user without a contact
	LineOutcomeNotFriend = "not_friend"
)

// Contact property values of line_follow_status.
const (
	LineFollowing = "following"
	LineBlocked   = "blocked"
)

// ApplyLineContactInput is one LINE event's effect on the user's contact.
type ApplyLineContactInput struct {
	PortalID int64 // the account's owner portal (0: single-portal mode)
	Account  int
	UserID   string
	// UserIDProperty is the contact property holding the account's LINE user ID.
	UserIDProperty string
	Kind           string
	// Timestamp is the event's LINE timestamp: it applies only if no newer one of the same
	// order (follow/unfollow, or interactions) was applied for the user.
	Timestamp time.Time
	// Profile is the follower's profile (follow only).
	Profile LineProfileOutput
}

// ApplyLineContactOutput says what was done.
type ApplyLineContactOutput struct {
	Outcome   string
	ContactID string
}

// lineProp is a contact property of account n: base for account 1, base_<n> otherwise.
func lineProp(base string, n int) string {
	if n <= 1 {
		return base
	}
	return base + "_" + strconv.Itoa(n)
}

// orderOf is the ordering a kind belongs to: follow and unfollow decide the follow status
// between them; interactions only move the last interaction time.
func orderOf(kind string) string {
	if kind == LineKindInteraction {
		return "interaction"
	}
	return "follow"
}

// ApplyLineContact applies a LINE event to the user's HubSpot contact, under the user's
// lock in hubline's database, so two events of one user (or a LINE Login link) never decide
// at once:
//
//   - an event older than the newest applied one of its order changes nothing (stale);
//   - the contact is the one mapped to the user in the database, else the oldest contact
//     whose LINE user ID property holds the user ID (then mapped), else, for a follow only,
//     a new contact (then mapped): never two contacts for one LINE user;
//   - HubSpot has no idempotency key for creates, so a retried follow first waits
//     SearchSettle, outside the lock, before it searches: a create whose answer was lost is
//     then found by the search instead of made again (see docs/line-webhooks.md for the
//     window that remains). A 409 naming the contact that holds a unique LINE user ID
//     property is taken as that contact.
//
// 429 and 5xx retry (honouring Retry-After); a refused token or request is final.
func (l *LineEvents) ApplyLineContact(ctx context.Context, in ApplyLineContactInput) (ApplyLineContactOutput, error) {
	log := l.logger().With(zap.Int("line_account", in.Account), zap.String("user", UserRef(in.UserID)),
		zap.Int64("portal_id", in.PortalID), zap.String("kind", in.Kind), zap.Int32("attempt", activity.GetInfo(ctx).Attempt))
	if l.Store == nil {
		return ApplyLineContactOutput{}, temporal.NewNonRetryableApplicationError("this worker has no database for the LINE user mapping", ErrNoLineStore, nil)
	}
	switch in.Kind {
	case LineKindFollow, LineKindNotFriend, LineKindUnfollow, LineKindInteraction:
	default:
		return ApplyLineContactOutput{}, temporal.NewNonRetryableApplicationError("unknown LINE event kind "+strconv.Quote(in.Kind), ErrHubSpotRejected, nil)
	}
	if in.Kind != LineKindNotFriend && activity.GetInfo(ctx).Attempt > 1 {
		if err := wait(ctx, l.settle()); err != nil {
			return ApplyLineContactOutput{}, err
		}
	}
	var out ApplyLineContactOutput
	order := orderOf(in.Kind)
	err := l.Store.WithLineUserLock(ctx, in.PortalID, in.Account, in.UserID, func(ctx context.Context) error {
		out = ApplyLineContactOutput{}
		last, err := l.Store.LineEventTime(ctx, in.PortalID, in.Account, in.UserID, order)
		if err != nil {
			return err
		}
		// Equal is applied again: it is this event's own earlier attempt (writes repeat
		// harmlessly) far more likely than another event of the same millisecond.
		if in.Timestamp.Before(last) {
			out.Outcome = LineOutcomeStale
			return nil
		}
		switch in.Kind {
		case LineKindNotFriend:
			out.Outcome = LineOutcomeNotFriend
		case LineKindFollow:
			out, err = l.follow(ctx, in)
		case LineKindUnfollow:
			out, err = l.update(ctx, in, map[string]string{lineProp("line_follow_status", in.Account): LineBlocked})
		case LineKindInteraction:
			out, err = l.update(ctx, in, map[string]string{lineProp("line_last_interaction_at", in.Account): millis(in.Timestamp)})
		}
		if err != nil {
			return err
		}
		return l.Store.SetLineEventTime(ctx, in.PortalID, in.Account, in.UserID, order, in.Timestamp)
	})
	if err != nil {
		return ApplyLineContactOutput{}, lineContactError(log, err)
	}
	log.Info("LINE event applied to the contact", zap.String("outcome", out.Outcome), zap.String("contact_id", out.ContactID))
	return out, nil
}

// errContactNotVisibleYet retries an unfollow or interaction that found no contact on its first
// attempt (see update).
var errContactNotVisibleYet = errors.New("no contact holds this LINE user yet; looking again once HubSpot's search has settled")

func millis(t time.Time) string { return strconv.FormatInt(t.UnixMilli(), 10) }

// find returns the user's contact: the mapped one, else the oldest found by the search
// (then mapped); "" if none.
func (l *LineEvents) find(ctx context.Context, in ApplyLineContactInput) (string, error) {
	id, err := l.Store.LineContact(ctx, in.PortalID, in.Account, in.UserID)
	if err == nil {
		return id, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	ids, err := l.Activities.HubSpot.SearchContactIDs(ctx, in.PortalID, in.UserIDProperty, in.UserID)
	if err != nil || len(ids) == 0 {
		return "", err
	}
	if len(ids) > 1 {
		l.logger().Warn("several contacts hold one LINE user ID; the oldest is used", zap.Int("contacts", len(ids)),
			zap.Int("line_account", in.Account), zap.String("user", UserRef(in.UserID)))
	}
	return ids[0], l.Store.SetLineContact(ctx, in.PortalID, in.Account, in.UserID, ids[0])
}

// forget drops a mapping to a contact HubSpot no longer has (deleted or merged away).
func (l *LineEvents) forget(ctx context.Context, in ApplyLineContactInput, id string) error {
	l.logger().Warn("the LINE user's contact is gone from HubSpot; forgetting it", zap.String("contact_id", id),
		zap.Int("line_account", in.Account), zap.String("user", UserRef(in.UserID)))
	_, err := l.Store.RemoveLineContact(ctx, in.PortalID, in.Account, in.UserID, id)
	return err
}

func (l *LineEvents) follow(ctx context.Context, in ApplyLineContactInput) (ApplyLineContactOutput, error) {
	n := in.Account
	props := map[string]string{
		in.UserIDProperty:                 in.UserID,
		lineProp("line_follow_status", n): LineFollowing,
		lineProp("line_display_name", n):  in.Profile.DisplayName,
		lineProp("line_picture_url", n):   in.Profile.PictureURL,
		lineProp("line_language", n):      in.Profile.Language,
		lineProp("line_followed_at", n):   millis(in.Timestamp),
	}
	hs := l.Activities.HubSpot
	id, err := l.find(ctx, in)
	if err != nil {
		return ApplyLineContactOutput{}, err
	}
	if id != "" {
		err := hs.UpdateContact(ctx, in.PortalID, id, props)
		if !errors.Is(err, hubspot.ErrContactNotFound) {
			return ApplyLineContactOutput{Outcome: LineOutcomeUpdated, ContactID: id}, err
		}
		if err := l.forget(ctx, in, id); err != nil {
			return ApplyLineContactOutput{}, err
		}
	}
	create := map[string]string{}
	for k, v := range props {
		create[k] = v
	}
	if in.Profile.DisplayName != "" {
		create["firstname"] = in.Profile.DisplayName // only on a contact hubline creates
	}
	id, err = hs.CreateContact(ctx, in.PortalID, create)
	var ce *hubspot.ConflictError
	switch {
	case errors.As(err, &ce) && ce.ExistingID != "":
		// A unique LINE user ID property already on a contact the search did not show yet.
		if err := l.Store.SetLineContact(ctx, in.PortalID, in.Account, in.UserID, ce.ExistingID); err != nil {
			return ApplyLineContactOutput{}, err
		}
		return ApplyLineContactOutput{Outcome: LineOutcomeUpdated, ContactID: ce.ExistingID}, hs.UpdateContact(ctx, in.PortalID, ce.ExistingID, props)
	case errors.As(err, &ce):
		return ApplyLineContactOutput{}, temporal.NewApplicationError(ce.Error(), ErrLineContactConflict)
	case err != nil:
		return ApplyLineContactOutput{}, err
	}
	return ApplyLineContactOutput{Outcome: LineOutcomeCreated, ContactID: id}, l.Store.SetLineContact(ctx, in.PortalID, in.Account, in.UserID, id)
}

// update sets props on the user's contact, if it has one.
func (l *LineEvents) update(ctx context.Context, in ApplyLineContactInput, props map[string]string) (ApplyLineContactOutput, error) {
	id, err := l.find(ctx, in)
	if err == nil && id == "" && activity.GetInfo(ctx).Attempt == 1 {
		// HubSpot's search lags: the contact of a follow whose create answer was lost may not
		// show yet, and deciding "no contact" now would make this newer event outrank the
		// follow's retry and leave that contact's status behind. The retry waits SearchSettle.
		return ApplyLineContactOutput{}, errContactNotVisibleYet
	}
	if err != nil || id == "" {
		return ApplyLineContactOutput{Outcome: LineOutcomeNoContact}, err
	}
	err = l.Activities.HubSpot.UpdateContact(ctx, in.PortalID, id, props)
	if errors.Is(err, hubspot.ErrContactNotFound) {
		return ApplyLineContactOutput{Outcome: LineOutcomeNoContact}, l.forget(ctx, in, id)
	}
	return ApplyLineContactOutput{Outcome: LineOutcomeUpdated, ContactID: id}, err
}

// lineContactError classifies a failure: HubSpot's 429/5xx, transport and database errors
// retry (429 after its Retry-After); a refused token or request is final.
func lineContactError(log *zap.Logger, err error) error {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return err
	}
	if t := hubspotErrorType(err); t != "" {
		log.Warn("HubSpot refused the contact write", zap.Error(err))
		return temporal.NewNonRetryableApplicationError(err.Error(), t, nil)
	}
	var ae *hubspot.APIError
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		log.Warn("HubSpot rate limit; retrying", zap.Duration("retry_after", ae.RetryAfter))
		return temporal.NewApplicationErrorWithOptions(err.Error(), "hubspot_unavailable", temporal.ApplicationErrorOptions{NextRetryDelay: ae.RetryAfter})
	}
	log.Warn("contact write failed; retrying", zap.Error(err))
	return err
}
