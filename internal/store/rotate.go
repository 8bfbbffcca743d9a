package store

import (
	"context"
	"database/sql"
	"fmt"

	"go.uber.org/zap"
)

// sealedColumns is every encrypted column: its table, the column naming the row (the row
// of its additional data, see aad) and a filter for tables where only some rows are
// encrypted. A new encrypted column must be listed here, or rotating HUBLINE_SECRET_KEY
// would leave it under the old key.
var sealedColumns = []struct{ table, key, column, where string }{
	{"meta", "name", "value", "name = 'key_check'"},
	{"portals", "portal_id", "access_token", ""},
	{"portals", "portal_id", "refresh_token", ""},
	{"accounts", "number", "access_token", ""},
	{"accounts", "number", "channel_secret", ""},
}

// reencryptHook, set by tests, runs between reading stale secrets and replacing them.
var reencryptHook func(table, column string)

// rotateLockID is the PostgreSQL advisory lock that serializes re-encryption ("hubkey").
const rotateLockID = 0x6875626b6579

// reencrypt seals with the current key every secret sealed under an old one
// (HUBLINE_SECRET_OLD_KEYS), and fails when a secret is under a key this process does not
// have, so a process never runs unable to read part of the database.
//
// It is safe beside other processes, whatever keys they hold: each secret is replaced only
// if it still holds the ciphertext read (compare and swap), so a token another process
// refreshed meanwhile is never overwritten with the older one; PostgreSQL runs one
// re-encryption at a time (advisory lock), SQLite holds its write lock throughout. A process
// that has only the old key keeps reading what it wrote and refuses to start once the key
// check moved to the new key; see docs/operations.md for the order to roll keys out in.
func (s *Store) reencrypt(ctx context.Context) error {
	if s.keys == nil {
		return nil
	}
	var moved, unknown int
	err := s.tx(ctx, func(tx *sql.Tx) error {
		moved, unknown = 0, 0
		if s.pg {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(rotateLockID)); err != nil {
				return fmt.Errorf("re-encryption lock: %w", err)
			}
		}
		for _, c := range sealedColumns {
			q := fmt.Sprintf(`SELECT %s, %s FROM %s`, c.key, c.column, c.table)
			if c.where != "" {
				q += " WHERE " + c.where
			}
			type row struct {
				key    any
				sealed string
			}
			var stale []row
			rows, err := tx.QueryContext(ctx, q)
			if err != nil {
				return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
			}
			for rows.Next() {
				var r row
				if err := rows.Scan(&r.key, &r.sealed); err != nil {
					rows.Close()
					return fmt.Errorf("read %s.%s: %w", c.table, c.column, err)
				}
				if b, ok := r.key.([]byte); ok {
					r.key = string(b)
				}
				id, ok := sealedKeyID(r.sealed)
				switch {
				case !ok || s.keys.current(r.sealed):
				case !s.keys.knows(id):
					unknown++
				default:
					stale = append(stale, r)
				}
			}
			if err := rows.Close(); err != nil {
				return err
			}
			if err := rows.Err(); err != nil {
				return err
			}
			if len(stale) > 0 && reencryptHook != nil {
				reencryptHook(c.table, c.column)
			}
			for _, r := range stale {
				ad := aad(c.table, c.column, r.key)
				plain, err := s.keys.open(r.sealed, ad)
				if err != nil {
					return err // altered: leave it for the read to report
				}
				sealed, err := s.keys.seal(plain, ad)
				if err != nil {
					return err
				}
				res, err := tx.ExecContext(ctx, s.q(fmt.Sprintf(`UPDATE %s SET %s = ? WHERE %s = ? AND %s = ?`, c.table, c.column, c.key, c.column)),
					sealed, r.key, r.sealed)
				if err != nil {
					return fmt.Errorf("re-encrypt %s.%s: %w", c.table, c.column, err)
				}
				n, err := res.RowsAffected()
				if err != nil {
					return err
				}
				moved += int(n)
			}
		}
		return nil
	})
	if err != nil {
		return s.where(fmt.Errorf("re-encrypt secrets with HUBLINE_SECRET_KEY: %w", err))
	}
	if moved > 0 {
		s.log.Info("re-encrypted stored secrets with HUBLINE_SECRET_KEY", zap.Int("secrets", moved))
	}
	if unknown > 0 {
		return fmt.Errorf("%w: %d stored secrets are encrypted with a key that is neither HUBLINE_SECRET_KEY nor in HUBLINE_SECRET_OLD_KEYS (add the former key to HUBLINE_SECRET_OLD_KEYS)", ErrWrongKey, unknown)
	}
	if len(s.keys.old) > 0 {
		s.log.Info("no stored secret is left under HUBLINE_SECRET_OLD_KEYS: remove them once every process runs with this HUBLINE_SECRET_KEY")
	}
	return nil
}
