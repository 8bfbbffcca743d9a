package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/accounts"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/worker"
)

// lineAccountsEvery is how often a process re-reads the stored LINE accounts, so accounts
// added or removed elsewhere are seen without waiting for a request that misses them.
const lineAccountsEvery = 30 * time.Second

// openLineAccounts builds the one view of environment and stored LINE accounts. Stored ones
// are read when hubline has a database (multi-portal mode, HUBLINE_DATABASE_URL, or a
// hubline.db in the data directory, which `hubline accounts add` creates in single-portal
// mode too); otherwise there are only the environment's, as before stored accounts existed. close
// stops the periodic re-read and releases the database.
func openLineAccounts(ctx context.Context, cfg *config.Config, log *zap.Logger, dev bool) (*accounts.Resolver, func(), error) {
	env := accounts.FromConfig(cfg)
	if !cfg.MultiPortal() && cfg.DatabaseURL == "" && !sqliteStoreExists(cfg) {
		return accounts.Static(env), func() {}, nil
	}
	keys, err := secretKeys(cfg, dev, log)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, keys, log.Named("store"))
	if err != nil {
		return nil, nil, fmt.Errorf("open hubline's database: %w", err)
	}
	addReadyCheck(ctx, "database", st.Ping)
	r, err := accounts.New(ctx, accounts.Options{Env: env, Stored: accounts.FromStore(st, cfg), Logger: log.Named("accounts")})
	if err != nil {
		_ = st.Close()
		return nil, nil, err
	}
	rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() { defer close(done); r.Run(rctx, lineAccountsEvery) }()
	return r, func() { stop(); <-done; _ = st.Close() }, nil
}

// workerLineAccounts lets the activities send through every account r knows, also those
// stored while the worker runs, and returns the runner of the send-unit workers
// (hubline-line-<n>) of accounts NewLine does not serve (it serves the environment's).
func workerLineAccounts(c client.Client, r *accounts.Resolver, acts *activities.Activities, cfg *config.Config, log *zap.Logger) *worker.LineSenders {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256 // as newActivities: batches keep many pushes in flight
	acts.Accounts = accounts.NewClients(r, cfg.LineAPIBaseURL, &http.Client{Timeout: 30 * time.Second, Transport: tr})
	senders := worker.NewLineSenders(c, acts, cfg.AccountNumbers(), cfg.ShutdownTimeout)
	r.Watch(func(a accounts.Account) {
		if !a.Stored {
			return
		}
		if err := senders.Add(a.Number); err != nil {
			log.Error("could not serve a stored LINE account's sends", zap.Int("line_account", a.Number), zap.Error(err))
			return
		}
		log.Info("stored LINE account served", zap.Int("line_account", a.Number), zap.Int64("portal_id", a.PortalID),
			zap.Int("push_rate", a.PushRate))
	})
	return senders
}

// sqliteStoreExists: hubline's SQLite database is in the data directory (an operator stored
// accounts there), so single-portal processes read it too.
func sqliteStoreExists(cfg *config.Config) bool {
	dir := cfg.DataDir
	if dir == "" {
		dir = store.DefaultDataDir
	}
	_, err := os.Stat(filepath.Join(dir, store.DBFile))
	return err == nil
}
