package hubspot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/metrics"
)

// DefaultBaseURL is HubSpot's API host.
const DefaultBaseURL = "https://api.hubapi.com"

// batchSize is HubSpot's limit on inputs per batch call.
const batchSize = 100

// maxResponseBody caps successful response bodies (a 100-contact batch read
// with many properties is well under this).
const maxResponseBody = 8 << 20

// Operation names, used in errors and logs.
const (
	opCompleteCallback    = "complete callback"
	opCompleteCallbacks   = "complete callbacks (batch)"
	opCreateTimelineEvent = "create timeline event"
	opCreateTimelineBatch = "create timeline events (batch)"
	opReadContacts        = "read contacts (batch)"
)

// TokenSource supplies the bearer token for each request.
type TokenSource interface {
	Token(ctx context.Context) (string, error)
}

type staticToken string

func (s staticToken) Token(context.Context) (string, error) {
	if s == "" {
		return "", errors.New("hubspot: no access token configured")
	}
	return string(s), nil
}

// StaticToken returns a TokenSource for a fixed token (private app token or a
// long-lived test token).
func StaticToken(tok string) TokenSource { return staticToken(tok) }

// invalidator is implemented by token sources that can drop a cached token
// after HubSpot rejects it, so the next call fetches a fresh one.
type invalidator interface{ invalidate(tok string) }

type oauthRefresher struct {
	tokenURL     string
	clientID     string
	clientSecret string
	hc           *http.Client

	mu           sync.Mutex // held across the refresh so concurrent callers share one
	refreshToken string
	access       string
	validUntil   time.Time
}

// NewOAuthRefresher returns a TokenSource that trades a refresh token for
// access tokens at {baseURL}/oauth/v1/token and caches each until 60 s
// before it expires. Safe for concurrent use.
func NewOAuthRefresher(baseURL, clientID, clientSecret, refreshToken string, hc *http.Client) TokenSource {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	return &oauthRefresher{
		tokenURL: strings.TrimRight(baseURL, "/") + "/oauth/v1/token",
		clientID: clientID, clientSecret: clientSecret, refreshToken: refreshToken, hc: hc,
	}
}

func (o *oauthRefresher) Token(ctx context.Context) (string, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.access != "" && time.Now().Before(o.validUntil) {
		return o.access, nil
	}
	form := url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {o.clientID},
		"client_secret": {o.clientSecret},
		"refresh_token": {o.refreshToken},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("hubspot oauth refresh: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "hubline")
	resp, err := o.hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("hubspot oauth refresh: %w", err)
	}
	defer drainClose(resp.Body)
	body, err := readCapped(resp.Body, maxErrorBody)
	if err != nil {
		return "", fmt.Errorf("hubspot oauth refresh: reading response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		// The error body names the problem (e.g. BAD_REFRESH_TOKEN) but
		// never echoes the secrets we sent.
		return "", newAPIError("oauth token refresh", resp.StatusCode, body)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return "", errors.New("hubspot oauth refresh: response has no access_token")
	}
	life := time.Duration(tr.ExpiresIn) * time.Second
	if life > 2*time.Minute {
		life -= time.Minute
	} else {
		life /= 2 // very short-lived token: still reuse it briefly
	}
	o.access, o.validUntil = tr.AccessToken, time.Now().Add(life)
	if tr.RefreshToken != "" {
		o.refreshToken = tr.RefreshToken
	}
	return o.access, nil
}

func (o *oauthRefresher) invalidate(tok string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.access == tok {
		o.access = ""
	}
}

// Options configures a Client.
type Options struct {
	BaseURL string // default https://api.hubapi.com
	Tokens  TokenSource
	// PortalTokens, when set, supplies each portal's own token (multi-portal mode) and
	// takes precedence over Tokens.
	PortalTokens PortalTokenSource
	// Allowed, when set, refuses calls for other portals with ErrNotConnected
	// (HUBLINE_ALLOWED_PORTALS), whatever the token source.
	Allowed    func(portalID int64) bool
	HTTPClient *http.Client // default: 30 s timeout
	Logger     *zap.Logger
	// RequestsPerInterval per Interval is the per-portal budget we pace to
	// (default 100 per 10 s, HubSpot's smallest ten-secondly limit).
	RequestsPerInterval int
	Interval            time.Duration
	// Metrics counts calls by endpoint and outcome (nil: not counted).
	Metrics *metrics.Metrics
}

// Client calls the HubSpot API. Safe for concurrent use.
type Client struct {
	base     string
	tokens   TokenSource
	portals  PortalTokenSource
	allowed  func(int64) bool
	hc       *http.Client
	log      *zap.Logger
	rate     int
	interval time.Duration
	metrics  *metrics.Metrics

	mu       sync.Mutex
	limiters map[int64]*portalLimiter
}

// NewClient builds a Client, filling in defaults.
func NewClient(o Options) *Client {
	c := &Client{
		base: strings.TrimRight(o.BaseURL, "/"), tokens: o.Tokens, portals: o.PortalTokens, allowed: o.Allowed, hc: o.HTTPClient, log: o.Logger,
		rate: o.RequestsPerInterval, interval: o.Interval, limiters: map[int64]*portalLimiter{}, metrics: o.Metrics,
	}
	if c.base == "" {
		c.base = DefaultBaseURL
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 30 * time.Second}
	}
	if c.log == nil {
		c.log = zap.NewNop()
	}
	if c.rate <= 0 {
		c.rate = 100
	}
	if c.interval <= 0 {
		c.interval = 10 * time.Second
	}
	return c
}

type response struct {
	status int
	body   []byte
}

// do sends one JSON request through the portal's limiter. It returns an error
// only when no HTTP answer was obtained (or for 429, which it also turns into
// a hold on the portal); callers map other statuses themselves.
func (c *Client) do(ctx context.Context, portalID int64, op, method, path string, in any) (*response, error) {
	var payload []byte
	if in != nil {
		var err error
		if payload, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("hubspot %s: encoding request: %w", op, err)
		}
	}
	lim := c.limiter(portalID)
	if err := lim.Wait(ctx); err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			ae.Op = op
			return nil, ae
		}
		return nil, fmt.Errorf("hubspot %s: waiting for rate limiter: %w", op, err)
	}
	tok, err := c.token(ctx, portalID)
	if err != nil {
		return nil, fmt.Errorf("hubspot %s: getting access token: %w", op, err)
	}
	retried := false
retry:
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(payload))
	if err != nil {
		return nil, fmt.Errorf("hubspot %s: %w", op, err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hubline")

	start := time.Now()
	resp, err := c.hc.Do(req)
	if err != nil {
		c.metrics.HubSpotCall(endpointLabel(op), "no_answer")
		// url.Error includes the URL, which holds no secrets here.
		return nil, fmt.Errorf("hubspot %s: %w", op, err)
	}
	defer drainClose(resp.Body)
	limit := int64(maxResponseBody)
	if resp.StatusCode >= 300 {
		limit = maxErrorBody
	}
	body, err := readCapped(resp.Body, limit)
	if err != nil {
		return nil, fmt.Errorf("hubspot %s: reading response: %w", op, err)
	}
	lim.observe(resp.Header)
	c.metrics.HubSpotCall(endpointLabel(op), metrics.HTTPOutcome(resp.StatusCode))

	log := c.log.With(zap.String("op", op), zap.Int64("portal_id", portalID),
		zap.Int("status", resp.StatusCode), zap.Duration("elapsed", time.Since(start)))
	if resp.StatusCode >= 300 {
		log.Debug("hubspot request failed", zap.String("correlation_id", newAPIError(op, resp.StatusCode, body).CorrelationID))
	} else {
		log.Debug("hubspot request")
	}

	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		ae := newAPIError(op, resp.StatusCode, body)
		if strings.EqualFold(ae.PolicyName, "DAILY") {
			ae.RetryAfter = dailyHold
			lim.holdDaily()
		} else {
			d := retryAfterHeader(resp.Header)
			if d == 0 {
				if d = parseRateHeaders(resp.Header).interval; d == 0 {
					d = 10 * time.Second
				}
			}
			ae.RetryAfter = d
			lim.hold(d)
		}
		log.Warn("hubspot rate limit hit; holding portal", zap.String("policy", ae.PolicyName), zap.Duration("retry_after", ae.RetryAfter))
		return nil, ae
	case http.StatusUnauthorized:
		if inv, ok := c.tokens.(invalidator); ok && c.portals == nil {
			inv.invalidate(tok)
		}
		// A portal's token may have been revoked or replaced by a reinstall: drop it and try
		// once more with whatever the source holds now.
		if rj, ok := c.portals.(TokenRejecter); ok && !retried {
			rj.TokenRejected(portalID, tok)
			if next, err := c.token(ctx, portalID); err == nil && next != tok {
				tok, retried = next, true
				goto retry
			}
		}
	}
	return &response{status: resp.StatusCode, body: body}, nil
}

// endpointLabel turns an operation name into a metric label ("complete callbacks (batch)"
// becomes complete_callbacks_batch).
func endpointLabel(op string) string {
	return strings.NewReplacer(" (", "_", ")", "", " ", "_").Replace(op)
}

// UsePortals switches the client to per-portal tokens (multi-portal mode) when portals is
// not nil, and to refusing portals outside allowed when that is not nil. Call it before
// the client is used.
func (c *Client) UsePortals(portals PortalTokenSource, allowed func(portalID int64) bool) {
	if portals != nil {
		c.portals = portals
	}
	if allowed != nil {
		c.allowed = allowed
	}
}

// token returns the bearer token for portalID: the portal's own in multi-portal mode.
func (c *Client) token(ctx context.Context, portalID int64) (string, error) {
	if c.allowed != nil && !c.allowed(portalID) {
		return "", fmt.Errorf("%w: portal %d is not in HUBLINE_ALLOWED_PORTALS", ErrNotConnected, portalID)
	}
	if c.portals != nil {
		return c.portals.PortalToken(ctx, portalID)
	}
	if c.tokens == nil {
		return "", errors.New("no token source configured")
	}
	return c.tokens.Token(ctx)
}

func drainClose(rc io.ReadCloser) {
	// Draining a little lets the connection be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(rc, 4<<10))
	_ = rc.Close()
}

func ok2xx(status int) bool { return status >= 200 && status < 300 }

// CompleteCallback tells HubSpot a blocked workflow action execution is done.
// outputFields should include hs_execution_state (SUCCESS or FAIL_CONTINUE).
// If HubSpot no longer waits for the callback, the error wraps
// ErrCallbackNotPending.
func (c *Client) CompleteCallback(ctx context.Context, portalID int64, callbackID string, outputFields map[string]string) error {
	if outputFields == nil {
		outputFields = map[string]string{}
	}
	path := "/automation/v4/actions/callbacks/" + url.PathEscape(callbackID) + "/complete"
	resp, err := c.do(ctx, portalID, opCompleteCallback, http.MethodPost, path,
		map[string]any{"outputFields": outputFields})
	if err != nil {
		return err
	}
	if ok2xx(resp.status) {
		return nil
	}
	ae := newAPIError(opCompleteCallback, resp.status, resp.body)
	if callbackNotPending(ae) {
		return fmt.Errorf("%w: %w", ErrCallbackNotPending, ae)
	}
	return ae
}

func callbackNotPending(ae *APIError) bool {
	switch ae.StatusCode {
	case http.StatusNotFound, http.StatusGone:
		return true
	case http.StatusBadRequest:
		m := strings.ToLower(ae.Message)
		return strings.Contains(m, "already") && strings.Contains(m, "complete") ||
			strings.Contains(m, "expired") || strings.Contains(m, "not found") ||
			strings.Contains(m, "does not exist")
	}
	return false
}

// CallbackCompletion is one item of a batch completion.
type CallbackCompletion struct {
	CallbackID   string
	OutputFields map[string]string
}

// CompleteCallbacks completes many callbacks with as few calls as possible.
// The map holds a result for every callback attempted (nil = completed);
// per-item errors may wrap ErrCallbackNotPending. The error return is for
// failures of the whole call (auth, rate limit, 5xx, network); the map then
// holds the items finished before it.
func (c *Client) CompleteCallbacks(ctx context.Context, portalID int64, items []CallbackCompletion) (map[string]error, error) {
	results := make(map[string]error, len(items))
	for chunk := range slices.Chunk(items, batchSize) {
		inputs := make([]map[string]any, len(chunk))
		for i, it := range chunk {
			of := it.OutputFields
			if of == nil {
				of = map[string]string{}
			}
			inputs[i] = map[string]any{"callbackId": it.CallbackID, "outputFields": of}
		}
		resp, err := c.do(ctx, portalID, opCompleteCallbacks, http.MethodPost,
			"/automation/v4/actions/callbacks/complete", map[string]any{"inputs": inputs})
		if err != nil {
			return results, err
		}
		if ok2xx(resp.status) {
			for _, it := range chunk {
				results[it.CallbackID] = nil
			}
			continue
		}
		ae := newAPIError(opCompleteCallbacks, resp.status, resp.body)
		if ae.Auth() || ae.Retryable() || resp.status < 400 {
			return results, ae
		}
		// HubSpot rejects the whole batch when one item is bad (e.g. already
		// completed), so finish the chunk one by one to isolate it.
		c.log.Debug("batch completion rejected; completing one by one",
			zap.Int64("portal_id", portalID), zap.Int("items", len(chunk)), zap.Int("status", resp.status))
		for _, it := range chunk {
			err := c.CompleteCallback(ctx, portalID, it.CallbackID, it.OutputFields)
			if err != nil && !errors.Is(err, ErrCallbackNotPending) {
				var iae *APIError
				if !errors.As(err, &iae) || iae.Auth() || iae.Retryable() {
					return results, err
				}
			}
			results[it.CallbackID] = err
		}
	}
	return results, nil
}

// TimelineEvent is an event on a CRM record's timeline, rendered by the app's
// event template.
type TimelineEvent struct {
	// ID makes creation idempotent: HubSpot answers 409 for a repeated ID.
	ID              string
	EventTemplateID string
	ObjectID        int64
	Tokens          map[string]string
	ExtraData       any
	Timestamp       time.Time // zero = HubSpot uses the time of the call
}

type timelineEventJSON struct {
	ID              string            `json:"id,omitempty"`
	EventTemplateID string            `json:"eventTemplateId"`
	ObjectID        string            `json:"objectId"`
	Tokens          map[string]string `json:"tokens,omitempty"`
	ExtraData       any               `json:"extraData,omitempty"`
	Timestamp       string            `json:"timestamp,omitempty"`
}

func (ev TimelineEvent) toJSON() timelineEventJSON {
	j := timelineEventJSON{
		ID: ev.ID, EventTemplateID: ev.EventTemplateID, ObjectID: fmt.Sprint(ev.ObjectID),
		Tokens: ev.Tokens, ExtraData: ev.ExtraData,
	}
	if !ev.Timestamp.IsZero() {
		j.Timestamp = ev.Timestamp.UTC().Format("2006-01-02T15:04:05.000Z07:00")
	}
	return j
}

// CreateTimelineEvent creates one timeline event; an existing event with the
// same ID counts as success. HubSpot only accepts OAuth access tokens here.
func (c *Client) CreateTimelineEvent(ctx context.Context, portalID int64, ev TimelineEvent) error {
	resp, err := c.do(ctx, portalID, opCreateTimelineEvent, http.MethodPost, "/crm/v3/timeline/events", ev.toJSON())
	if err != nil {
		return err
	}
	if ok2xx(resp.status) || resp.status == http.StatusConflict {
		return nil
	}
	return newAPIError(opCreateTimelineEvent, resp.status, resp.body)
}

// CreateTimelineEvents creates events in batches of up to 100; duplicates
// (409) count as success.
func (c *Client) CreateTimelineEvents(ctx context.Context, portalID int64, evs []TimelineEvent) error {
	for chunk := range slices.Chunk(evs, batchSize) {
		inputs := make([]timelineEventJSON, len(chunk))
		for i, ev := range chunk {
			inputs[i] = ev.toJSON()
		}
		resp, err := c.do(ctx, portalID, opCreateTimelineBatch, http.MethodPost,
			"/crm/v3/timeline/events/batch/create", map[string]any{"inputs": inputs})
		if err != nil {
			return err
		}
		if !ok2xx(resp.status) && resp.status != http.StatusConflict {
			return newAPIError(opCreateTimelineBatch, resp.status, resp.body)
		}
	}
	return nil
}

// ReadContacts reads properties of contacts by ID. Unknown IDs are absent
// from the result; empty or null property values are omitted.
func (c *Client) ReadContacts(ctx context.Context, portalID int64, ids []string, properties []string) (map[string]map[string]string, error) {
	out := make(map[string]map[string]string, len(ids))
	seen := make(map[string]bool, len(ids))
	uniq := make([]string, 0, len(ids))
	for _, id := range ids {
		if id != "" && !seen[id] {
			seen[id] = true
			uniq = append(uniq, id)
		}
	}
	if properties == nil {
		properties = []string{}
	}
	for chunk := range slices.Chunk(uniq, batchSize) {
		inputs := make([]map[string]string, len(chunk))
		for i, id := range chunk {
			inputs[i] = map[string]string{"id": id}
		}
		resp, err := c.do(ctx, portalID, opReadContacts, http.MethodPost, "/crm/v3/objects/contacts/batch/read",
			map[string]any{"properties": properties, "inputs": inputs})
		if err != nil {
			return out, err
		}
		if resp.status == http.StatusNotFound {
			continue // none of this chunk exists
		}
		if !ok2xx(resp.status) {
			return out, newAPIError(opReadContacts, resp.status, resp.body)
		}
		var br struct {
			Results []struct {
				ID         string         `json:"id"`
				Properties map[string]any `json:"properties"`
			} `json:"results"`
		}
		if err := json.Unmarshal(resp.body, &br); err != nil {
			return out, fmt.Errorf("hubspot %s: decoding response: %w", opReadContacts, err)
		}
		for _, r := range br.Results {
			props := make(map[string]string, len(r.Properties))
			for k, v := range r.Properties {
				switch v := v.(type) {
				case nil:
				case string:
					if v != "" {
						props[k] = v
					}
				default:
					props[k] = fmt.Sprint(v)
				}
			}
			out[r.ID] = props
		}
	}
	return out, nil
}
