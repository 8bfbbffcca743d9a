package store

import (
	"context"
	"database/sql"
	"fmt"

	"go.uber.org/zap"
)

// migrations are numbered from 1 by their index + 1 and applied in order, each once, at
// Open. They are forward-only and additive: never edit or remove one that was released;
// add a new one. The SQL is the common subset of SQLite and PostgreSQL.
var migrations = [][]string{
	// 1: portals, accounts, single-use tokens.
	{
		`CREATE TABLE meta (
			name  TEXT PRIMARY KEY,
			value TEXT NOT NULL
		)`,
		`CREATE TABLE portals (
			portal_id     BIGINT PRIMARY KEY,
			access_token  TEXT NOT NULL,   -- encrypted
			refresh_token TEXT NOT NULL,   -- encrypted
			expires_at    BIGINT NOT NULL, -- Unix ms
			scopes        TEXT NOT NULL,   -- space-separated
			status        TEXT NOT NULL,
			installed_at  BIGINT NOT NULL,
			updated_at    BIGINT NOT NULL
		)`,
		`CREATE TABLE accounts (
			number         INTEGER PRIMARY KEY,
			portal_id      BIGINT NOT NULL,
			name           TEXT NOT NULL,
			access_token   TEXT NOT NULL, -- encrypted
			channel_secret TEXT NOT NULL, -- encrypted
			push_rate      INTEGER NOT NULL,
			created_at     BIGINT NOT NULL
		)`,
		`CREATE INDEX accounts_portal ON accounts (portal_id)`,
		// Every account number ever given out, so a removed account's number is never reused
		// (a workflow configured with it must not reach another portal's channel).
		`CREATE TABLE account_numbers (
			number     INTEGER PRIMARY KEY,
			portal_id  BIGINT NOT NULL,
			created_at BIGINT NOT NULL
		)`,
		`CREATE TABLE used_once (
			kind       TEXT NOT NULL,
			id         TEXT NOT NULL,
			expires_at BIGINT NOT NULL,
			PRIMARY KEY (kind, id)
		)`,
		`CREATE INDEX used_once_expires ON used_once (expires_at)`,
	},
	// 2: LINE users: hubline's own LINE user -> HubSpot contact mapping (HubSpot's search is
	// eventually consistent, so "never two contacts for one LINE user" is decided here) and
	// the newest event time applied per user, so events run out of order never undo newer ones.
	{
		`CREATE TABLE line_contacts (
			portal_id  BIGINT NOT NULL,
			account    INTEGER NOT NULL,
			user_id    TEXT NOT NULL,
			contact_id TEXT NOT NULL,
			created_at BIGINT NOT NULL,
			PRIMARY KEY (portal_id, account, user_id)
		)`,
		`CREATE INDEX line_contacts_contact ON line_contacts (portal_id, contact_id)`,
		`CREATE TABLE line_event_times (
			portal_id BIGINT NOT NULL,
			account   INTEGER NOT NULL,
			user_id   TEXT NOT NULL,
			kind      TEXT NOT NULL,
			event_at  BIGINT NOT NULL, -- Unix ms, LINE's event timestamp
			PRIMARY KEY (portal_id, account, user_id, kind)
		)`,
	},
}

// migrateLockID is the PostgreSQL advisory lock that serializes migrations ("hubline").
const migrateLockID = 0x6875626c696e65

// migrate applies the missing migrations in one transaction. Processes starting at once
// take turns: PostgreSQL by an advisory lock, SQLite by its write lock (BEGIN IMMEDIATE);
// the second then finds everything applied.
func (s *Store) migrate(ctx context.Context) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLockID)); err != nil {
				return fmt.Errorf("migration lock: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    INTEGER PRIMARY KEY,
			applied_at BIGINT NOT NULL
		)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		var current int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		if current > len(migrations) {
			// A newer hubline migrated it. Migrations only add, so this one keeps working
			// during a rolling upgrade.
			s.log.Warn("database schema is newer than this hubline: upgrade it", zap.Int("schemaVersion", current), zap.Int("known", len(migrations)))
			return nil
		}
		for v := current + 1; v <= len(migrations); v++ {
			for _, stmt := range migrations[v-1] {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return fmt.Errorf("migration %d: %w", v, err)
				}
			}
			if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`), v, toMillis(now())); err != nil {
				return fmt.Errorf("migration %d: %w", v, err)
			}
			s.log.Info("database migrated", zap.Int("schemaVersion", v))
		}
		return nil
	})
}
