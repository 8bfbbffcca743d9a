package main

import (
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/worker"
)

func runWorker(ctx context.Context, cfg *config.Config, _ io.Writer) error {
	log, err := logging.New(false, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	c, err := dialTemporal(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer c.Close()
	acts, err := newActivities(cfg, log)
	if err != nil {
		return err
	}
	log.Info("worker polling", zap.String("temporal", cfg.TemporalAddress), zap.String("namespace", cfg.TemporalNamespace),
		zap.Ints("line_accounts", cfg.AccountNumbers()))
	lw := worker.NewLine(c, acts, cfg.AccountNumbers(), cfg.ShutdownTimeout)
	if err := lw.Start(); err != nil {
		return fmt.Errorf("start hubline-line worker: %w", err)
	}
	defer lw.Stop()
	return worker.Run(ctx, worker.New(c, acts, cfg.ShutdownTimeout))
}
