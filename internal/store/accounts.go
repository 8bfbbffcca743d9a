package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Account is a LINE official account (Messaging API channel) stored for a portal.
type Account struct {
	Number        int    // deployment-wide account number (line_account); never reused after removal
	PortalID      int64  // owner
	Name          string // optional label shown in lists and the line_account dropdown
	AccessToken   string // channel access token, encrypted at rest
	ChannelSecret string // encrypted at rest
	PushRate      int    // pushes/s for the whole deployment; 0 = LINE_PUSH_RATE's default
	CreatedAt     time.Time
}

const accountColumns = `number, portal_id, name, access_token, channel_secret, push_rate, created_at`

func (s *Store) scanAccount(row scanner) (Account, error) {
	var (
		a              Account
		access, secret string
		created        int64
	)
	if err := row.Scan(&a.Number, &a.PortalID, &a.Name, &access, &secret, &a.PushRate, &created); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Account{}, ErrNotFound
		}
		return Account{}, err
	}
	var err error
	if a.AccessToken, err = s.keys.open(access, aad("accounts", "access_token", a.Number)); err != nil {
		return Account{}, err
	}
	if a.ChannelSecret, err = s.keys.open(secret, aad("accounts", "channel_secret", a.Number)); err != nil {
		return Account{}, err
	}
	a.CreatedAt = fromMillis(created)
	return a, nil
}

// accountLockID serializes number allocation on PostgreSQL (SQLite's BEGIN IMMEDIATE does).
const accountLockID = migrateLockID + 1

// AddAccount stores a LINE account with the lowest number >= minNumber never used by a
// stored account (callers pass the highest environment account number + 1), and returns it
// with Number and CreatedAt set.
func (s *Store) AddAccount(ctx context.Context, a Account, minNumber int) (Account, error) {
	if a.PortalID <= 0 {
		return Account{}, fmt.Errorf("store: account portal ID %d: want a positive HubSpot portal ID", a.PortalID)
	}
	if a.AccessToken == "" || a.ChannelSecret == "" {
		return Account{}, errors.New("store: a LINE account needs its channel access token and channel secret")
	}
	if a.PushRate < 0 {
		return Account{}, fmt.Errorf("store: push rate %d: want 0 (the default) or more", a.PushRate)
	}
	if s.keys == nil {
		return Account{}, ErrNoKey
	}
	minNumber = max(minNumber, 1)
	a.CreatedAt = now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(accountLockID)); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, s.q(`SELECT number FROM account_numbers WHERE number >= ? ORDER BY number`), minNumber)
		if err != nil {
			return err
		}
		a.Number = minNumber
		for rows.Next() {
			var n int
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return err
			}
			if n != a.Number {
				break // a gap never used
			}
			a.Number++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		access, err := s.keys.seal(a.AccessToken, aad("accounts", "access_token", a.Number))
		if err != nil {
			return err
		}
		secret, err := s.keys.seal(a.ChannelSecret, aad("accounts", "channel_secret", a.Number))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO account_numbers (number, portal_id, created_at) VALUES (?, ?, ?)`),
			a.Number, a.PortalID, toMillis(a.CreatedAt)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q(`INSERT INTO accounts (`+accountColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?)`),
			a.Number, a.PortalID, a.Name, access, secret, a.PushRate, toMillis(a.CreatedAt))
		return err
	})
	if err != nil {
		return Account{}, fmt.Errorf("add account: %w", err)
	}
	return a, nil
}

// Account returns a stored account with its secrets, or ErrNotFound.
func (s *Store) Account(ctx context.Context, number int) (Account, error) {
	a, err := s.scanAccount(s.db.QueryRowContext(ctx, s.q(`SELECT `+accountColumns+` FROM accounts WHERE number = ?`), number))
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Account{}, fmt.Errorf("read account %d: %w", number, err)
	}
	return a, err
}

// Accounts returns every stored account, ordered by Number.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY number`)
	if err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		a, err := s.scanAccount(rows)
		if err != nil {
			return nil, fmt.Errorf("read accounts: %w", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read accounts: %w", err)
	}
	return out, nil
}

// RemoveAccount deletes a stored account; its number is never given out again.
// ErrNotFound if there is no such account.
func (s *Store) RemoveAccount(ctx context.Context, number int) error {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM accounts WHERE number = ?`), number)
	if err != nil {
		return fmt.Errorf("remove account %d: %w", number, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotFound
	}
	return nil
}
