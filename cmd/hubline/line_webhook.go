package main

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
)

// newHubWorkers is worker.New with the LINE webhook activities, which keep the LINE user
// -> contact mapping in hubline's database: opened here in every mode (SQLite in
// HUBLINE_DATA_DIR unless HUBLINE_DATABASE_URL is set), without the secret key, as the
// mapping holds no secrets. close releases the database.
func newHubWorkers(ctx context.Context, cfg *config.Config, log *zap.Logger, c client.Client, acts *activities.Activities) (worker.Group, func(), error) {
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, nil, log.Named("store"))
	if err != nil {
		return nil, nil, fmt.Errorf("open hubline's database (the LINE user -> contact mapping): %w", err)
	}
	fw := map[int]activities.LineEventForward{}
	for n, f := range cfg.LineEventForwards {
		fw[n] = activities.LineEventForward{URL: f.URL, Secret: f.Secret}
	}
	g := worker.New(c, acts, cfg.ShutdownTimeout)
	g.RegisterLineEvents(&activities.LineEvents{Activities: acts, Store: st, Forwards: fw})
	return g, func() { _ = st.Close() }, nil
}

// useLineWebhook gives the starter the environment accounts' channel secrets.
func useLineWebhook(cfg *config.Config, s *starter.Server) {
	s.UseLineWebhook(starter.LineWebhookOptions{Secrets: cfg.LineChannelSecrets})
}
