// Package metrics is hubline's Prometheus instrumentation. Each process builds one Metrics
// and passes it down: hubline's own collectors (hubline_...) and the Temporal SDK's
// (temporal_..., through the SDK's tally handler) share its registry, never Prometheus'
// global default one, so tests see only what they caused.
package metrics

import (
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	tallyprom "github.com/uber-go/tally/v4/prometheus"
	"go.uber.org/zap"

	"github.com/uber-go/tally/v4"
	"go.temporal.io/sdk/client"
	sdktally "go.temporal.io/sdk/contrib/tally"
)

// Names of hubline's own metrics, for the dashboard and the docs.
const (
	LinePushes      = "hubline_line_pushes_total"
	LinePushSeconds = "hubline_line_push_seconds"
	HubSpotCalls    = "hubline_hubspot_calls_total"
	Callbacks       = "hubline_callbacks_total"
	WebhookEvents   = "hubline_line_webhook_events_total"
	HTTPRefusals    = "hubline_http_refusals_total"
	QueueBacklog    = "hubline_queue_backlog"
)

// SDKNames are Temporal SDK metrics a worker reports once it has run a workflow and an
// activity (the process test checks them); the dashboard may use these besides Names.
var SDKNames = []string{
	"temporal_request_total",
	"temporal_request_latency_seconds",
	"temporal_workflow_completed_total",
	"temporal_workflow_task_schedule_to_start_latency_seconds",
	"temporal_activity_execution_latency_seconds",
	"temporal_activity_succeed_endtoend_latency_seconds",
	"temporal_workflow_endtoend_latency_seconds",
	"temporal_worker_task_slots_available",
}

// Metrics holds one process's registry and hubline's collectors. A nil *Metrics records
// nothing, so components built without one (unit tests, CLIs) need no checks.
type Metrics struct {
	Registry *prometheus.Registry

	linePushes      *prometheus.CounterVec
	linePushSeconds *prometheus.HistogramVec
	hubspotCalls    *prometheus.CounterVec
	callbacks       *prometheus.CounterVec
	webhookEvents   *prometheus.CounterVec
	refusals        *prometheus.CounterVec

	mu    sync.Mutex
	names []string
}

// New builds a registry with the Go runtime and process collectors and hubline's own.
func New() *Metrics {
	m := &Metrics{Registry: prometheus.NewRegistry()}
	m.linePushes = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: LinePushes,
		Help: "LINE push requests by account and outcome (accepted, duplicate, invalid, auth, rate_limited, monthly_limit, server_error, no_answer).",
	}, []string{"account", "outcome"})
	m.linePushSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    LinePushSeconds,
		Help:    "Time LINE took to answer a push request (or to fail), by account.",
		Buckets: []float64{.025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"account"})
	m.hubspotCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: HubSpotCalls,
		Help: "HubSpot API calls by endpoint and outcome (ok, rate_limited, auth, client_error, server_error, no_answer).",
	}, []string{"endpoint", "outcome"})
	m.callbacks = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: Callbacks,
		Help: "HubSpot callback completions by the state sent (SUCCESS, FAIL_CONTINUE) and outcome (completed, already_done, rejected, retry).",
	}, []string{"state", "outcome"})
	m.webhookEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: WebhookEvents,
		Help: "LINE webhook events received, by event type and outcome.",
	}, []string{"type", "outcome"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: HTTPRefusals,
		Help: "HTTP requests refused (400, 401, 403, 404, 405, 413, 415, 429) by route pattern and status code.",
	}, []string{"route", "code"})
	m.MustRegister(m.linePushes, m.linePushSeconds, m.hubspotCalls, m.callbacks, m.webhookEvents, m.refusals,
		prometheus.NewGoCollector(), prometheus.NewProcessCollector(prometheus.ProcessCollectorOpts{}))
	return m
}

var fqName = regexp.MustCompile(`fqName: "([^"]+)"`)

// MustRegister registers collectors and remembers their metric names (Names).
func (m *Metrics) MustRegister(cs ...prometheus.Collector) {
	m.Registry.MustRegister(cs...)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range cs {
		ch := make(chan *prometheus.Desc, 64)
		go func() { c.Describe(ch); close(ch) }()
		for d := range ch {
			if n := fqName.FindStringSubmatch(d.String()); n != nil && !slices.Contains(m.names, n[1]) {
				m.names = append(m.names, n[1])
			}
		}
	}
}

// Names lists the metric names registered through MustRegister, sorted.
func (m *Metrics) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(slices.Values(m.names))
}

// Handler serves the registry in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// LinePush records one push request's answer: outcome from PushOutcome.
func (m *Metrics) LinePush(account int, outcome string, took time.Duration) {
	if m == nil {
		return
	}
	a := strconv.Itoa(account)
	m.linePushes.WithLabelValues(a, outcome).Inc()
	m.linePushSeconds.WithLabelValues(a).Observe(took.Seconds())
}

// HubSpotCall records one HubSpot API call.
func (m *Metrics) HubSpotCall(endpoint, outcome string) {
	if m == nil {
		return
	}
	m.hubspotCalls.WithLabelValues(endpoint, outcome).Inc()
}

// Callback records one callback completion: state is the hs_execution_state sent.
func (m *Metrics) Callback(state, outcome string) {
	if m == nil {
		return
	}
	if state == "" {
		state = "none"
	}
	m.callbacks.WithLabelValues(state, outcome).Inc()
}

// WebhookEvent records one LINE webhook event (for the LINE webhook route): eventType is
// LINE's type (message, follow, unfollow, ...), outcome what hubline did with it.
func (m *Metrics) WebhookEvent(eventType, outcome string) {
	if m == nil {
		return
	}
	m.webhookEvents.WithLabelValues(eventType, outcome).Inc()
}

// Refusal records one refused HTTP request: route is the router's pattern ("none" when no
// route matched), so unknown paths cannot multiply the series.
func (m *Metrics) Refusal(route string, status int) {
	if m == nil {
		return
	}
	m.refusals.WithLabelValues(route, strconv.Itoa(status)).Inc()
}

// HTTPOutcome names an HTTP answer for the outcome labels.
func HTTPOutcome(status int) string {
	switch {
	case status < 300:
		return "ok"
	case status == http.StatusTooManyRequests:
		return "rate_limited"
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return "auth"
	case status < 500:
		return "client_error"
	default:
		return "server_error"
	}
}

// Temporal is the SDK metrics handler for client.Options.MetricsHandler, reporting into the
// registry once a second; close the Closer when the client is closed. A metric the SDK
// reports with a second set of tags cannot be registered twice: that is logged, not fatal.
func (m *Metrics) Temporal(log *zap.Logger) (client.MetricsHandler, io.Closer) {
	reporter := tallyprom.NewReporter(tallyprom.Options{
		Registerer:       m.Registry,
		DefaultTimerType: tallyprom.HistogramTimerType,
		OnRegisterError: func(err error) {
			log.Warn("a Temporal SDK metric could not be registered", zap.Error(err))
		},
	})
	scope, closer := tally.NewRootScope(tally.ScopeOptions{
		CachedReporter:  reporter,
		Separator:       tallyprom.DefaultSeparator,
		SanitizeOptions: &sdktally.PrometheusSanitizeOptions,
	}, time.Second)
	return sdktally.NewMetricsHandler(sdktally.NewPrometheusNamingScope(scope)), closer
}
