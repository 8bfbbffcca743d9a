package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
	"github.com/hubline/hubline/starter"
)

// logEffectiveConfig prints, once at start-up, the settings command runs with (secrets
// redacted), so an operator can tell which value a process actually got.
func logEffectiveConfig(log *zap.Logger, command string) {
	log.Info("effective configuration", zap.String("command", command),
		zap.Any("settings", config.Effective(os.Environ(), command)))
}

// withMetrics reports the Temporal SDK's metrics (temporal_...) into m's registry.
func withMetrics(h client.MetricsHandler) func(*client.Options) {
	return func(o *client.Options) { o.MetricsHandler = h }
}

type readyKey struct{}

// withReadiness carries a process's /readyz checks to the helpers that open its
// dependencies (hubline's database), which add themselves without every constructor
// between them taking the checks.
func withReadiness(ctx context.Context, r *readiness.Checks) context.Context {
	return context.WithValue(ctx, readyKey{}, r)
}

// addReadyCheck adds a dependency to the process's /readyz, if it has one.
func addReadyCheck(ctx context.Context, name string, check func(context.Context) error) {
	if r, ok := ctx.Value(readyKey{}).(*readiness.Checks); ok {
		r.Add(name, check)
	}
}

// metricsOnly serves GET /metrics and refuses everything else in hubline's error shape.
func metricsOnly(m *metrics.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		starter.WriteError(w, http.StatusNotFound, "not_found", "this address serves GET /metrics only")
	})
	return mux
}

// serveMetrics serves /metrics on HUBLINE_METRICS_ADDR until the returned stop is called.
func serveMetrics(addr string, m *metrics.Metrics, log *zap.Logger) (stop func() error, err error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s (HUBLINE_METRICS_ADDR): %w", addr, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- starter.Serve(ctx, l, metricsOnly(m), time.Second, log) }()
	log.Info("metrics endpoint", zap.String("addr", l.Addr().String()))
	return func() error { cancel(); return <-errc }, nil
}
