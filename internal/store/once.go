package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// UseOnce records a single-use token (OAuth state nonce, LINE Login state): true the first
// time id is seen for kind, false on any later call while its row lives. Rows past their
// expires are purged, after which id would count as new again: callers must also reject
// tokens past their own expiry (e.g. one signed into the state).
func (s *Store) UseOnce(ctx context.Context, kind, id string, expires time.Time) (first bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM used_once WHERE expires_at < ?`), toMillis(now())); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO used_once (kind, id, expires_at) VALUES (?, ?, ?) ON CONFLICT (kind, id) DO NOTHING`),
			kind, id, toMillis(expires))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		first = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("use-once %s: %w", kind, err)
	}
	return first, nil
}
