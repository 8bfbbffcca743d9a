package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
	"github.com/hubline/hubline/internal/temporalconn"
	"github.com/hubline/hubline/internal/webhook"
	"github.com/hubline/hubline/starter"
)

// dialTemporal connects lazily-checked: it fails fast with a clear message when the
// cluster is unreachable at start-up.
func dialTemporal(ctx context.Context, cfg *config.Config, log *zap.Logger, more ...func(*client.Options)) (client.Client, error) {
	dc, err := dataConverter(cfg, log)
	if err != nil {
		return nil, err
	}
	return dialWith(ctx, cfg, log, dc, more...)
}

// dialWith connects with a data converter the caller also uses itself (queue find decodes
// memos with it); more adjusts the options (withMetrics).
func dialWith(ctx context.Context, cfg *config.Config, log *zap.Logger, dc converter.DataConverter, more ...func(*client.Options)) (client.Client, error) {
	opts := client.Options{
		HostPort: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, Logger: logging.Temporal(log.Named("temporal")),
		DataConverter: dc,
	}
	for _, f := range more {
		f(&opts)
	}
	// TLS and the API key (TEMPORAL_TLS_*, TEMPORAL_API_KEY); their files are read here, so a
	// missing one stops start-up.
	if err := temporalconn.Apply(&opts, cfg.Temporal); err != nil {
		return nil, err
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (TEMPORAL_ADDRESS, %s): %w", cfg.TemporalAddress,
			temporalconn.Describe(cfg.Temporal), temporalconn.Explain(err, cfg.Temporal))
	}
	return c, nil
}

// dataConverter encrypts payloads (and memos) when HUBLINE_PAYLOAD_KEY is set.
func dataConverter(cfg *config.Config, log *zap.Logger) (converter.DataConverter, error) {
	if cfg.PayloadKey == nil {
		return converter.GetDefaultDataConverter(), nil
	}
	cd, err := payloadCodec(cfg)
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_PAYLOAD_KEY: %w", err)
	}
	log.Info("workflow payloads are encrypted", zap.String("key_id", cd.KeyID()), zap.Strings("old_key_ids", cd.OldKeyIDs()))
	return cd.DataConverter(), nil
}

// newActivities builds the clients the activities use, from the settings.
// c and dc let the queue activities read LineBatch runs back (with the worker's converter).
// m counts pushes, callbacks and HubSpot calls (nil: not counted).
func newActivities(cfg *config.Config, log *zap.Logger, c client.Client, dc converter.DataConverter, m *metrics.Metrics) (*activities.Activities, error) {
	// Queue batches keep up to 128 pushes in flight per account: keep their connections
	// (net/http keeps 2 idle per host by default, and re-dialling cost the worker ~10% CPU).
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	hc := &http.Client{Timeout: 30 * time.Second, Transport: tr}
	timeline, err := cfg.TimelineMode()
	if err != nil {
		return nil, err
	}
	a := &activities.Activities{
		LINE:                    map[int]*line.Client{},
		TimelineEventTemplateID: cfg.HubSpotTimelineTemplateID,
		Timeline:                timeline,
		Logger:                  log.Named("activity"),
		Temporal:                c,
		DataConverter:           dc,
		Metrics:                 m,
	}
	for n, acct := range cfg.LineAccounts {
		c, err := line.NewClient(cfg.LineAPIBaseURL, acct.Token, hc)
		if err != nil {
			return nil, fmt.Errorf("LINE account %d: %w", n, err)
		}
		a.LINE[n] = c
	}
	a.LinePushRate = map[int]int{}
	for n := range cfg.LineAccounts {
		a.LinePushRate[n] = cfg.Queue.PushRate(n)
	}
	var tokens hubspot.TokenSource
	switch {
	case cfg.HubSpotRefreshToken != "":
		tokens = hubspot.NewOAuthRefresher(cfg.HubSpotAPIBaseURL, cfg.HubSpotClientID, cfg.HubSpotClientSecret, cfg.HubSpotRefreshToken, hc)
	case cfg.HubSpotAccessToken != "":
		tokens = hubspot.StaticToken(cfg.HubSpotAccessToken)
	case cfg.MultiPortal():
		tokens = nil // each portal's own token, from the database (useWorkerPortals)
	default:
		log.Warn("no HubSpot credentials (HUBSPOT_ACCESS_TOKEN or HUBSPOT_REFRESH_TOKEN): callbacks and timeline writes will fail until one is set")
		tokens = hubspot.StaticToken("")
	}
	allow, err := webhook.ParseAllowList(cfg.SendDataAllow)
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_SEND_DATA_ALLOW: %w", err)
	}
	a.Webhook = webhook.NewClient(webhook.Options{Allow: allow})
	a.HubSpot = hubspot.NewClient(hubspot.Options{
		BaseURL: cfg.HubSpotAPIBaseURL, Tokens: tokens, HTTPClient: hc, Logger: log.Named("hubspot"),
		RequestsPerInterval: cfg.HubSpotRateLimit, Interval: 10 * time.Second, Metrics: m,
	})
	switch timeline {
	case activities.TimelineNotes:
		log.Info("delivery history: a note on each contact (HUBLINE_TIMELINE=notes; needs the crm.objects.contacts.write scope)")
	case activities.TimelineOff:
		log.Info("delivery history is off (HUBLINE_TIMELINE=off): nothing is written to contacts")
	default:
		log.Info("delivery history: timeline events (HUBLINE_TIMELINE=events)")
	}
	if len(cfg.LineAccounts) == 0 {
		log.Warn("no LINE accounts (LINE_CHANNEL_ACCESS_TOKEN): every push will fail with unknown_line_account")
	}
	return a, nil
}

// newStarter builds the HTTP API from the settings, with the process's metrics and
// readiness checks (nil: its own).
func newStarter(cfg *config.Config, c client.Client, log *zap.Logger, m *metrics.Metrics, ready *readiness.Checks) *starter.Server {
	accounts := map[int]bool{}
	for n, a := range cfg.LineAccounts {
		accounts[n] = a.AggregationUnits
	}
	// Load validated the allow-list already.
	allow, _ := webhook.ParseAllowList(cfg.SendDataAllow)
	props := map[int]string{}
	for _, n := range cfg.AccountNumbers() {
		props[n] = cfg.LineUserIDProperty(n)
	}
	return starter.New(starter.Options{
		Temporal: c, Logger: log.Named("starter"), ClientSecret: cfg.HubSpotClientSecret, PublicURL: cfg.PublicURL,
		RequireSignatureV3: cfg.RequireSignatureV3, BlockExpiration: cfg.BlockExpiration, BlockExpirationISO: cfg.BlockExpirationISO, Accounts: accounts,
		SendDataAllow: allow, SendDataMaxAttempts: cfg.SendDataMaxAttempts, SendDataMaxBytes: cfg.SendDataMaxBytes, LineUserIDProperties: props, MaxInFlight: cfg.StarterMaxInFlight,
		Queue: queueOptions(cfg), Metrics: m, MetricsElsewhere: cfg.MetricsAddr != "", Ready: ready,
	})
}
