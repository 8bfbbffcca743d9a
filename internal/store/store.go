// Package store is hubline's database: the OAuth tokens of the HubSpot portals that
// installed the app, the LINE accounts they own and single-use tokens. It is embedded SQLite
// in the data directory by default and PostgreSQL when HUBLINE_DATABASE_URL is set. Tokens
// and channel secrets are encrypted at rest with HUBLINE_SECRET_KEY (see docs/data.md).
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	"go.uber.org/zap"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// DefaultDataDir is HUBLINE_DATA_DIR's default.
const DefaultDataDir = ".hubline"

// DBFile is the SQLite database's name in the data directory.
const DBFile = "hubline.db"

// ErrNotFound: no such portal or account.
var ErrNotFound = errors.New("store: not found")

// Store is hubline's database. It is safe for concurrent use, and several processes may
// open the same database.
type Store struct {
	db   *sql.DB
	pg   bool
	keys *Keys
	log  *zap.Logger
}

// sqliteBusyTimeout is how long a SQLite writer waits for another (process's) write
// transaction, such as a token refresh under WithPortalLock, before failing.
const sqliteBusyTimeout = time.Minute

// Open opens and migrates hubline's database: PostgreSQL (pgx) when url
// (HUBLINE_DATABASE_URL) is set, else embedded SQLite at filepath.Join(dataDir, DBFile)
// (HUBLINE_DATA_DIR, default ".hubline"). With nil keys, storing or reading a secret fails
// with ErrNoKey; with keys that are not those the database's secrets were stored with, Open
// fails with ErrWrongKey.
func Open(ctx context.Context, url, dataDir string, keys *Keys, log *zap.Logger) (*Store, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &Store{keys: keys, log: log}
	var err error
	if url != "" {
		s.pg = true
		if s.db, err = sql.Open("pgx", url); err != nil {
			return nil, fmt.Errorf("HUBLINE_DATABASE_URL: %w", err) // pgx does not echo the password
		}
	} else {
		if dataDir == "" {
			dataDir = DefaultDataDir
		}
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, fmt.Errorf("HUBLINE_DATA_DIR: %w", err)
		}
		// WAL lets readers run beside a writer (dev, starter and worker may share the file);
		// _txlock=immediate takes the write lock at BEGIN, so a transaction that reads a row
		// and then writes it cannot interleave with another process doing the same.
		dsn := filepath.Join(dataDir, DBFile) + "?_pragma=busy_timeout(" + strconv.Itoa(int(sqliteBusyTimeout.Milliseconds())) + ")" +
			"&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
		if s.db, err = sql.Open("sqlite", dsn); err != nil {
			return nil, fmt.Errorf("open %s: %w", filepath.Join(dataDir, DBFile), err)
		}
		s.db.SetMaxOpenConns(8)
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, s.where(fmt.Errorf("connect: %w", err))
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		return nil, s.where(err)
	}
	if err := s.checkKey(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	if err := s.reencrypt(ctx); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// where prefixes errors with the setting that chose the database.
func (s *Store) where(err error) error {
	if s.pg {
		return fmt.Errorf("database (HUBLINE_DATABASE_URL): %w", err)
	}
	return fmt.Errorf("database (SQLite in HUBLINE_DATA_DIR): %w", err)
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// q rewrites ? placeholders into PostgreSQL's $n (the queries here have no other '?').
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// tx runs fn in a transaction; on SQLite it holds the database's write lock throughout.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// keyCheck is a known value stored encrypted at first use of a key, so Open can tell a wrong
// HUBLINE_SECRET_KEY at once rather than at the first token read.
const keyCheck = "hubline secret key check"

func (s *Store) checkKey(ctx context.Context) error {
	if s.keys == nil {
		return nil
	}
	var stored string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT value FROM meta WHERE name = ?`), "key_check").Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		sealed, err := s.keys.seal(keyCheck, aad("meta", "value", "key_check"))
		if err != nil {
			return err
		}
		if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO meta (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`), "key_check", sealed); err != nil {
			return s.where(err)
		}
		return s.checkKey(ctx) // another process may have won the insert with its key
	}
	if err != nil {
		return s.where(err)
	}
	// An old key (HUBLINE_SECRET_OLD_KEYS) passes too; reencrypt then moves the check over.
	if v, err := s.keys.open(stored, aad("meta", "value", "key_check")); err != nil || v != keyCheck {
		return fmt.Errorf("%w (set the HUBLINE_SECRET_KEY these secrets were stored with, or add it to HUBLINE_SECRET_OLD_KEYS when rotating)", ErrWrongKey)
	}
	return nil
}

func now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// Times are stored as Unix milliseconds (UTC), the same on both databases; 0 is the zero time.
func toMillis(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMillis(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
