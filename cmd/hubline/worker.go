package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
)

func runWorker(ctx context.Context, cfg *config.Config, _ io.Writer) error {
	log, err := logging.New(false, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	if _, err := cfg.TimelineMode(); err != nil {
		return err // before dialling: a setting error should not wait for Temporal
	}
	dc, err := dataConverter(cfg, log)
	if err != nil {
		return err
	}
	c, err := dialWith(ctx, cfg, log, dc)
	if err != nil {
		return err
	}
	defer c.Close()
	acts, err := newActivities(cfg, log, c, dc)
	if err != nil {
		return err
	}
	lines, closeLines, err := openLineAccounts(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	defer closeLines()
	senders := workerLineAccounts(c, lines, acts, cfg, log)
	closePortals, err := useWorkerPortals(ctx, cfg, log, acts, false)
	if err != nil {
		return err
	}
	defer closePortals()
	// The health endpoints outlive ctx: /readyz answers 503 while the worker drains.
	healthDone := func() error { return nil }
	if cfg.WorkerHealthAddr != "" {
		l, err := net.Listen("tcp", cfg.WorkerHealthAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (HUBLINE_WORKER_HEALTH_ADDR): %w", cfg.WorkerHealthAddr, err)
		}
		hctx, stop := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- starter.Serve(hctx, l, workerHealth(ctx, c), time.Second, log) }()
		healthDone = func() error { stop(); return <-errc }
		log.Info("worker health endpoints", zap.String("addr", l.Addr().String()))
	}
	log.Info("worker polling", zap.String("temporal", cfg.TemporalAddress), zap.String("namespace", cfg.TemporalNamespace),
		zap.Ints("line_accounts", cfg.AccountNumbers()))
	hub, closeLineEvents, err := newHubWorkers(ctx, cfg, log, c, acts)
	if err != nil {
		return errors.Join(err, healthDone())
	}
	defer closeLineEvents()
	stop, err := worker.Start(hub,
		worker.NewLine(c, acts, cfg.AccountNumbers(), cfg.ShutdownTimeout), senders)
	if err != nil {
		return errors.Join(err, healthDone())
	}
	<-ctx.Done()
	stop()
	return healthDone()
}

// workerHealth serves /healthz (the process answers) and /readyz (polling, and Temporal
// reachable; 503 once shutdown began, while running activities finish).
func workerHealth(running context.Context, c client.Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if running.Err() != nil {
			starter.WriteError(w, http.StatusServiceUnavailable, "shutting_down", "the worker is stopping: it polls no new tasks")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := c.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
			starter.WriteError(w, http.StatusServiceUnavailable, "temporal_unavailable", "Temporal is not reachable: "+err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"ready"}`+"\n")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		starter.WriteError(w, http.StatusNotFound, "not_found", "the worker serves GET /healthz and /readyz")
	})
	return mux
}
