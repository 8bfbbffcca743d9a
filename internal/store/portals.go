package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Portal statuses.
const (
	StatusConnected = "connected"
	StatusRevoked   = "revoked"
)

// Portal is a HubSpot portal (account) that installed hubline, with its OAuth tokens.
type Portal struct {
	PortalID     int64
	AccessToken  string    // encrypted at rest
	RefreshToken string    // encrypted at rest
	ExpiresAt    time.Time // access token expiry
	Scopes       []string
	Status       string // "connected" or "revoked"
	InstalledAt  time.Time
	UpdatedAt    time.Time
}

const portalColumns = `portal_id, access_token, refresh_token, expires_at, scopes, status, installed_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func (s *Store) scanPortal(row scanner) (Portal, error) {
	var (
		p                           Portal
		access, refresh, scopes     string
		expires, installed, updated int64
	)
	if err := row.Scan(&p.PortalID, &access, &refresh, &expires, &scopes, &p.Status, &installed, &updated); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Portal{}, ErrNotFound
		}
		return Portal{}, err
	}
	var err error
	if p.AccessToken, err = s.keys.open(access, aad("portals", "access_token", p.PortalID)); err != nil {
		return Portal{}, err
	}
	if p.RefreshToken, err = s.keys.open(refresh, aad("portals", "refresh_token", p.PortalID)); err != nil {
		return Portal{}, err
	}
	if scopes != "" {
		p.Scopes = strings.Fields(scopes)
	}
	p.ExpiresAt, p.InstalledAt, p.UpdatedAt = fromMillis(expires), fromMillis(installed), fromMillis(updated)
	return p, nil
}

// writePortal inserts or replaces p's row.
func (s *Store) writePortal(ctx context.Context, ex interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, p Portal) error {
	access, err := s.keys.seal(p.AccessToken, aad("portals", "access_token", p.PortalID))
	if err != nil {
		return err
	}
	refresh, err := s.keys.seal(p.RefreshToken, aad("portals", "refresh_token", p.PortalID))
	if err != nil {
		return err
	}
	_, err = ex.ExecContext(ctx, s.q(`INSERT INTO portals (`+portalColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (portal_id) DO UPDATE SET access_token = excluded.access_token, refresh_token = excluded.refresh_token,
			expires_at = excluded.expires_at, scopes = excluded.scopes, status = excluded.status,
			installed_at = excluded.installed_at, updated_at = excluded.updated_at`),
		p.PortalID, access, refresh, toMillis(p.ExpiresAt), strings.Join(p.Scopes, " "), p.Status,
		toMillis(p.InstalledAt), toMillis(p.UpdatedAt))
	return err
}

// PutPortal stores a portal's tokens at install or reinstall: it inserts or replaces the
// row, with Status "connected". A zero InstalledAt means now.
func (s *Store) PutPortal(ctx context.Context, p Portal) error {
	if p.PortalID <= 0 {
		return fmt.Errorf("store: portal ID %d: want a positive HubSpot portal ID", p.PortalID)
	}
	p.Status = StatusConnected
	p.UpdatedAt = now()
	if p.InstalledAt.IsZero() {
		p.InstalledAt = p.UpdatedAt
	}
	if err := s.writePortal(ctx, s.db, p); err != nil {
		return fmt.Errorf("store portal %d: %w", p.PortalID, err)
	}
	return nil
}

// Portal returns a portal with its tokens, or ErrNotFound.
func (s *Store) Portal(ctx context.Context, portalID int64) (Portal, error) {
	p, err := s.scanPortal(s.db.QueryRowContext(ctx, s.q(`SELECT `+portalColumns+` FROM portals WHERE portal_id = ?`), portalID))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Portal{}, fmt.Errorf("read portal %d: %w", portalID, err)
	}
	return p, err
}

// Portals returns every portal, ordered by ID.
func (s *Store) Portals(ctx context.Context) ([]Portal, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+portalColumns+` FROM portals ORDER BY portal_id`)
	if err != nil {
		return nil, fmt.Errorf("read portals: %w", err)
	}
	defer rows.Close()
	var out []Portal
	for rows.Next() {
		p, err := s.scanPortal(rows)
		if err != nil {
			return nil, fmt.Errorf("read portals: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read portals: %w", err)
	}
	return out, nil
}

// WithPortalLock runs fn holding an exclusive lock on the portal's row, across processes
// (PostgreSQL: SELECT ... FOR UPDATE in a transaction; SQLite: BEGIN IMMEDIATE, which locks
// the whole database), so only one token refresh runs at a time per portal. fn sees the
// current row; if it returns changed=true, next is written (its PortalID is kept, UpdatedAt
// set) and returned; otherwise the current row is returned. An error from fn is returned as
// is, with the current row, and nothing is written. ErrNotFound if there is no such portal.
//
// fn must not write through the Store (on SQLite that would wait for its own lock): return
// the new row instead, e.g. with Status "revoked".
func (s *Store) WithPortalLock(ctx context.Context, portalID int64, fn func(ctx context.Context, p Portal) (next Portal, changed bool, err error)) (Portal, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Portal{}, fmt.Errorf("lock portal %d: %w", portalID, err)
	}
	defer tx.Rollback()
	query := `SELECT ` + portalColumns + ` FROM portals WHERE portal_id = ?`
	if s.pg {
		query += ` FOR UPDATE`
	}
	cur, err := s.scanPortal(tx.QueryRowContext(ctx, s.q(query), portalID))
	if errors.Is(err, ErrNotFound) {
		return Portal{}, ErrNotFound
	}
	if err != nil {
		return Portal{}, fmt.Errorf("lock portal %d: %w", portalID, err)
	}
	next, changed, err := fn(ctx, cur)
	if err != nil {
		return cur, err
	}
	if !changed {
		return cur, tx.Commit()
	}
	next.PortalID = portalID
	next.UpdatedAt = now()
	if next.InstalledAt.IsZero() {
		next.InstalledAt = cur.InstalledAt
	}
	if next.Status == "" {
		next.Status = cur.Status
	}
	if err := s.writePortal(ctx, tx, next); err != nil {
		return cur, fmt.Errorf("store portal %d: %w", portalID, err)
	}
	if err := tx.Commit(); err != nil {
		return cur, fmt.Errorf("store portal %d: %w", portalID, err)
	}
	return next, nil
}

// MarkPortalRevoked sets a portal's Status to "revoked" (its tokens are kept until
// reinstall or RemovePortal). ErrNotFound if there is no such portal.
func (s *Store) MarkPortalRevoked(ctx context.Context, portalID int64) error {
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE portals SET status = ?, updated_at = ? WHERE portal_id = ?`), StatusRevoked, toMillis(now()), portalID)
	if err != nil {
		return fmt.Errorf("revoke portal %d: %w", portalID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}

// RemovePortal deletes a portal's row (its tokens) and the LINE accounts it owns. Their
// account numbers stay used. ErrNotFound if there was neither.
func (s *Store) RemovePortal(ctx context.Context, portalID int64) error {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, table := range []string{"accounts", "portals"} {
			res, err := tx.ExecContext(ctx, s.q(`DELETE FROM `+table+` WHERE portal_id = ?`), portalID)
			if err != nil {
				return err
			}
			m, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += m
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove portal %d: %w", portalID, err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}
