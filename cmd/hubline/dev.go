package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/internal/readiness"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// Sandbox credentials: what the worker presents to the local fakes.
const (
	sandboxLineToken    = "sandbox-line-token-"
	sandboxHubSpotToken = "sandbox-hubspot-token"
	sandboxTemplateID   = "sandbox-template"
	// Sandboxes are mounted on the starter's HTTP server, at stable addresses.
	lineSandboxPath    = "/sandbox/line"
	hubspotSandboxPath = "/sandbox/hubspot"
	codecPath          = "/codec"
	// devSendDataAllow opens the Send Data guard to loopback receivers only.
	devSendDataAllow = "localhost,127.0.0.0/8,::1/128"
)

func runDev(ctx context.Context, cfg *config.Config, stdout io.Writer) error {
	log, err := logging.New(true, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	logEffectiveConfig(log, "dev")
	cfg.MetricsAddr = "" // dev serves /metrics on HUBLINE_HTTP_ADDR, with everything else

	// Listen first: a busy port fails before the slow server start.
	l, err := net.Listen("tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen on %s (HUBLINE_HTTP_ADDR): %w", cfg.HTTPAddr, err)
	}
	defer l.Close()
	base := "http://" + l.Addr().String()
	if cfg.PublicURL == "http://"+cfg.HTTPAddr {
		cfg.PublicURL = base // HUBLINE_HTTP_ADDR may have asked for port 0
	}

	mux := http.NewServeMux()
	var lineBox *linesandbox.Server
	if len(cfg.LineAccounts) == 0 {
		tokens := map[string]string{}
		for n := 1; n <= 3; n++ {
			tokens[fmt.Sprintf("%s%d", sandboxLineToken, n)] = fmt.Sprintf("account %d", n)
			cfg.AddLineAccount(n, fmt.Sprintf("%s%d", sandboxLineToken, n))
		}
		lineBox = linesandbox.New(linesandbox.Options{Tokens: tokens})
		devLineFriends(cfg, lineBox, base, 3, log) // dev_friends.go
		devLineLogin(cfg, lineBox, base, log)
		mux.Handle(lineSandboxPath+"/", http.StripPrefix(lineSandboxPath, lineBox))
		cfg.LineAPIBaseURL = base + lineSandboxPath
	}
	hubspotBox := cfg.HubSpotAccessToken == "" && cfg.HubSpotRefreshToken == ""
	if hubspotBox {
		// Multi-portal mode (HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET without tokens): the
		// sandbox plays the app's HubSpot, install page included, so the install can be tried.
		multi := cfg.MultiPortal()
		mux.Handle(hubspotSandboxPath+"/", http.StripPrefix(hubspotSandboxPath,
			hubspotsandbox.New(hubspotsandbox.Options{AccessToken: sandboxHubSpotToken, OAuth: hubspotsandbox.OAuthOptions{
				ClientID: cfg.HubSpotClientID, ClientSecret: cfg.HubSpotClientSecret}})))
		cfg.HubSpotAPIBaseURL = base + hubspotSandboxPath
		if multi {
			if cfg.HubSpotAuthorizeURL == hubspot.DefaultAuthorizeURL {
				cfg.HubSpotAuthorizeURL = base + hubspotSandboxPath + "/oauth/authorize"
			}
		} else {
			cfg.HubSpotAccessToken = sandboxHubSpotToken
		}
		if cfg.Timeline == "events" && cfg.HubSpotTimelineTemplateID == "" {
			// Only when asked: new HubSpot apps cannot have templates, so dev writes notes.
			cfg.HubSpotTimelineTemplateID = sandboxTemplateID
		}
	}

	if cfg.SendDataAllow == "" {
		// Local receivers are what dev users test Send Data against; production keeps the guard shut.
		cfg.SendDataAllow = devSendDataAllow
		log.Info("Send Data may reach local receivers in dev", zap.String("HUBLINE_SEND_DATA_ALLOW", devSendDataAllow))
	}
	codecEndpoint := ""
	if cfg.PayloadKey != nil {
		// On loopback, the same codec endpoint as `hubline codec`, so the UI shows
		// encrypted payloads.
		cd, err := payloadCodec(cfg)
		if err != nil {
			return err
		}
		// For the embedded UI's pages only, as this address (HUBLINE_CODEC_ALLOWED_HOSTS).
		access, err := codecAccess(cfg.CodecAllowedHosts, "http://"+cfg.UIAddr, l.Addr().String())
		if err != nil {
			return err
		}
		codecEndpoint = base + codecPath
		mux.Handle(codecPath+"/", http.StripPrefix(codecPath, codecHandler(cd, access, log.Named("codec"))))
	}
	log.Info("starting embedded Temporal server", zap.String("address", cfg.TemporalAddress),
		zap.String("database", filepath.Join(cfg.DataDir, "temporal.db")))
	srv, err := devserver.Start(ctx, devserver.Config{
		Address: cfg.TemporalAddress, DatabaseFile: filepath.Join(cfg.DataDir, "temporal.db"),
		Namespace: cfg.TemporalNamespace, Retention: 7 * 24 * time.Hour,
		SearchAttributes: workflows.SearchAttributes(), UIAddress: cfg.UIAddr, Logger: log.Named("temporal-server"),
		UICodecEndpoint: codecEndpoint,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(); err != nil {
			log.Warn("temporal server stop", zap.Error(err))
		}
	}()

	dc, err := dataConverter(cfg, log)
	if err != nil {
		return err
	}
	// One registry: the starter's /metrics shows the worker's and the SDK's metrics too.
	m := metrics.New()
	sdkMetrics, closeSDKMetrics := m.Temporal(log)
	defer closeSDKMetrics.Close()
	ready := &readiness.Checks{Log: log}
	ctx = withReadiness(ctx, ready)
	// The embedded server speaks plaintext: TEMPORAL_TLS_* and TEMPORAL_API_KEY are for clusters.
	cfg.Temporal = config.TemporalConn{}
	c, err := dialWith(ctx, cfg, log, dc, withMetrics(sdkMetrics))
	if err != nil {
		return err
	}
	defer c.Close()
	acts, err := newActivities(cfg, log, c, dc, m)
	if err != nil {
		return err
	}
	lines, closeLines, err := openLineAccounts(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer closeLines()
	senders := workerLineAccounts(c, lines, acts, cfg, log)
	closeWorkerPortals, err := useWorkerPortals(ctx, cfg, log, acts, true)
	if err != nil {
		return err
	}
	defer closeWorkerPortals()
	// Both workers stop before the starter's server, which also carries the sandboxes their
	// activities may still be calling.
	hub, closeLineEvents, err := newHubWorkers(ctx, cfg, log, c, acts)
	if err != nil {
		return err
	}
	defer closeLineEvents()
	stopWorkers, err := worker.Start(hub,
		worker.NewLine(c, acts, cfg.AccountNumbers(), cfg.ShutdownTimeout), senders)
	if err != nil {
		return err
	}
	defer stopWorkers()

	if cfg.HubSpotClientSecret == "" {
		log.Warn("HUBSPOT_CLIENT_SECRET is unset: dev accepts UNSIGNED requests. Never expose this to the internet.")
	}
	st := newStarter(cfg, c, log, m, ready)
	st.UseLineAccounts(lines)
	useLineWebhook(cfg, st)
	closeStarterPortals, err := useStarterPortals(ctx, cfg, log, st, true)
	if err != nil {
		return err
	}
	defer closeStarterPortals()
	closeLogin, err := useLineLogin(ctx, cfg, log, st, true)
	if err != nil {
		return err
	}
	defer closeLogin()
	mux.Handle("/", st.Handler())

	serveCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- starter.Serve(serveCtx, l, mux, cfg.ShutdownTimeout, log) }()
	if hubspotBox {
		// Before the banner: contacts made from then on find the properties.
		devContactProperties(serveCtx, cfg, base, log)
	}
	printBanner(stdout, cfg, srv.UIURL(), base, codecEndpoint, lineBox != nil, hubspotBox)
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		stopWorkers()
		cancel()
		return <-errc
	case err := <-errc:
		return err
	}
}

// printBanner tells the user where everything is and gives a request to paste.
// codecEndpoint is "" without HUBLINE_PAYLOAD_KEY.
func printBanner(w io.Writer, cfg *config.Config, uiURL, base, codecEndpoint string, lineBox, hubspotBox bool) {
	callbackID := fmt.Sprintf("dev-%d", time.Now().UnixMilli())
	body, _ := json.Marshal(map[string]any{
		"callbackId": callbackID,
		"origin":     map[string]any{"portalId": 1, "actionDefinitionId": 1, "actionDefinitionVersion": 1},
		"context":    map[string]any{"source": "WORKFLOWS", "workflowId": 1},
		"object":     map[string]any{"objectId": 904, "objectType": "CONTACT", "properties": map[string]string{"firstname": "Aiko"}},
		"inputFields": map[string]string{
			"line_user_id": "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "message_1": "Hello {{contact.firstname}}, this is hubline!",
			"analytics_tag": "dev_sample",
		},
	})
	url := cfg.PublicURL + "/actions/send-line-message"
	sig := ""
	switch {
	case cfg.HubSpotClientSecret != "" && cfg.RequireSignatureV3:
		// v3 is timestamped: the printed command works for 5 minutes.
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		sig = fmt.Sprintf(" \\\n  -H 'X-HubSpot-Request-Timestamp: %s' -H 'X-HubSpot-Signature-v3: %s'",
			ts, hubspot.SignV3(cfg.HubSpotClientSecret, http.MethodPost, url, body, ts))
	case cfg.HubSpotClientSecret != "":
		sig = fmt.Sprintf(" \\\n  -H 'X-HubSpot-Signature-Version: v2' -H 'X-HubSpot-Signature: %s'",
			hubspot.SignV2(cfg.HubSpotClientSecret, http.MethodPost, url, body))
	}
	fmt.Fprintf(w, "\nhubline dev is ready.\n\n")
	fmt.Fprintf(w, "  Starter (HubSpot actions): %s/actions/send-line-message\n", base)
	fmt.Fprintf(w, "                             (also send-line-message-v2, send-line-message-queue, send-data,\n                              set-line-rich-menu, create-line-link)\n")
	fmt.Fprintf(w, "  Temporal UI:               %s/namespaces/%s/workflows\n", uiURL, cfg.TemporalNamespace)
	fmt.Fprintf(w, "  Temporal frontend:         %s (namespace %s)\n", cfg.TemporalAddress, cfg.TemporalNamespace)
	if codecEndpoint != "" {
		fmt.Fprintf(w, "  Codec endpoint:            %s (the Temporal UI decodes HUBLINE_PAYLOAD_KEY payloads through it)\n", codecEndpoint)
	}
	if lineBox {
		fmt.Fprintf(w, "  LINE sandbox (no LINE_CHANNEL_ACCESS_TOKEN): delivered messages at %s%s/sandbox\n", base, lineSandboxPath)
		fmt.Fprintf(w, "  LINE friends (follow, block, message: signed webhooks to the starter): %s%s/sandbox/friends\n", base, lineSandboxPath)
	}
	if cfg.MultiPortal() {
		fmt.Fprintf(w, "  Install into a portal:     %s/oauth/install (multi-portal mode; the sample below is portal 1)\n", cfg.PublicURL)
	}
	if hubspotBox {
		fmt.Fprintf(w, "  HubSpot sandbox (no HUBSPOT_ACCESS_TOKEN): callbacks, notes and timeline events at %s%s/sandbox\n", base, hubspotSandboxPath)
	}
	fmt.Fprintf(w, "\nSend a sample action:\n\ncurl -sS -X POST '%s' -H 'Content-Type: application/json'%s \\\n  -d '%s'\n\n", url, sig, body)
}
