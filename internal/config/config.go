// Package config reads hubline's settings from environment variables. Every setting is
// declared once in Settings, which also drives `--help` and the table in docs/settings.md, so the
// documentation cannot drift from what the code reads.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/webhook"
)

// Setting documents one environment variable.
type Setting struct {
	Name    string
	Default string
	// Commands lists the subcommands that read it.
	Commands []string
	Usage    string
}

// Settings is every variable hubline reads. Numbered variants (_2, _3, ...) are described
// on their base name.
var Settings = []Setting{
	{"TEMPORAL_ADDRESS", "127.0.0.1:7233", []string{"dev", "worker", "starter", "queue"}, "Temporal frontend host:port. In dev, where the embedded server listens."},
	{"TEMPORAL_NAMESPACE", "default", []string{"dev", "worker", "starter", "queue"}, "Temporal namespace (dev creates it with 7 days retention)."},
	{"TEMPORAL_TLS_CERT", "", []string{"worker", "starter", "queue"}, "PEM file of the client certificate for mutual TLS to Temporal (an mTLS cluster, or Temporal Cloud with certificates), with TEMPORAL_TLS_KEY. Any TEMPORAL_TLS_* setting or TEMPORAL_API_KEY connects over TLS; a missing or unreadable file stops start-up."},
	{"TEMPORAL_TLS_KEY", "", []string{"worker", "starter", "queue"}, "PEM file of TEMPORAL_TLS_CERT's private key (one without the other stops start-up)."},
	{"TEMPORAL_TLS_CA", "", []string{"worker", "starter", "queue"}, "PEM file of the CA certificates that signed the Temporal frontend's certificate (a private cluster). Unset: the system's trusted roots (Temporal Cloud)."},
	{"TEMPORAL_TLS_SERVER_NAME", "", []string{"worker", "starter", "queue"}, "Name the Temporal frontend's certificate must carry when it is not TEMPORAL_ADDRESS's host (an IP address, a proxy). Unset: that host."},
	{"TEMPORAL_GRPC_COMPRESSION", "auto", []string{"dev", "worker", "starter", "queue"}, "gRPC compression of calls to Temporal: auto (none when TEMPORAL_ADDRESS is a loopback address, where gzip only costs CPU on both ends; gzip otherwise), gzip or none."},
	{"TEMPORAL_API_KEY", "", []string{"worker", "starter", "queue"}, "Temporal Cloud API key, sent as Authorization: Bearer on every call; never logged. It turns TLS on (with the system's roots unless TEMPORAL_TLS_CA is set): Temporal Cloud accepts API keys over TLS only. See docs/operations.md."},
	{"HUBLINE_HTTP_ADDR", "127.0.0.1:8080", []string{"dev", "starter"}, "Where the starter's HTTP server listens."},
	{"HUBLINE_UI_ADDR", "127.0.0.1:8233", []string{"dev"}, "Where the embedded Temporal Web UI listens."},
	{"HUBLINE_DATA_DIR", ".hubline", []string{"dev", "worker", "starter", "accounts", "portals", "hubspot"}, "Directory of the SQLite databases: dev's Temporal history (temporal.db) and, unless HUBLINE_DATABASE_URL is set, hubline's own (hubline.db: portals' tokens and stored LINE accounts, see docs/data.md), shared by the processes of one machine."},
	{"HUBLINE_DATABASE_URL", "", []string{"dev", "worker", "starter", "accounts", "portals", "hubspot"}, "PostgreSQL URL (postgres://user:password@host:5432/hubline?sslmode=require) of hubline's database: portals' OAuth tokens and stored LINE accounts (see docs/data.md). Every worker, starter and CLI of a deployment uses the same one. Unset: SQLite in HUBLINE_DATA_DIR (one machine only)."},
	{"HUBLINE_SECRET_KEY", "", []string{"dev", "worker", "starter", "accounts", "portals", "hubspot"}, "Base64 32-byte AES key (openssl rand -base64 32): encrypts OAuth tokens and LINE channel secrets in hubline's database. Same key everywhere, and back it up apart from the database: without it they cannot be read. Unset: dev generates one into HUBLINE_DATA_DIR/secret.key; other commands refuse to store or read secrets."},
	{"HUBLINE_SECRET_OLD_KEYS", "", []string{"dev", "worker", "starter", "accounts", "portals"}, "Comma-separated former HUBLINE_SECRET_KEY values (same format): secrets stored under them still decrypt, and every start re-encrypts them with HUBLINE_SECRET_KEY. Remove one only once every process runs with the new key (docs/operations.md)."},
	{"HUBLINE_PUBLIC_URL", "http://<HUBLINE_HTTP_ADDR>", []string{"dev", "starter", "hubspot"}, "Base URL HubSpot calls (scheme://host[:port]); HubSpot signatures cover the full URL, so set it behind a proxy."},
	{"HUBLINE_BLOCK_EXPIRATION", "P1D", []string{"dev", "starter"}, "ISO-8601 duration HubSpot keeps an action blocked (hs_expiration_duration); nothing is sent after it."},
	{"HUBLINE_INSECURE_SKIP_SIGNATURE", "false", []string{"starter"}, "true lets the starter run without HUBSPOT_CLIENT_SECRET (no signature checks). Never in production."},
	{"HUBLINE_REQUIRE_SIGNATURE_V3", "false", []string{"dev", "starter"}, "true refuses v2 signatures (401 signature_version_refused): only v3, whose timestamp stops a captured request being replayed after 5 minutes. Set it when your portal's requests carry X-HubSpot-Signature-v3. v1 is always refused."},
	{"HUBLINE_SHUTDOWN_TIMEOUT", "30s", []string{"dev", "worker", "starter", "codec"}, "How long shutdown waits for in-flight HTTP requests and running activities."},
	{"HUBLINE_LOG_LEVEL", "info", []string{"dev", "worker", "starter", "codec"}, "debug, info, warn or error."},
	{"HUBLINE_CPU_PROFILE", "", []string{"dev", "worker", "starter"}, "Diagnostics: write the process's CPU profile (for go tool pprof) to this file, from start until it exits. hubline bench queue --cpuprofile DIR sets it for each process it starts."},
	{"HUBLINE_PAYLOAD_KEY", "", []string{"dev", "worker", "starter", "queue", "codec"}, "Base64 32-byte AES key (openssl rand -base64 32): encrypts workflow payloads (message texts, LINE user IDs, Send Data secrets) before they reach Temporal. Same key on every worker and starter; unset: payloads are stored in clear."},
	{"HUBLINE_PAYLOAD_OLD_KEYS", "", []string{"dev", "worker", "starter", "queue", "codec"}, "Comma-separated former HUBLINE_PAYLOAD_KEY values (same format): payloads written under them still decrypt (runs in flight, redeliveries, the codec); new payloads use HUBLINE_PAYLOAD_KEY. Keep a key until no run written under it is open or retained (docs/operations.md)."},
	{"HUBLINE_WORKER_HEALTH_ADDR", "", []string{"worker"}, "host:port where the worker serves GET /healthz (the process answers) and /readyz (Temporal reachable; 503 once shutdown began). Unset: no HTTP endpoint."},
	{"HUBLINE_METRICS_ADDR", "", []string{"worker", "starter"}, "host:port where GET /metrics (Prometheus: hubline_... and the Temporal SDK's temporal_... metrics, see docs/operations.md) is served. The worker serves it only when set (the same address as HUBLINE_WORKER_HEALTH_ADDR: one listener serves both); the starter serves it on HUBLINE_HTTP_ADDR when unset, and only here when set, keeping it off the public action port. dev serves everything on its HUBLINE_HTTP_ADDR."},
	{"HUBLINE_CODEC_ADDR", "127.0.0.1:8081", []string{"codec"}, "Where hubline codec listens. The operator's browser calls it (the Temporal UI's codec endpoint), so keep it as private as the UI."},
	{"HUBLINE_CODEC_UI_ORIGIN", "http://127.0.0.1:8233", []string{"codec"}, "Origin (scheme://host[:port]) of the Temporal UI whose pages may call hubline codec (CORS); a request with any other Origin header is refused (403 origin_not_allowed)."},
	{"HUBLINE_CODEC_ALLOWED_HOSTS", "<HUBLINE_CODEC_ADDR>", []string{"dev", "codec"}, "Comma-separated host[:port] values of the Host header hubline codec answers (a host without a port: any port); others are refused (403 host_not_allowed), which defeats DNS rebinding. Default: the listen address, and when that is loopback or all addresses (0.0.0.0) localhost, 127.0.0.1 and [::1] at its port; in dev, the same for the /codec endpoint on HUBLINE_HTTP_ADDR."},
	{"HUBLINE_CODEC_TOKEN", "", []string{"codec"}, "When set, hubline codec accepts Authorization: Bearer <token> (temporal CLI: --codec-auth). With HUBLINE_CODEC_JWKS_URL too, either credential is accepted; with neither, none is asked for. The Temporal UI cannot send a fixed token: for the UI use HUBLINE_CODEC_JWKS_URL, or leave both unset and restrict who reaches the address."},
	{"HUBLINE_CODEC_JWKS_URL", "", []string{"codec"}, "JWKS URL of the identity provider the Temporal UI signs users in with (OIDC). When set, hubline codec accepts Authorization: Bearer <access token>, as the UI sends it with TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true, signed by a key listed there (RS256, ES256 and the other RS/PS/ES algorithms; refetched for an unknown key at most once a minute), unexpired, with the issuer and audience below."},
	{"HUBLINE_CODEC_JWT_ISSUER", "", []string{"codec"}, "Required with HUBLINE_CODEC_JWKS_URL: the iss claim access tokens must carry, exactly."},
	{"HUBLINE_CODEC_JWT_AUDIENCE", "", []string{"codec"}, "Required with HUBLINE_CODEC_JWKS_URL: a value the aud claim of access tokens must include."},
	{"HUBSPOT_CLIENT_SECRET", "", []string{"dev", "starter", "worker", "hubspot"}, "HubSpot app client secret: verifies request signatures (v3, else v2), signs OAuth install states, exchanges install codes and refreshes OAuth tokens."},
	{"HUBSPOT_ACCESS_TOKEN", "", []string{"dev", "worker", "starter", "hubspot"}, "Single-portal mode: HubSpot access token (OAuth or private app) for callbacks and timeline events; the starter uses it only to set a contact's LINE user ID after a LINE Login link. Setting it with HUBSPOT_CLIENT_ID stops start-up. Unset in dev: the HubSpot sandbox is used."},
	{"HUBSPOT_CLIENT_ID", "", []string{"dev", "worker", "starter", "hubspot"}, "HubSpot app client ID. With HUBSPOT_CLIENT_SECRET and neither HUBSPOT_ACCESS_TOKEN nor HUBSPOT_REFRESH_TOKEN: multi-portal mode (portals install hubline at /oauth/install; their tokens are kept in the database). With HUBSPOT_REFRESH_TOKEN: single-portal mode refreshing that token."},
	{"HUBSPOT_REFRESH_TOKEN", "", []string{"dev", "worker", "starter", "hubspot"}, "Single-portal mode: OAuth refresh token (with HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET); access tokens expire after 30 minutes and are refreshed with it. The starter uses it only to set a contact's LINE user ID after a LINE Login link."},
	{"HUBSPOT_SCOPES", "automation oauth crm.objects.contacts.read crm.objects.contacts.write crm.schemas.contacts.write timeline", []string{"dev", "starter"}, "Multi-portal mode: space-separated OAuth scopes /oauth/install asks for, all as required scopes (scope=); they must match the required scopes in the app's auth settings."},
	{"HUBSPOT_AUTHORIZE_URL", "https://app.hubspot.com/oauth/authorize", []string{"dev", "starter"}, "Multi-portal mode: HubSpot's install (authorize) page that /oauth/install redirects to. dev points it at the HubSpot sandbox's stand-in page."},
	{"HUBLINE_ALLOWED_PORTALS", "", []string{"dev", "starter", "worker", "hubspot"}, "Comma-separated HubSpot portal IDs that may use this deployment (install it, and run its actions); others get hubspot_not_connected. Unset: any portal. In single-portal mode set it to your portal."},
	{"HUBSPOT_API_BASE_URL", "https://api.hubapi.com", []string{"dev", "worker", "starter", "hubspot"}, "HubSpot API base URL (the starter uses it to exchange install codes)."},
	{"HUBSPOT_APP_ID", "", []string{"hubspot"}, "ID of your HubSpot public app (developer account, the app's page): hubline hubspot register registers the actions in hubspot/ with it."},
	{"HUBSPOT_DEVELOPER_API_KEY", "", []string{"hubspot"}, "Developer API key of the HubSpot developer account that owns the app, for hubline hubspot register only (sent as ?hapikey=, never printed). The running services do not need it."},
	{"HUBSPOT_RATE_LIMIT", "110", []string{"dev", "worker", "hubspot"}, "HubSpot API requests per 10 seconds per portal that this worker paces to (HubSpot allows OAuth apps 110; private apps 100-190). The worker also slows to a lower limit HubSpot announces in its rate-limit headers. Divide it among workers that share a portal."},
	{"HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID", "", []string{"dev", "worker"}, "Timeline event template for delivery history as timeline events (HUBLINE_TIMELINE=events). HubSpot keeps timeline events for apps that already have a template. Needs an OAuth token."},
	{"HUBLINE_TIMELINE", "", []string{"dev", "worker"}, "Delivery history on the contact: notes (a note on the contact, for any app; needs the crm.objects.contacts.write scope), events (timeline events; needs HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID) or off. Unset: events when HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID is set, else notes."},
	{"LINE_CHANNEL_ACCESS_TOKEN", "", []string{"dev", "worker", "starter", "hubspot"}, "LINE channel access token of account 1; _2, _3, ... add accounts. The starter reads which accounts exist, and the bot's basic ID for LINE Login. Unset in dev: the LINE sandbox is used."},
	{"LINE_CHANNEL_PORTAL", "", []string{"dev", "worker", "starter", "hubspot"}, "HubSpot portal ID that owns LINE account 1: only that portal's actions may send through it or list it; _2, _3, ... per account. Unset: any portal may use the account (single-tenant). Stored accounts belong to the portal that added them."},
	{"LINE_CUSTOM_AGGREGATION_UNITS", "false", []string{"dev", "starter"}, "true for accounts LINE approved for unit-based statistics (analytics tag sent as customAggregationUnits); _2, _3, ... per account."},
	{"LINE_CHANNEL_SECRET", "", []string{"dev", "starter"}, "Channel secret of LINE account 1: verifies the LINE webhooks it sends to POST /line/webhook/1 (x-line-signature); _2, _3, ... per account. Stored accounts use their stored secret. Unset: that account's webhooks are refused (401)."},
	{"HUBLINE_LINE_EVENT_FORWARD_URL", "", []string{"dev", "worker"}, "LINE webhooks: where account 1's message, postback and other events (not follow/unfollow) are forwarded, one signed POST per event through Send Data's guarded delivery (HUBLINE_SEND_DATA_ALLOW applies), so a chatbot can answer; _2, _3, ... per account. Unset: not forwarded."},
	{"HUBLINE_LINE_EVENT_FORWARD_SECRET", "", []string{"dev", "worker"}, "Secret that signs the forwarded events of account 1 (X-Hubline-Signature, as Send Data); _2, _3, ... per account. Unset: unsigned."},
	{"LINE_API_BASE_URL", "https://api.line.me", []string{"dev", "worker", "starter"}, "LINE Messaging API base URL (the starter calls it for LINE Login: the token endpoint and the bot's basic ID)."},
	{"HUBSPOT_LINE_USER_ID_PROPERTY", "line_user_id", []string{"dev", "starter", "hubspot"}, "Contact property holding account 1's LINE user ID for Send LINE Message (v2); _2, _3, ... per account (default line_user_id_<n>)."},
	{"HUBLINE_LINE_LINK_TTL", "30d", []string{"dev", "starter"}, "Create LINE link: how long a link it hands out stays usable, in whole days (30d) or as a Go duration (720h), from 1m to 366d. Opening a link consumes nothing: it works until then, however often it is opened."},
	{"LINE_LOGIN_AUTHORIZE_URL", "https://access.line.me/oauth2/v2.1/authorize", []string{"dev", "starter"}, "LINE Login's authorization page, where /line/link/<token> sends the browser. dev points it at the LINE sandbox's stand-in."},
	{"LINE_LOGIN_CHANNEL_ID", "", []string{"dev", "starter"}, "Channel ID of the LINE Login channel that links contacts of account 1 (under the same LINE provider as the account, with HUBLINE_PUBLIC_URL/line/login/callback as its callback URL); _2, _3, ... per account. Needs LINE_LOGIN_CHANNEL_SECRET, and HUBLINE_SECRET_KEY, which signs the links. Unset in dev: the LINE sandbox's login channel."},
	{"LINE_LOGIN_CHANNEL_SECRET", "", []string{"dev", "starter"}, "Channel secret of that LINE Login channel: exchanges login codes and verifies ID tokens; _2, _3, ... per account."},
	{"HUBLINE_SEND_DATA_ALLOW", "", []string{"dev", "worker", "starter"}, "Send Data: comma-separated exceptions to the request forgery guard. A CIDR range or IP opens those addresses; a host name opens ports for that name only (its addresses are still checked). Each may end in :port (IPv6 in brackets: [fd00::/8]:9000) to open that port only; without one, any port. Without an entry only ports 80, 443, 8080 and 8443 are called (e.g. localhost,127.0.0.0/8 for local receivers on any port)."},
	{"HUBLINE_SEND_DATA_MAX_ATTEMPTS", "10", []string{"dev", "starter"}, "Send Data: attempts per execution for connection errors, timeouts, 5xx and 429 (at least 1)."},
	{"HUBLINE_STARTER_MAX_IN_FLIGHT", "256", []string{"dev", "starter"}, "Action requests the starter hands to Temporal at once (1 to 100000). Past it the starter answers 429 overloaded with Retry-After: 1 at once, which HubSpot honours, so a burst beyond what Temporal takes becomes retries instead of timeouts, 503s and a growing starter."},
	{"HUBLINE_SEND_DATA_MAX_BYTES", "1048576", []string{"dev", "starter"}, "Send Data: most bytes the data may have once its contact tokens render (1 to 1048576); rendering stops there and the action ends FAIL_CONTINUE data_too_large."},
	{"LINE_PUSH_RATE", "1500", []string{"dev", "worker"}, "Send LINE Message by Queue: pushes per second for account 1 for the whole deployment (LINE allows 2,000); _2, _3, ... per account. Set the same value on every worker: the server holds account n's send-unit task queue hubline-line-<n> to it, however many workers poll."},
	{"HUBLINE_QUEUE_SHARDS", "1", []string{"dev", "starter", "queue"}, "Send LINE Message by Queue: queue workflows per LINE account (line-queue-<account>-<shard>). One queue takes an account's whole LINE rate, and each update it admits costs the Temporal server about the same whatever its size, so more shards only mean smaller, costlier updates (see docs/queue.md). Keep it the same on every starter and for hubline queue; deployments that ran with the former default keep 4 by setting it."},
	{"HUBLINE_QUEUE_BACKLOG", "2500", []string{"dev", "starter", "queue"}, "Send LINE Message by Queue: recipients (and at most 1 MiB of them) a shard may hold waiting for a batch, not counting those already sending; the queue workflow refuses the rest and the starter answers 429 with Retry-After. Applies to queues started afterwards."},
	{"HUBLINE_QUEUE_BATCH_SIZE", "200", []string{"dev", "starter", "queue"}, "Send LINE Message by Queue: recipients per LineBatch child workflow (1 to 500); applies to queues started afterwards."},
	{"HUBLINE_QUEUE_MAX_IN_FLIGHT", "8", []string{"dev", "starter", "queue"}, "Send LINE Message by Queue: LineBatch children sending at once per shard (batches still reporting to HubSpot may be 4 times as many); applies to queues started afterwards."},
}

// LineAccount is one connected LINE official account.
type LineAccount struct {
	Number           int
	Token            string
	AggregationUnits bool
	// PortalID is LINE_CHANNEL_PORTAL(_n): the only HubSpot portal that may use the account;
	// 0 lets any portal use it.
	PortalID int64
}

// Config is the parsed environment.
type Config struct {
	TemporalAddress       string
	TemporalNamespace     string
	HTTPAddr              string
	UIAddr                string
	WorkerHealthAddr      string
	MetricsAddr           string
	CodecAddr             string
	CodecUIOrigin         string
	CodecToken            string
	CodecAllowedHosts     string // as given, validated; empty: codec.DefaultHosts of the listen address
	CodecJWKSURL          string
	CodecJWTIssuer        string
	CodecJWTAudience      string
	DataDir               string
	DatabaseURL           string // empty: SQLite in DataDir
	SecretKey             string // HUBLINE_SECRET_KEY as given, validated; see store.LoadKeys
	SecretOldKeys         string // HUBLINE_SECRET_OLD_KEYS as given, validated; see store.Keys.WithOld
	Temporal              TemporalConn
	PublicURL             string
	BlockExpiration       time.Duration
	BlockExpirationISO    string
	InsecureSkipSignature bool
	RequireSignatureV3    bool
	ShutdownTimeout       time.Duration
	LogLevel              string

	HubSpotClientSecret        string
	HubSpotAccessToken         string
	HubSpotClientID            string
	HubSpotRefreshToken        string
	HubSpotAPIBaseURL          string
	HubSpotAppID               string // HUBSPOT_APP_ID (hubline hubspot register)
	HubSpotDeveloperAPIKey     string // HUBSPOT_DEVELOPER_API_KEY (hubline hubspot register)
	HubSpotTimelineTemplateID  string
	Timeline                   string // HUBLINE_TIMELINE as given ("", notes, events, off); see TimelineMode
	HubSpotRateLimit           int
	PayloadKey                 []byte
	PayloadOldKeys             [][]byte // HUBLINE_PAYLOAD_OLD_KEYS: decrypt only
	LineAPIBaseURL             string
	LineAccounts               map[int]LineAccount
	lineAggregationUnitsByAcct map[int]bool
	linePortals                map[int]int64

	// LineUserIDProperties maps account numbers to HUBSPOT_LINE_USER_ID_PROPERTY(_n) values
	// that were set; see LineUserIDProperty for the defaults.
	LineUserIDProperties map[int]string
	// LineChannelSecrets is LINE_CHANNEL_SECRET(_n) by account (verifies LINE webhooks);
	// LineEventForwards is HUBLINE_LINE_EVENT_FORWARD_URL/_SECRET(_n) (line_webhook.go).
	LineChannelSecrets map[int]string
	LineEventForwards  map[int]LineEventForward
	// LINE Login linking (line_login.go).
	LineLinkTTL           time.Duration
	LineLoginAuthorizeURL string
	LineLogins            map[int]LineLogin
	// SendDataAllow is HUBLINE_SEND_DATA_ALLOW as given (validated by Load).
	SendDataAllow       string
	SendDataMaxAttempts int
	SendDataMaxBytes    int
	// StarterMaxInFlight is HUBLINE_STARTER_MAX_IN_FLIGHT.
	StarterMaxInFlight int

	// Queue holds the Send LINE Message by Queue settings.
	Queue QueueConfig

	// HubSpotScopes is HUBSPOT_SCOPES split; HubSpotAuthorizeURL the install page.
	HubSpotScopes       []string
	HubSpotAuthorizeURL string
	// AllowedPortals is HUBLINE_ALLOWED_PORTALS; nil means every portal.
	AllowedPortals map[int64]bool
}

// LineUserIDProperty is the contact property holding account n's LINE user ID.
func (c *Config) LineUserIDProperty(n int) string {
	if p := c.LineUserIDProperties[n]; p != "" {
		return p
	}
	if n <= 1 {
		return "line_user_id"
	}
	return "line_user_id_" + strconv.Itoa(n)
}

// FromEnv reads the process environment.
func FromEnv() (*Config, error) { return Load(os.Environ()) }

// Load parses KEY=VALUE pairs. Errors name the offending variable.
func Load(environ []string) (*Config, error) {
	env := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	get := func(name string) string {
		// An empty value counts as unset, as compose files and shells often pass them.
		if v := strings.TrimSpace(env[name]); v != "" {
			return v
		}
		for _, s := range Settings {
			// A default naming another setting (<NAME>) is worked out where it is used.
			if s.Name == name && !strings.Contains(s.Default, "<") {
				return s.Default
			}
		}
		return ""
	}
	var errs []error
	c := &Config{
		TemporalAddress:           get("TEMPORAL_ADDRESS"),
		TemporalNamespace:         get("TEMPORAL_NAMESPACE"),
		HTTPAddr:                  get("HUBLINE_HTTP_ADDR"),
		UIAddr:                    get("HUBLINE_UI_ADDR"),
		WorkerHealthAddr:          get("HUBLINE_WORKER_HEALTH_ADDR"),
		MetricsAddr:               get("HUBLINE_METRICS_ADDR"),
		CodecAddr:                 get("HUBLINE_CODEC_ADDR"),
		CodecUIOrigin:             strings.TrimRight(get("HUBLINE_CODEC_UI_ORIGIN"), "/"),
		CodecToken:                get("HUBLINE_CODEC_TOKEN"),
		CodecAllowedHosts:         get("HUBLINE_CODEC_ALLOWED_HOSTS"),
		CodecJWKSURL:              get("HUBLINE_CODEC_JWKS_URL"),
		CodecJWTIssuer:            get("HUBLINE_CODEC_JWT_ISSUER"),
		CodecJWTAudience:          get("HUBLINE_CODEC_JWT_AUDIENCE"),
		DataDir:                   get("HUBLINE_DATA_DIR"),
		DatabaseURL:               get("HUBLINE_DATABASE_URL"),
		SecretKey:                 get("HUBLINE_SECRET_KEY"),
		PublicURL:                 strings.TrimRight(get("HUBLINE_PUBLIC_URL"), "/"),
		BlockExpirationISO:        get("HUBLINE_BLOCK_EXPIRATION"),
		LogLevel:                  strings.ToLower(get("HUBLINE_LOG_LEVEL")),
		HubSpotClientSecret:       get("HUBSPOT_CLIENT_SECRET"),
		HubSpotAccessToken:        get("HUBSPOT_ACCESS_TOKEN"),
		HubSpotClientID:           get("HUBSPOT_CLIENT_ID"),
		HubSpotRefreshToken:       get("HUBSPOT_REFRESH_TOKEN"),
		HubSpotAPIBaseURL:         strings.TrimRight(get("HUBSPOT_API_BASE_URL"), "/"),
		HubSpotAppID:              get("HUBSPOT_APP_ID"),
		HubSpotDeveloperAPIKey:    get("HUBSPOT_DEVELOPER_API_KEY"),
		HubSpotTimelineTemplateID: get("HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID"),
		LineAPIBaseURL:            strings.TrimRight(get("LINE_API_BASE_URL"), "/"),
		LineAccounts:              map[int]LineAccount{},
	}
	for _, a := range []struct{ name, val string }{
		{"TEMPORAL_ADDRESS", c.TemporalAddress}, {"HUBLINE_HTTP_ADDR", c.HTTPAddr}, {"HUBLINE_UI_ADDR", c.UIAddr},
		{"HUBLINE_CODEC_ADDR", c.CodecAddr}, {"HUBLINE_WORKER_HEALTH_ADDR", c.WorkerHealthAddr}, {"HUBLINE_METRICS_ADDR", c.MetricsAddr},
	} {
		if a.val == "" { // only the optional ones have no default
			continue
		}
		if _, _, err := net.SplitHostPort(a.val); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: want host:port", a.name, a.val))
		}
	}
	for _, u := range []struct{ name, val string }{
		{"HUBLINE_PUBLIC_URL", c.PublicURL}, {"HUBSPOT_API_BASE_URL", c.HubSpotAPIBaseURL}, {"LINE_API_BASE_URL", c.LineAPIBaseURL},
	} {
		if u.val == "" {
			continue
		}
		p, err := url.Parse(u.val)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("%s=%q: want an http(s) URL such as https://example.com", u.name, u.val))
		}
	}
	if p, err := url.Parse(c.CodecUIOrigin); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" ||
		p.Path != "" || p.RawQuery != "" {
		errs = append(errs, fmt.Errorf("HUBLINE_CODEC_UI_ORIGIN=%q: want an origin such as https://temporal-ui.example.com (no path)", c.CodecUIOrigin))
	}
	if c.PublicURL == "" {
		c.PublicURL = "http://" + c.HTTPAddr
	}
	d, err := ParseISODuration(c.BlockExpirationISO)
	if err != nil {
		errs = append(errs, fmt.Errorf("HUBLINE_BLOCK_EXPIRATION=%q: %w", c.BlockExpirationISO, err))
	} else if d < time.Minute {
		errs = append(errs, fmt.Errorf("HUBLINE_BLOCK_EXPIRATION=%q: must be at least one minute", c.BlockExpirationISO))
	}
	c.BlockExpiration = d
	if c.InsecureSkipSignature, err = parseBool("HUBLINE_INSECURE_SKIP_SIGNATURE", get("HUBLINE_INSECURE_SKIP_SIGNATURE")); err != nil {
		errs = append(errs, err)
	}
	if c.RequireSignatureV3, err = parseBool("HUBLINE_REQUIRE_SIGNATURE_V3", get("HUBLINE_REQUIRE_SIGNATURE_V3")); err != nil {
		errs = append(errs, err)
	}
	if c.CodecAllowedHosts != "" {
		if _, err := codec.ParseHosts(c.CodecAllowedHosts); err != nil {
			errs = append(errs, fmt.Errorf("HUBLINE_CODEC_ALLOWED_HOSTS: %w", err))
		}
	}
	if c.CodecJWKSURL != "" {
		if p, err := url.Parse(c.CodecJWKSURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("HUBLINE_CODEC_JWKS_URL=%q: want an http(s) URL such as https://idp.example.com/.well-known/jwks.json", c.CodecJWKSURL))
		}
		if c.CodecJWTIssuer == "" || c.CodecJWTAudience == "" {
			errs = append(errs, errors.New("HUBLINE_CODEC_JWKS_URL needs HUBLINE_CODEC_JWT_ISSUER and HUBLINE_CODEC_JWT_AUDIENCE: tokens of any issuer or audience would pass"))
		}
	} else if c.CodecJWTIssuer != "" || c.CodecJWTAudience != "" {
		errs = append(errs, errors.New("HUBLINE_CODEC_JWT_ISSUER and HUBLINE_CODEC_JWT_AUDIENCE go with HUBLINE_CODEC_JWKS_URL: set it, or unset them"))
	}
	if c.ShutdownTimeout, err = time.ParseDuration(get("HUBLINE_SHUTDOWN_TIMEOUT")); err != nil || c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("HUBLINE_SHUTDOWN_TIMEOUT=%q: want a positive Go duration such as 30s", get("HUBLINE_SHUTDOWN_TIMEOUT")))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("HUBLINE_LOG_LEVEL=%q: want debug, info, warn or error", c.LogLevel))
	}
	if c.SecretKey != "" {
		if _, err := codec.ParseKey(c.SecretKey); err != nil {
			errs = append(errs, fmt.Errorf("HUBLINE_SECRET_KEY: %w", err)) // never echo the key
		}
	}
	// The URL may hold a password: errors never echo it. pgx also takes "key=value" strings.
	if scheme, _, ok := strings.Cut(c.DatabaseURL, "://"); ok && scheme != "postgres" && scheme != "postgresql" {
		errs = append(errs, fmt.Errorf("HUBLINE_DATABASE_URL: scheme %q: want a PostgreSQL URL (postgres://user:password@host:5432/hubline)", scheme))
	}
	if k := get("HUBLINE_PAYLOAD_KEY"); k != "" {
		if c.PayloadKey, err = codec.ParseKey(k); err != nil {
			errs = append(errs, fmt.Errorf("HUBLINE_PAYLOAD_KEY: %w", err)) // never echo the key
		}
	}
	switch c.Timeline = strings.ToLower(get("HUBLINE_TIMELINE")); c.Timeline {
	case "", "notes", "events", "off":
	default:
		errs = append(errs, fmt.Errorf("HUBLINE_TIMELINE=%q: want notes, events or off", get("HUBLINE_TIMELINE")))
	}
	if n, err := strconv.ParseUint(c.HubSpotAppID, 10, 64); c.HubSpotAppID != "" && (err != nil || n == 0) {
		errs = append(errs, fmt.Errorf("HUBSPOT_APP_ID=%q: want the app's numeric ID", c.HubSpotAppID))
	}
	if c.HubSpotRateLimit, err = strconv.Atoi(get("HUBSPOT_RATE_LIMIT")); err != nil || c.HubSpotRateLimit < 1 {
		errs = append(errs, fmt.Errorf("HUBSPOT_RATE_LIMIT=%q: want a whole number of requests per 10 seconds, at least 1", get("HUBSPOT_RATE_LIMIT")))
	}
	errs = append(errs, c.loadHubSpotApp(get)...)

	// Accounts: LINE_CHANNEL_ACCESS_TOKEN is account 1, LINE_CHANNEL_ACCESS_TOKEN_<n> account n.
	units := map[int]bool{}
	for k, v := range env {
		if n, ok := numbered(k, "LINE_CHANNEL_ACCESS_TOKEN"); ok {
			if n == 0 {
				errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
				continue
			}
			if strings.TrimSpace(v) != "" {
				c.LineAccounts[n] = LineAccount{Number: n, Token: strings.TrimSpace(v)}
			}
		}
		if n, ok := numbered(k, "LINE_CUSTOM_AGGREGATION_UNITS"); ok {
			b, err := parseBool(k, strings.TrimSpace(v))
			if err != nil {
				errs = append(errs, err)
			}
			units[n] = b
		}
	}
	c.lineAggregationUnitsByAcct = units
	c.linePortals = map[int]int64{}
	for k, v := range env {
		n, ok := numbered(k, "LINE_CHANNEL_PORTAL")
		if !ok || strings.TrimSpace(v) == "" {
			continue
		}
		p, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch {
		case n == 0:
			errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
		case err != nil || p < 1:
			errs = append(errs, fmt.Errorf("%s=%q: want a HubSpot portal ID (a positive whole number)", k, strings.TrimSpace(v)))
		default:
			c.linePortals[n] = p
		}
	}

	c.LineUserIDProperties = map[int]string{}
	for k, v := range env {
		if n, ok := numbered(k, "HUBSPOT_LINE_USER_ID_PROPERTY"); ok {
			v = strings.TrimSpace(v)
			switch {
			case n == 0:
				errs = append(errs, fmt.Errorf("%s: account numbers start at 2 for numbered variables", k))
			case v != "" && strings.Trim(strings.ToLower(v), "abcdefghijklmnopqrstuvwxyz0123456789_") != "":
				errs = append(errs, fmt.Errorf("%s=%q: want a HubSpot property internal name (letters, digits, _)", k, v))
			case v != "":
				c.LineUserIDProperties[n] = v
			}
		}
	}
	c.SendDataAllow = get("HUBLINE_SEND_DATA_ALLOW")
	if _, err := webhook.ParseAllowList(c.SendDataAllow); err != nil {
		errs = append(errs, fmt.Errorf("HUBLINE_SEND_DATA_ALLOW=%q: %w", c.SendDataAllow, err))
	}
	if c.SendDataMaxAttempts, err = strconv.Atoi(get("HUBLINE_SEND_DATA_MAX_ATTEMPTS")); err != nil || c.SendDataMaxAttempts < 1 || c.SendDataMaxAttempts > 1000 {
		errs = append(errs, fmt.Errorf("HUBLINE_SEND_DATA_MAX_ATTEMPTS=%q: want a whole number from 1 to 1000", get("HUBLINE_SEND_DATA_MAX_ATTEMPTS")))
	}
	// At most 1 MiB: the rendered body travels base64-encoded in the workflow input, and
	// Temporal refuses payloads over 2 MB.
	if c.StarterMaxInFlight, err = strconv.Atoi(get("HUBLINE_STARTER_MAX_IN_FLIGHT")); err != nil || c.StarterMaxInFlight < 1 || c.StarterMaxInFlight > 100000 {
		errs = append(errs, fmt.Errorf("HUBLINE_STARTER_MAX_IN_FLIGHT=%q: want a whole number from 1 to 100000", get("HUBLINE_STARTER_MAX_IN_FLIGHT")))
	}
	if c.SendDataMaxBytes, err = strconv.Atoi(get("HUBLINE_SEND_DATA_MAX_BYTES")); err != nil || c.SendDataMaxBytes < 1 || c.SendDataMaxBytes > 1<<20 {
		errs = append(errs, fmt.Errorf("HUBLINE_SEND_DATA_MAX_BYTES=%q: want a whole number from 1 to 1048576", get("HUBLINE_SEND_DATA_MAX_BYTES")))
	}
	errs = append(errs, c.loadQueue(env, get)...)
	errs = append(errs, c.loadLineWebhooks(env)...)
	errs = append(errs, c.loadLineLogin(env, get)...)
	errs = append(errs, c.loadTemporalConn(get)...)
	errs = append(errs, c.loadOldKeys(get)...)
	for n, a := range c.LineAccounts {
		a.AggregationUnits = units[n]
		a.PortalID = c.linePortals[n]
		c.LineAccounts[n] = a
	}
	return c, errors.Join(errs...)
}

// MultiPortal reports multi-portal mode: an app's client ID and secret, and no
// single-portal token. Portals then install hubline through /oauth/install.
func (c *Config) MultiPortal() bool {
	return c.HubSpotClientID != "" && c.HubSpotClientSecret != "" && c.HubSpotAccessToken == "" && c.HubSpotRefreshToken == ""
}

// PortalAllowed reports whether HUBLINE_ALLOWED_PORTALS lets portalID use this deployment.
func (c *Config) PortalAllowed(portalID int64) bool {
	return c.AllowedPortals == nil || c.AllowedPortals[portalID]
}

// loadHubSpotApp reads the HubSpot mode and install settings. The modes: HUBSPOT_ACCESS_TOKEN
// (single portal, fixed token); HUBSPOT_CLIENT_ID + HUBSPOT_CLIENT_SECRET +
// HUBSPOT_REFRESH_TOKEN (single portal, refreshed token); HUBSPOT_CLIENT_ID +
// HUBSPOT_CLIENT_SECRET alone (multi-portal). An access token next to a client ID mixes
// two modes and stops start-up.
func (c *Config) loadHubSpotApp(get func(string) string) []error {
	var errs []error
	switch {
	case c.HubSpotAccessToken != "" && c.HubSpotClientID != "":
		errs = append(errs, errors.New("HUBSPOT_ACCESS_TOKEN and HUBSPOT_CLIENT_ID are both set, which mixes two modes: "+
			"HUBSPOT_ACCESS_TOKEN alone is single-portal mode; HUBSPOT_CLIENT_ID with HUBSPOT_CLIENT_SECRET is multi-portal mode "+
			"(or, with HUBSPOT_REFRESH_TOKEN, single-portal refresh mode). Unset the one you do not use"))
	case c.HubSpotRefreshToken != "" && c.HubSpotClientID == "":
		errs = append(errs, errors.New("HUBSPOT_REFRESH_TOKEN needs HUBSPOT_CLIENT_ID (and HUBSPOT_CLIENT_SECRET) to refresh access tokens"))
	case c.HubSpotClientID != "" && c.HubSpotClientSecret == "":
		errs = append(errs, errors.New("HUBSPOT_CLIENT_ID needs HUBSPOT_CLIENT_SECRET: multi-portal mode (or, with HUBSPOT_REFRESH_TOKEN, single-portal refresh mode) uses both"))
	}
	c.HubSpotScopes = strings.Fields(get("HUBSPOT_SCOPES"))
	for _, sc := range c.HubSpotScopes {
		if strings.Trim(strings.ToLower(sc), "abcdefghijklmnopqrstuvwxyz0123456789._-") != "" {
			errs = append(errs, fmt.Errorf("HUBSPOT_SCOPES: %q is not a HubSpot scope name (letters, digits, . _ -; separate scopes with spaces)", sc))
		}
	}
	c.HubSpotAuthorizeURL = get("HUBSPOT_AUTHORIZE_URL")
	if p, err := url.Parse(c.HubSpotAuthorizeURL); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		errs = append(errs, fmt.Errorf("HUBSPOT_AUTHORIZE_URL=%q: want an http(s) URL such as https://app.hubspot.com/oauth/authorize", c.HubSpotAuthorizeURL))
	}
	if v := get("HUBLINE_ALLOWED_PORTALS"); v != "" {
		c.AllowedPortals = map[int64]bool{}
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil || n <= 0 {
				errs = append(errs, fmt.Errorf("HUBLINE_ALLOWED_PORTALS=%q: want comma-separated HubSpot portal IDs such as 102670506,20001", v))
				break
			}
			c.AllowedPortals[n] = true
		}
	}
	return errs
}

// TimelineMode resolves HUBLINE_TIMELINE: notes, events or off; unset means events when
// HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID is set, else notes. Events without a template is an
// error (dev invents a sandbox template first, so it is checked here and not in Load).
func (c *Config) TimelineMode() (string, error) {
	switch {
	case c.Timeline == "" && c.HubSpotTimelineTemplateID != "":
		return "events", nil
	case c.Timeline == "":
		return "notes", nil
	case c.Timeline == "events" && c.HubSpotTimelineTemplateID == "":
		return "", errors.New("HUBLINE_TIMELINE=events needs HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID (the app's timeline event template); set it, or use HUBLINE_TIMELINE=notes, which any app can write")
	}
	return c.Timeline, nil
}

// AddLineAccount registers an account (used by dev to point at the LINE sandbox), keeping
// the unit-statistics and portal settings read from the environment.
func (c *Config) AddLineAccount(n int, token string) {
	c.LineAccounts[n] = LineAccount{Number: n, Token: token, AggregationUnits: c.lineAggregationUnitsByAcct[n], PortalID: c.linePortals[n]}
}

// AggregationUnits is LINE_CUSTOM_AGGREGATION_UNITS(_n) for account n, also for accounts
// that are not environment accounts (stored ones).
func (c *Config) AggregationUnits(n int) bool { return c.lineAggregationUnitsByAcct[n] }

// AccountNumbers lists configured accounts in order.
func (c *Config) AccountNumbers() []int {
	var ns []int
	for n := range c.LineAccounts {
		ns = append(ns, n)
	}
	sort.Ints(ns)
	return ns
}

// numbered reports whether key is base (account 1, n=1) or base_<n> with n >= 2; n=0 flags
// a numbered variable with a bad number.
func numbered(key, base string) (int, bool) {
	if key == base {
		return 1, true
	}
	rest, ok := strings.CutPrefix(key, base+"_")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(rest)
	if err != nil {
		return 0, false
	}
	if n < 2 {
		return 0, true
	}
	return n, true
}

func parseBool(name, v string) (bool, error) {
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%s=%q: want true or false", name, v)
	}
	return b, nil
}

// ParseISODuration parses the ISO-8601 durations HubSpot uses (PnW, PnDTnHnMnS). Years and
// months are refused: their length depends on the calendar.
func ParseISODuration(s string) (time.Duration, error) {
	rest, ok := strings.CutPrefix(strings.ToUpper(s), "P")
	if !ok || rest == "" {
		return 0, errors.New("want an ISO-8601 duration such as P1D or PT12H")
	}
	var total time.Duration
	inTime := false
	num := ""
	seen := false
	for _, r := range rest {
		switch {
		case r >= '0' && r <= '9':
			num += string(r)
		case r == 'T':
			if inTime || num != "" {
				return 0, errors.New("misplaced T")
			}
			inTime = true
		default:
			if num == "" {
				return 0, fmt.Errorf("missing number before %q", r)
			}
			n, err := strconv.ParseInt(num, 10, 64)
			if err != nil || n > 100000 {
				return 0, errors.New("number too large")
			}
			num = ""
			var unit time.Duration
			switch {
			case !inTime && r == 'W':
				unit = 7 * 24 * time.Hour
			case !inTime && r == 'D':
				unit = 24 * time.Hour
			case inTime && r == 'H':
				unit = time.Hour
			case inTime && r == 'M':
				unit = time.Minute
			case inTime && r == 'S':
				unit = time.Second
			case !inTime && (r == 'Y' || r == 'M'):
				return 0, errors.New("years and months are not supported: use days (e.g. P30D)")
			default:
				return 0, fmt.Errorf("unexpected %q", r)
			}
			total += time.Duration(n) * unit
			seen = true
		}
	}
	if num != "" || !seen {
		return 0, errors.New("want an ISO-8601 duration such as P1D or PT12H")
	}
	return total, nil
}

// Help renders the settings a command reads, for `--help`.
func Help(command string) string {
	var b strings.Builder
	b.WriteString("Settings (environment variables):\n")
	for _, s := range Settings {
		if command != "" && !contains(s.Commands, command) {
			continue
		}
		def := s.Default
		if def == "" {
			def = "unset"
		}
		fmt.Fprintf(&b, "  %s (default %s)\n      %s\n", s.Name, def, s.Usage)
	}
	return b.String()
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}
