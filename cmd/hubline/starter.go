package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
)

func runStarter(ctx context.Context, cfg *config.Config, _ io.Writer) error {
	if cfg.HubSpotClientSecret == "" && !cfg.InsecureSkipSignature {
		return errors.New("HUBSPOT_CLIENT_SECRET is unset: the starter would accept unsigned requests from anyone. " +
			"Set it, or set HUBLINE_INSECURE_SKIP_SIGNATURE=true for a test setup")
	}
	log, err := logging.New(false, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	logEffectiveConfig(log, "starter")
	if cfg.HubSpotClientSecret == "" {
		log.Warn("HUBLINE_INSECURE_SKIP_SIGNATURE=true: HubSpot signatures are NOT verified")
	}
	m := metrics.New()
	sdkMetrics, closeSDKMetrics := m.Temporal(log)
	defer closeSDKMetrics.Close()
	ready := &readiness.Checks{Log: log}
	ctx = withReadiness(ctx, ready)
	c, err := dialTemporal(ctx, cfg, log, withMetrics(sdkMetrics))
	if err != nil {
		return err
	}
	defer c.Close()
	lines, closeLines, err := openLineAccounts(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer closeLines()
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (HUBLINE_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	log.Info("starter listening", zap.String("addr", l.Addr().String()), zap.String("public_url", cfg.PublicURL),
		zap.Ints("line_accounts", cfg.AccountNumbers()))
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, m, log)
		if err != nil {
			return err
		}
		defer func() { _ = stopMetrics() }()
	}
	st := newStarter(cfg, c, log, m, ready)
	st.UseLineAccounts(lines)
	useLineWebhook(cfg, st)
	closePortals, err := useStarterPortals(ctx, cfg, log, st, false)
	if err != nil {
		return err
	}
	defer closePortals()
	closeLogin, err := useLineLogin(ctx, cfg, log, st, false)
	if err != nil {
		return err
	}
	defer closeLogin()
	return st.Serve(ctx, l, cfg.ShutdownTimeout)
}
