// Package starter is the HTTP API HubSpot calls: it verifies each custom workflow action
// request, validates its inputs and turns it into a durable Temporal workflow start.
// Handlers stay thin: decoding, signature checks and error shapes live in one place each.
package starter

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/accounts"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
	"github.com/hubline/hubline/internal/webhook"
)

// MaxBodyBytes caps action requests; HubSpot's are a few KiB.
const MaxBodyBytes = 1 << 20

// Options configure the starter.
type Options struct {
	Temporal client.Client
	Logger   *zap.Logger
	// ClientSecret verifies HubSpot signatures; empty disables verification.
	ClientSecret string
	// PublicURL is the scheme://host[:port] HubSpot calls; signatures cover it.
	PublicURL string
	// RequireSignatureV3 refuses v2 signatures too (HUBLINE_REQUIRE_SIGNATURE_V3).
	RequireSignatureV3 bool
	// BlockExpiration is how long HubSpot keeps a BLOCKed action waiting; ISO is its
	// ISO-8601 form, returned as hs_expiration_duration.
	BlockExpiration    time.Duration
	BlockExpirationISO string
	// Accounts maps each configured LINE account number to whether LINE approved it for
	// unit-based statistics (customAggregationUnits).
	Accounts map[int]bool
	// LineAccounts resolves line_account per portal (environment and stored accounts);
	// nil: Accounts, open to every portal.
	LineAccounts *accounts.Resolver
	// Now is the clock (tests move it).
	Now func() time.Time

	// SendDataAllow opens SSRF-guard exceptions for webhook URLs (HUBLINE_SEND_DATA_ALLOW).
	SendDataAllow *webhook.AllowList
	// SendDataMaxAttempts bounds Send Data attempts (HUBLINE_SEND_DATA_MAX_ATTEMPTS, default 10).
	SendDataMaxAttempts int
	// SendDataMaxBytes bounds Send Data's body after its contact tokens render
	// (HUBLINE_SEND_DATA_MAX_BYTES; 0: DefaultSendDataMaxBytes).
	SendDataMaxBytes int
	// LineUserIDProperties maps an account number to the contact property holding its LINE
	// user ID (HUBSPOT_LINE_USER_ID_PROPERTY, _2, ...); unset accounts use the defaults.
	LineUserIDProperties map[int]string
	// Queue configures Send LINE Message by Queue.
	Queue QueueOptions
	// OAuth turns on multi-portal mode (oauth.go): the install routes, and actions only for
	// portals with stored tokens. nil: single-portal mode.
	OAuth *OAuthOptions
	// PortalAllowed, when set, is HUBLINE_ALLOWED_PORTALS: other portals can neither install
	// nor run actions (hubspot_not_connected).
	PortalAllowed func(portalID int64) bool
	// LineWebhook configures POST /line/webhook/<n> (line_webhook.go).
	LineWebhook LineWebhookOptions
	// LineLogin turns on linking contacts through LINE Login (line_login.go); nil: Create
	// LINE link answers line_login_not_configured.
	LineLogin *LineLoginOptions
	// Metrics is the process's registry (nil: the starter makes its own).
	Metrics *metrics.Metrics
	// MetricsElsewhere: HUBLINE_METRICS_ADDR serves /metrics, so this handler does not.
	MetricsElsewhere bool
	// Ready holds the dependencies /readyz checks besides Temporal, which New adds (nil:
	// Temporal only).
	Ready *readiness.Checks
	// MaxInFlight bounds the action requests waiting on Temporal at once
	// (HUBLINE_STARTER_MAX_IN_FLIGHT; 0: DefaultMaxInFlight); past it: 429 overloaded.
	MaxInFlight int
}

// Server is the starter's HTTP handler plus its metrics.
type Server struct {
	opts     Options
	log      *zap.Logger
	engine   *gin.Engine
	metrics  *metrics.Metrics
	requests *prometheus.CounterVec
	ready    *readiness.Checks

	queues      queueSet
	queueGroups prometheus.Histogram
	installs    *prometheus.CounterVec
	inFlight    chan struct{}
}

// New builds the starter's routes.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.LineAccounts == nil {
		var env []accounts.Account
		for n, units := range o.Accounts {
			env = append(env, accounts.Account{Number: n, AggregationUnits: units})
		}
		o.LineAccounts = accounts.Static(env)
	}
	gin.SetMode(gin.ReleaseMode)
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = DefaultMaxInFlight
	}
	s := &Server{opts: o, log: o.Logger, engine: gin.New(), metrics: o.Metrics, inFlight: make(chan struct{}, o.MaxInFlight)}
	if o.Ready == nil {
		o.Ready = &readiness.Checks{Log: o.Logger}
	}
	s.ready = o.Ready
	s.ready.Add("temporal", func(ctx context.Context) error {
		_, err := o.Temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	})
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hubline_action_requests_total",
		Help: "HubSpot action requests by action and outcome (started, duplicate, rejected error codes, ...).",
	}, []string{"action", "outcome"})
	o.Queue = o.Queue.withDefaults()
	s.opts.Queue = o.Queue
	s.queueGroups = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "hubline_queue_group_commit_size", Help: "Recipients per queue group commit (one SignalWithStart).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	s.metrics.MustRegister(s.queueGroups, backlogCollector{s})
	s.installs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "hubline_oauth_installs_total",
		Help: "OAuth install steps by outcome (redirected, installed, denied, state_invalid, portal_not_allowed, ...).",
	}, []string{"outcome"})
	s.metrics.MustRegister(s.installs, s.requests)

	e := s.engine
	e.HandleMethodNotAllowed = true
	e.Use(s.recoverJSON, s.countRefusals)
	e.NoRoute(func(c *gin.Context) { abortError(c, http.StatusNotFound, "not_found", "no such route") })
	e.NoMethod(func(c *gin.Context) {
		abortError(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
	})
	e.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	e.GET("/readyz", gin.WrapH(s.ready))
	if !o.MetricsElsewhere {
		e.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	}
	e.GET(RouteOAuthInstall, s.oauthInstall)
	e.GET(RouteOAuthCallback, s.oauthCallback)
	e.GET(RouteLineLink+":token", s.lineLink)
	e.GET(RouteLineLoginCallback, s.lineLoginCallback)
	e.POST(RouteLineWebhook, s.lineWebhook) // LINE-signed, not HubSpot-signed: outside /actions
	actions := e.Group("/actions", s.readVerifiedBody, s.portalGate)
	// The actions that wait on Temporal share one bound (overload.go).
	actions.POST("/send-line-message", s.admit, s.sendLineMessage)
	actions.POST("/send-line-message-v2", s.admit, s.sendLineMessageV2)
	actions.POST("/send-data", s.admit, s.sendData)
	actions.POST("/send-line-message-queue", s.admit, s.sendLineMessageQueue)
	actions.POST("/set-line-rich-menu", s.admit, s.setLineRichMenu)
	actions.POST("/create-line-link", s.createLineLink)
	actions.POST("/options/line-account", s.lineAccountOptions)
	return s
}

// SetPublicURL changes the base URL signatures are checked against (tests learn their
// server's address only after it listens).
func (s *Server) SetPublicURL(u string) { s.opts.PublicURL = u }

// Handler is the starter as an http.Handler.
func (s *Server) Handler() http.Handler { return s.engine }

// Serve answers on l until ctx is done, then drains in-flight requests for up to drain and
// ends the queue committers' goroutines.
func (s *Server) Serve(ctx context.Context, l net.Listener, drain time.Duration) error {
	defer s.stopQueues()
	return Serve(ctx, l, s.engine, drain, s.log)
}

// Serve runs h on l with production timeouts until ctx is done, then shuts down gracefully,
// letting in-flight requests finish for up to drain.
func Serve(ctx context.Context, l net.Listener, h http.Handler, drain time.Duration, log *zap.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(log.Named("http")),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// AddReadyCheck makes /readyz also depend on name (e.g. "database"): /readyz answers 200
// only while every dependency answers, so a load balancer stops routing HubSpot to a
// starter that could not durably start anything, and says which ones are missing.
func (s *Server) AddReadyCheck(name string, check func(context.Context) error) {
	s.ready.Add(name, check)
}

func (s *Server) recoverJSON(c *gin.Context) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic in handler", zap.Any("panic", r), zap.String("path", c.FullPath()), zap.Stack("stack"))
			abortError(c, http.StatusInternalServerError, "internal", "internal error")
		}
	}()
	c.Next()
}

// errorBody is the one JSON error shape of every non-2xx answer.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// WriteError writes the error shape every hubline HTTP endpoint answers with, for handlers
// outside gin (hubline codec, the worker's health endpoints).
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(b)
}

func abortError(c *gin.Context, status int, code, msg string) {
	c.Set(errorCodeKey, code) // for countRefusals' log line
	var b errorBody
	b.Error.Code, b.Error.Message = code, msg
	c.AbortWithStatusJSON(status, b)
}
