// Package testenv assembles hubline for integration tests: a real in-process Temporal
// server (temporaltest), the real worker and starter, and the LINE and HubSpot sandboxes as
// HTTP fakes. Only tests import it.
package testenv

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
	"time"

	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/server/common/dynamicconfig"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/internal/webhook"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// Secret is the HubSpot client secret the test starter verifies signatures with.
const Secret = "test-client-secret"

// Options tune an Env.
type Options struct {
	// NoWorker leaves the worker stopped (start it with StartWorker).
	NoWorker bool
	// HubSpot configures the HubSpot sandbox.
	HubSpot hubspotsandbox.Options
	// LINE configures the LINE sandbox (tokens are set by the Env).
	LINE linesandbox.Options
	// Accounts maps account number → unit-based statistics; default {1: false}.
	Accounts map[int]bool
	// BlockExpiration defaults to 24h.
	BlockExpiration time.Duration
	// StarterNow overrides the starter's clock.
	StarterNow func() time.Time
	// SendDataAllow is HUBLINE_SEND_DATA_ALLOW for the worker and starter (e.g.
	// "127.0.0.1/32" for httptest receivers). Default: nothing allowed.
	SendDataAllow string
	// SendDataMaxAttempts is HUBLINE_SEND_DATA_MAX_ATTEMPTS (default 10).
	SendDataMaxAttempts int
	// LineUserIDProperties is HUBSPOT_LINE_USER_ID_PROPERTY(_n) by account.
	LineUserIDProperties map[int]string
	// DynamicConfig overrides the Temporal server's dynamic config (e.g. lowered history
	// limits, so a test reaches them with a small load).
	DynamicConfig map[string]any
	// Timeline is HUBLINE_TIMELINE for the worker (default events, with a test template).
	Timeline string
	// Logger, when set, is the one logger of the whole hubline, as cmd/hubline passes it
	// down: starter, activities, HubSpot client, and the Temporal client's SDK adapter
	// (worker and SDK logs). Default: a test logger at warn level, the SDK's logs apart.
	Logger *zap.Logger
	// ClientSecret is HUBSPOT_CLIENT_SECRET for the starter, which Post signs with
	// (default Secret).
	ClientSecret string
	// LineTokens overrides accounts' channel access tokens (default line-token-<n>).
	LineTokens map[int]string
	// PayloadKey, when set, encrypts workflow payloads as HUBLINE_PAYLOAD_KEY does.
	PayloadKey []byte
	// LineChannelSecrets is LINE_CHANNEL_SECRET(_n) by account (LINE webhooks).
	LineChannelSecrets map[int]string
	// LineEventForwards is HUBLINE_LINE_EVENT_FORWARD_URL/_SECRET(_n) by account.
	LineEventForwards map[int]activities.LineEventForward
}

// Env is one running hubline.
type Env struct {
	t          testing.TB
	Temporal   *temporaltest.TestServer
	Client     client.Client
	LINE       *linesandbox.Server
	HubSpot    *hubspotsandbox.Server
	Activities *activities.Activities
	// LineEvents are the LINE webhook activities, on Store (SQLite in a temporary directory).
	LineEvents *activities.LineEvents
	Store      *store.Store
	Starter    *httptest.Server
	Logger     *zap.Logger
	worker     worker.Group
	now        func() time.Time
	secret     string
}

// New starts everything; it is torn down with the test.
func New(t testing.TB, o Options) *Env {
	t.Helper()
	if o.Accounts == nil {
		o.Accounts = map[int]bool{1: false}
	}
	if o.BlockExpiration == 0 {
		o.BlockExpiration = 24 * time.Hour
	}
	e := &Env{t: t, Logger: o.Logger, now: time.Now, secret: cmp.Or(o.ClientSecret, Secret)}
	if e.Logger == nil {
		e.Logger = zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	}
	if o.LineTokens == nil {
		o.LineTokens = map[int]string{}
	}
	for n := range o.Accounts {
		if o.LineTokens[n] == "" {
			o.LineTokens[n] = lineToken(n)
		}
	}
	var dc converter.DataConverter
	if o.PayloadKey != nil {
		cd, err := codec.New(o.PayloadKey)
		if err != nil {
			t.Fatalf("PayloadKey: %v", err)
		}
		dc = cd.DataConverter()
	}
	if o.StarterNow != nil {
		e.now = o.StarterNow
	}
	var serverOpts []temporaltest.TestServerOption
	if len(o.DynamicConfig) > 0 {
		dc := dynamicconfig.StaticClient{
			// temporaltest's own setting, kept: searches see attributes added just before.
			dynamicconfig.ForceSearchAttributesCacheRefreshOnRead.Key(): []dynamicconfig.ConstrainedValue{{Value: true}},
		}
		for k, v := range o.DynamicConfig {
			dc[dynamicconfig.MakeKey(k)] = []dynamicconfig.ConstrainedValue{{Value: v}}
		}
		serverOpts = append(serverOpts, temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(dc)))
	}
	if o.Logger != nil || dc != nil {
		co := client.Options{DataConverter: dc}
		if o.Logger != nil {
			co.Logger = logging.Temporal(o.Logger.Named("temporal"))
		}
		serverOpts = append(serverOpts, temporaltest.WithBaseClientOptions(co))
	}
	e.Temporal = temporaltest.NewServer(append(serverOpts, temporaltest.WithT(t.(*testing.T)))...)
	e.Client = e.Temporal.GetDefaultClient()
	AddSearchAttributes(t, e.Client, e.Temporal.GetDefaultNamespace())

	tokens := map[string]string{}
	for n := range o.Accounts {
		tokens[o.LineTokens[n]] = "account " + strconv.Itoa(n)
	}
	o.LINE.Tokens = tokens
	e.LINE = linesandbox.New(o.LINE)
	lineSrv := httptest.NewServer(e.LINE)
	t.Cleanup(lineSrv.Close)
	if o.HubSpot.AccessToken == "" {
		o.HubSpot.AccessToken = "hubspot-test-token"
	}
	e.HubSpot = hubspotsandbox.New(o.HubSpot)
	hsSrv := httptest.NewServer(e.HubSpot)
	t.Cleanup(hsSrv.Close)

	hc := &http.Client{Timeout: 10 * time.Second}
	e.Activities = &activities.Activities{
		LINE:                    map[int]*line.Client{},
		TimelineEventTemplateID: "test-template",
		Timeline:                cmp.Or(o.Timeline, activities.TimelineEvents),
		NoteSearchSettle:        time.Second,
		Logger:                  e.Logger,
		DataConverter:           dc,
		HubSpot: hubspot.NewClient(hubspot.Options{
			BaseURL: hsSrv.URL, Tokens: hubspot.StaticToken(o.HubSpot.AccessToken), HTTPClient: hc, Logger: e.Logger,
		}),
	}
	allow, err := webhook.ParseAllowList(o.SendDataAllow)
	if err != nil {
		t.Fatalf("SendDataAllow: %v", err)
	}
	e.Activities.Webhook = webhook.NewClient(webhook.Options{Allow: allow, Timeout: 10 * time.Second})
	for n := range o.Accounts {
		c, err := line.NewClient(lineSrv.URL, o.LineTokens[n], hc)
		if err != nil {
			t.Fatal(err)
		}
		e.Activities.LINE[n] = c
	}
	e.Store, err = store.Open(context.Background(), "", t.TempDir(), nil, e.Logger)
	if err != nil {
		t.Fatalf("store: %v", err)
	}
	t.Cleanup(func() { e.Store.Close() })
	e.LineEvents = &activities.LineEvents{Activities: e.Activities, Store: e.Store, Forwards: o.LineEventForwards, SearchSettle: time.Second}
	if !o.NoWorker {
		e.StartWorker()
	}
	st := starter.New(starter.Options{
		Temporal: e.Client, Logger: e.Logger, ClientSecret: e.secret, BlockExpiration: o.BlockExpiration,
		BlockExpirationISO: "PT" + strconv.Itoa(int(o.BlockExpiration.Seconds())) + "S", Accounts: o.Accounts, Now: o.StarterNow,
		SendDataAllow: allow, SendDataMaxAttempts: o.SendDataMaxAttempts, LineUserIDProperties: o.LineUserIDProperties,
		LineWebhook: starter.LineWebhookOptions{Secrets: o.LineChannelSecrets},
	})
	e.Starter = httptest.NewUnstartedServer(st.Handler())
	e.Starter.Start()
	t.Cleanup(e.Starter.Close)
	// Signatures cover the public URL; in tests that is the httptest server's own.
	st.SetPublicURL(e.Starter.URL)
	return e
}

func lineToken(n int) string { return fmt.Sprintf("line-token-%d", n) }

// StartWorker starts the hubline worker (idempotent).
func (e *Env) StartWorker() {
	if e.worker != nil {
		return
	}
	e.Activities.Temporal = e.Client
	e.worker = worker.New(e.Client, e.Activities, 5*time.Second)
	e.worker.RegisterLineEvents(e.LineEvents)
	if err := e.worker.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(e.StopWorker)
}

// StopWorker stops the worker, as a deploy or crash would.
func (e *Env) StopWorker() {
	if e.worker != nil {
		e.worker.Stop()
		e.worker = nil
	}
}

// AddSearchAttributes registers hubline's search attributes (temporaltest adds none).
func AddSearchAttributes(t testing.TB, c client.Client, namespace string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: namespace, SearchAttributes: workflows.SearchAttributes(),
	})
	if err != nil {
		t.Fatalf("add search attributes: %v", err)
	}
}

// Response is a decoded starter answer.
type Response struct {
	Status       int
	OutputFields map[string]string `json:"outputFields"`
	Error        struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Raw string
}

// Post sends body to the starter, signed with HubSpot's v3 scheme.
func (e *Env) Post(path string, body any) Response {
	e.t.Helper()
	b, ok := body.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(body); err != nil {
			e.t.Fatal(err)
		}
	}
	req, err := http.NewRequest(http.MethodPost, e.Starter.URL+path, bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	SignV3With(req, b, e.now(), e.secret)
	return Do(e.t, req)
}

// SignV3 adds HubSpot v3 signature headers for the test secret.
func SignV3(req *http.Request, body []byte, at time.Time) { SignV3With(req, body, at, Secret) }

// SignV3With adds HubSpot v3 signature headers for secret.
func SignV3With(req *http.Request, body []byte, at time.Time, secret string) {
	ts := strconv.FormatInt(at.UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", hubspot.SignV3(secret, req.Method, req.URL.String(), body, ts))
}

// HTTP is the client tests use against the starter: a hung answer fails the test
// instead of holding the whole package until its timeout.
var HTTP = &http.Client{Timeout: 60 * time.Second}

// Do sends a request and decodes the starter's answer.
func Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	resp, err := HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	r := Response{Status: resp.StatusCode, Raw: string(raw)}
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("answer is not JSON (%d): %s", resp.StatusCode, raw)
	}
	return r
}

// Action builds a Send LINE Message request body.
func Action(callbackID string, inputs map[string]string, props map[string]string) map[string]any {
	return map[string]any{
		"callbackId":  callbackID,
		"origin":      map[string]any{"portalId": 102670506, "actionDefinitionId": 10646377, "actionDefinitionVersion": 1},
		"context":     map[string]any{"source": "WORKFLOWS", "workflowId": 192814114},
		"object":      map[string]any{"objectId": 904, "objectType": "CONTACT", "properties": props},
		"inputFields": inputs,
	}
}

// UserID is a valid LINE user ID for tests.
const UserID = "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"

// Eventually polls cond until it holds or the deadline passes.
func Eventually(t testing.TB, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Result waits for a workflow's result.
func (e *Env) Result(workflowID string, out any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return e.Client.GetWorkflow(ctx, workflowID, "").Get(ctx, out)
}

// WriteHistory saves a workflow run's history as JSON for replay tests ("" runID: the latest run).
func (e *Env) WriteHistory(workflowID, runID, path string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	it := e.Client.GetWorkflowHistory(ctx, workflowID, runID, false, 0)
	h := &historypb.History{}
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		h.Events = append(h.Events, ev)
	}
	b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
