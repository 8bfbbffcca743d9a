package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"
)

// ErrLineUserMapped: the LINE user is already mapped to another contact.
var ErrLineUserMapped = errors.New("store: LINE user already mapped to another contact")

// lineLockClass is the first key of the PostgreSQL advisory locks WithLineUserLock takes
// ("LINE"); the two-key lock space never overlaps the one-key locks of migrate and AddAccount.
const lineLockClass = 0x4c494e45

// lockedTxKey carries WithLineUserLock's transaction to the store methods fn calls, so they
// read and write under the lock (on SQLite another connection would wait for it forever).
type lockedTxKey struct{}

type lockedTx struct {
	s  *Store
	tx *sql.Tx
}

type execQuerier interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

// conn is the transaction of an enclosing WithLineUserLock of this store, or the database.
func (s *Store) conn(ctx context.Context) execQuerier {
	if l, ok := ctx.Value(lockedTxKey{}).(*lockedTx); ok && l.s == s {
		return l.tx
	}
	return s.db
}

// WithLineUserLock runs fn holding an exclusive lock for (portalID, account, userID) across
// processes, so two events or a webhook and a LINE Login link for one LINE user never decide
// concurrently. LineContact, SetLineContact, LineEventTime and SetLineEventTime called with
// fn's ctx run in the lock's transaction: their writes are committed when fn returns nil and
// rolled back when it returns an error. fn must not call other locking store methods.
//
// PostgreSQL takes an advisory lock on a hash of the key (a collision only serializes two
// users); SQLite holds the database's write lock (BEGIN IMMEDIATE), so keep fn short: other
// writers wait for it (up to a minute).
func (s *Store) WithLineUserLock(ctx context.Context, portalID int64, account int, userID string, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(lockedTxKey{}).(*lockedTx); ok {
		return errors.New("store: WithLineUserLock called inside WithLineUserLock")
	}
	if userID == "" {
		return errors.New("store: LINE user lock: empty user ID")
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("lock LINE user: %w", err)
	}
	defer tx.Rollback()
	if s.pg {
		h := fnv.New32a()
		h.Write([]byte(strconv.FormatInt(portalID, 10) + "/" + strconv.Itoa(account) + "/" + userID))
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, int32(lineLockClass), int32(h.Sum32())); err != nil {
			return fmt.Errorf("lock LINE user: %w", err)
		}
	}
	if err := fn(context.WithValue(ctx, lockedTxKey{}, &lockedTx{s: s, tx: tx})); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("lock LINE user: commit: %w", err)
	}
	return nil
}

// LineContact returns the HubSpot contact ID mapped to the LINE user, or ErrNotFound.
func (s *Store) LineContact(ctx context.Context, portalID int64, account int, userID string) (contactID string, err error) {
	err = s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT contact_id FROM line_contacts WHERE portal_id = ? AND account = ? AND user_id = ?`),
		portalID, account, userID).Scan(&contactID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read LINE contact: %w", err)
	}
	return contactID, nil
}

// SetLineContact maps the LINE user to contactID (insert, or no-op if already so mapped;
// ErrLineUserMapped if mapped to another contact: callers check LineContact first under the
// lock).
func (s *Store) SetLineContact(ctx context.Context, portalID int64, account int, userID, contactID string) error {
	if userID == "" || contactID == "" {
		return errors.New("store: LINE contact: empty user or contact ID")
	}
	c := s.conn(ctx)
	if _, err := c.ExecContext(ctx, s.q(`INSERT INTO line_contacts (portal_id, account, user_id, contact_id, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (portal_id, account, user_id) DO NOTHING`), portalID, account, userID, contactID, toMillis(now())); err != nil {
		return fmt.Errorf("store LINE contact: %w", err)
	}
	cur, err := s.LineContact(ctx, portalID, account, userID)
	if err != nil {
		return fmt.Errorf("store LINE contact: %w", err)
	}
	if cur != contactID {
		return fmt.Errorf("%w (contact %s)", ErrLineUserMapped, cur)
	}
	return nil
}

// RemoveLineContact deletes the LINE user's mapping if it is to contactID (such as a contact
// deleted in HubSpot); false if there was no such mapping.
func (s *Store) RemoveLineContact(ctx context.Context, portalID int64, account int, userID, contactID string) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, s.q(`DELETE FROM line_contacts WHERE portal_id = ? AND account = ? AND user_id = ? AND contact_id = ?`),
		portalID, account, userID, contactID)
	if err != nil {
		return false, fmt.Errorf("remove LINE contact: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("remove LINE contact: %w", err)
	}
	return n > 0, nil
}

// LineEventTime returns the newest LINE event time recorded for the user and kind (such as
// "follow" for follow and unfollow), or the zero time.
func (s *Store) LineEventTime(ctx context.Context, portalID int64, account int, userID, kind string) (time.Time, error) {
	var ms int64
	err := s.conn(ctx).QueryRowContext(ctx, s.q(`SELECT event_at FROM line_event_times WHERE portal_id = ? AND account = ? AND user_id = ? AND kind = ?`),
		portalID, account, userID, kind).Scan(&ms)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read LINE event time: %w", err)
	}
	return fromMillis(ms), nil
}

// SetLineEventTime records t for the user and kind unless a newer time is recorded.
func (s *Store) SetLineEventTime(ctx context.Context, portalID int64, account int, userID, kind string, t time.Time) error {
	_, err := s.conn(ctx).ExecContext(ctx, s.q(`INSERT INTO line_event_times (portal_id, account, user_id, kind, event_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (portal_id, account, user_id, kind) DO UPDATE SET event_at = excluded.event_at
		WHERE excluded.event_at > line_event_times.event_at`), portalID, account, userID, kind, t.UnixMilli())
	if err != nil {
		return fmt.Errorf("store LINE event time: %w", err)
	}
	return nil
}
