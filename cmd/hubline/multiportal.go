package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/portaltokens"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/starter"
)

// allowedPortals is HUBLINE_ALLOWED_PORTALS as a check, nil when every portal may.
func allowedPortals(cfg *config.Config) func(int64) bool {
	if cfg.AllowedPortals == nil {
		return nil
	}
	return cfg.PortalAllowed
}

// openPortalStore opens hubline's database for multi-portal mode (dev generates its
// secret key when none is set).
func openPortalStore(ctx context.Context, cfg *config.Config, log *zap.Logger, dev bool) (*store.Store, error) {
	keys, err := secretKeys(cfg, dev, log)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, fmt.Errorf("multi-portal mode keeps each portal's HubSpot tokens encrypted: set HUBLINE_SECRET_KEY (openssl rand -base64 32)")
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, keys, log.Named("store"))
	if err != nil {
		return nil, fmt.Errorf("open hubline's database: %w", err)
	}
	addReadyCheck(ctx, "database", st.Ping)
	return st, nil
}

// useWorkerPortals gives the worker's HubSpot client each portal's own token in
// multi-portal mode, and HUBLINE_ALLOWED_PORTALS in any mode. The returned close releases
// the database.
func useWorkerPortals(ctx context.Context, cfg *config.Config, log *zap.Logger, acts *activities.Activities, dev bool) (func(), error) {
	if !cfg.MultiPortal() {
		acts.HubSpot.UsePortals(nil, allowedPortals(cfg))
		return func() {}, nil
	}
	st, err := openPortalStore(ctx, cfg, log, dev)
	if err != nil {
		return nil, err
	}
	src := portaltokens.New(portaltokens.Options{
		Store: st, Logger: log.Named("portaltokens"),
		OAuth: &hubspot.OAuth{BaseURL: cfg.HubSpotAPIBaseURL, ClientID: cfg.HubSpotClientID, ClientSecret: cfg.HubSpotClientSecret,
			HTTPClient: &http.Client{Timeout: 30 * time.Second}},
	})
	acts.HubSpot.UsePortals(src, allowedPortals(cfg))
	log.Info("multi-portal mode: HubSpot calls use each installed portal's own OAuth token")
	return func() { _ = st.Close() }, nil
}

// useStarterPortals turns on the OAuth install routes in multi-portal mode, and
// HUBLINE_ALLOWED_PORTALS in any mode.
func useStarterPortals(ctx context.Context, cfg *config.Config, log *zap.Logger, s *starter.Server, dev bool) (func(), error) {
	if !cfg.MultiPortal() {
		s.SetOAuth(nil, allowedPortals(cfg))
		if cfg.AllowedPortals == nil {
			log.Info("single-portal mode: set HUBLINE_ALLOWED_PORTALS to your portal ID so other portals cannot use this deployment")
		}
		return func() {}, nil
	}
	st, err := openPortalStore(ctx, cfg, log, dev)
	if err != nil {
		return nil, err
	}
	s.SetOAuth(&starter.OAuthOptions{
		Store: st, ClientID: cfg.HubSpotClientID, ClientSecret: cfg.HubSpotClientSecret, AuthorizeURL: cfg.HubSpotAuthorizeURL,
		APIBaseURL: cfg.HubSpotAPIBaseURL, Scopes: cfg.HubSpotScopes, HTTPClient: &http.Client{Timeout: 30 * time.Second},
	}, allowedPortals(cfg))
	log.Info("multi-portal mode: portals install hubline at "+cfg.PublicURL+starter.RouteOAuthInstall,
		zap.String("redirect_uri", cfg.PublicURL+starter.RouteOAuthCallback))
	return func() { _ = st.Close() }, nil
}
