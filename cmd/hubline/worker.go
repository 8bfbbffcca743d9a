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
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
)

func runWorker(ctx context.Context, cfg *config.Config, _ io.Writer) error {
	log, err := logging.New(false, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	logEffectiveConfig(log, "worker")
	if _, err := cfg.TimelineMode(); err != nil {
		return err // before dialling: a setting error should not wait for Temporal
	}
	dc, err := dataConverter(cfg, log)
	if err != nil {
		return err
	}
	m := metrics.New()
	sdkMetrics, closeSDKMetrics := m.Temporal(log)
	defer closeSDKMetrics.Close()
	ready := &readiness.Checks{Log: log}
	ctx = withReadiness(ctx, ready)
	c, err := dialWith(ctx, cfg, log, dc, withMetrics(sdkMetrics))
	if err != nil {
		return err
	}
	defer c.Close()
	// An attribute the workflows upsert but the namespace lacks would fail their workflow
	// tasks after the LINE push: stop here instead, naming it.
	if err := worker.CheckSearchAttributes(ctx, c.OperatorService(), cfg.TemporalNamespace); errors.Is(err, worker.ErrSearchAttributesUnverified) {
		log.Warn("could not verify the namespace's search attributes: make sure each one in docs/temporal.md exists", zap.Error(err))
	} else if err != nil {
		return err
	}
	ready.Add("temporal", func(ctx context.Context) error {
		_, err := c.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
	acts, err := newActivities(cfg, log, c, dc, m)
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
	var metricsHandler http.Handler
	switch {
	case cfg.MetricsAddr != "" && cfg.MetricsAddr == cfg.WorkerHealthAddr:
		metricsHandler = m.Handler() // one listener serves both
	case cfg.MetricsAddr != "":
		stopMetrics, err := serveMetrics(cfg.MetricsAddr, m, log)
		if err != nil {
			return err
		}
		healthDone = stopMetrics
	}
	if cfg.WorkerHealthAddr != "" {
		l, err := net.Listen("tcp", cfg.WorkerHealthAddr)
		if err != nil {
			return fmt.Errorf("listen on %s (HUBLINE_WORKER_HEALTH_ADDR): %w", cfg.WorkerHealthAddr, err)
		}
		hctx, stop := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- starter.Serve(hctx, l, workerHealth(ctx, ready, metricsHandler), time.Second, log) }()
		stopMetrics := healthDone
		healthDone = func() error { stop(); return errors.Join(<-errc, stopMetrics()) }
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

// workerHealth serves /healthz (the process answers), /readyz (polling, and every
// dependency reachable; 503 naming the missing ones, or once shutdown began, while running
// activities finish) and, when metricsH is not nil, /metrics.
func workerHealth(running context.Context, ready *readiness.Checks, metricsH http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = io.WriteString(w, `{"status":"ok"}`+"\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if running.Err() != nil {
			readiness.Write(w, http.StatusServiceUnavailable, readiness.Answer{Status: "unavailable",
				Error: &readiness.Error{Code: "shutting_down", Message: "the worker is stopping: it polls no new tasks"}})
			return
		}
		ready.ServeHTTP(w, r)
	})
	served := "GET /healthz and /readyz"
	if metricsH != nil {
		mux.Handle("GET /metrics", metricsH)
		served = "GET /healthz, /readyz and /metrics"
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		starter.WriteError(w, http.StatusNotFound, "not_found", "the worker serves "+served)
	})
	return mux
}
