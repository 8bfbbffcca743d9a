package line

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/line/line-bot-sdk-go/v8/linebot/messaging_api"
)

// DefaultBaseURL is the production LINE API endpoint.
const DefaultBaseURL = "https://api.line.me"

// Request limits documented by LINE.
const (
	MaxMessagesPerRequest = 5
	MaxMulticastTo        = 500
)

// monthlyLimitMessage is the 429 body message that distinguishes the monthly
// quota from the per-second rate limit.
const monthlyLimitMessage = "You have reached your monthly limit."

// Client sends messages for one LINE channel. It is safe for concurrent use.
type Client struct {
	baseURL string
	token   string
	hc      *http.Client
}

// NewClient returns a client for one channel. hc nil uses a client with a
// 30 s timeout (http.DefaultClient has none); baseURL "" uses DefaultBaseURL.
func NewClient(baseURL, channelToken string, hc *http.Client) (*Client, error) {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{baseURL: strings.TrimRight(baseURL, "/"), token: channelToken, hc: hc}
	// Validate token and URL now so Push cannot fail on configuration.
	if _, err := c.api(context.Background()); err != nil {
		return nil, err
	}
	return c, nil
}

// api builds a fresh SDK client per call: the SDK stores the context on the
// client (WithContext mutates it), so a shared one would race across
// goroutines. Construction only parses the endpoint URL, so it is cheap.
func (c *Client) api(ctx context.Context) (*messaging_api.MessagingApiAPI, error) {
	api, err := messaging_api.NewMessagingApiAPI(c.token,
		messaging_api.WithEndpoint(c.baseURL),
		messaging_api.WithHTTPClient(c.hc))
	if err != nil {
		return nil, fmt.Errorf("line: creating client: %w", err)
	}
	return api.WithContext(ctx), nil
}

// PushRequest is one push message call.
type PushRequest struct {
	To                   string
	Messages             []json.RawMessage // validated LINE message objects, sent verbatim
	AggregationUnit      string            // optional customAggregationUnits name
	NotificationDisabled bool
	RetryKey             string // required UUID: makes retries idempotent at LINE
}

// MulticastRequest is one multicast call (up to 500 recipients).
type MulticastRequest struct {
	To                   []string
	Messages             []json.RawMessage
	AggregationUnit      string
	NotificationDisabled bool
	RetryKey             string
}

// PushResult describes an accepted request. For a fresh acceptance
// AcceptedRequestID equals RequestID; for a duplicate (409) it is the ID of the
// earlier request that LINE accepted with the same retry key.
type PushResult struct {
	RequestID         string
	AcceptedRequestID string
	Duplicate         bool
	SentMessageIDs    []string
}

// ErrorKind classifies API errors by what the caller should do.
type ErrorKind int

const (
	KindRetryable    ErrorKind = iota // 5xx: retry with backoff
	KindRateLimited                   // 429 rate limit: retry with backoff
	KindMonthlyLimit                  // 429 monthly quota: pause, retrying will not help
	KindInvalid                       // 400, 404, 413, other 4xx, or refused locally: do not retry
	KindAuth                          // 401, 403: fix the token/channel
)

func (k ErrorKind) String() string {
	switch k {
	case KindRetryable:
		return "retryable"
	case KindRateLimited:
		return "rate_limited"
	case KindMonthlyLimit:
		return "monthly_limit"
	case KindInvalid:
		return "invalid"
	case KindAuth:
		return "auth"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Detail is one entry of a LINE error body's details.
type Detail struct {
	Message  string
	Property string
}

// APIError is a LINE error response, or (StatusCode 0, KindInvalid) a request
// refused locally before sending. Errors other than *APIError returned by
// Push/Multicast are transport failures and safe to retry with the same key.
type APIError struct {
	StatusCode int
	Kind       ErrorKind
	Message    string
	Details    []Detail
	RequestID  string
}

func (e *APIError) Error() string {
	var b strings.Builder
	if e.StatusCode == 0 {
		fmt.Fprintf(&b, "line: request refused before sending (%s): %s", e.Kind, clip(e.Message, 200))
		return b.String()
	}
	// LINE's messages and details describe fields, not content; clip them
	// anyway so an unexpected echo cannot flood logs.
	fmt.Fprintf(&b, "line: HTTP %d (%s): %s", e.StatusCode, e.Kind, clip(e.Message, 200))
	for i, d := range e.Details {
		if i == 5 {
			fmt.Fprintf(&b, "; and %d more", len(e.Details)-i)
			break
		}
		fmt.Fprintf(&b, "; %s: %s", clip(d.Property, 60), clip(d.Message, 120))
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request id %s)", e.RequestID)
	}
	return b.String()
}

// Retryable reports whether the same request may succeed later with backoff.
func (e *APIError) Retryable() bool {
	return e.Kind == KindRetryable || e.Kind == KindRateLimited
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Back up to a rune boundary.
	for n > 0 && n < len(s) && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "..."
}

func refused(format string, a ...any) error {
	return &APIError{Kind: KindInvalid, Message: fmt.Sprintf(format, a...)}
}

// rawMessage hands an already-validated message object to the SDK verbatim.
// Going through the SDK's typed structs would be lossy (unknown fields and
// omitempty on struct-typed fields change the JSON).
type rawMessage struct {
	typ string
	raw json.RawMessage
}

func (m rawMessage) GetType() string              { return m.typ }
func (m rawMessage) MarshalJSON() ([]byte, error) { return m.raw, nil }

func toSDKMessages(msgs []json.RawMessage) ([]messaging_api.MessageInterface, error) {
	if len(msgs) == 0 || len(msgs) > MaxMessagesPerRequest {
		return nil, refused("a request needs 1 to %d messages, got %d", MaxMessagesPerRequest, len(msgs))
	}
	out := make([]messaging_api.MessageInterface, len(msgs))
	for i, m := range msgs {
		var head struct {
			Type string `json:"type"`
		}
		if !json.Valid(m) || json.Unmarshal(m, &head) != nil || head.Type == "" {
			return nil, refused("messages[%d] is not a JSON message object with a type", i)
		}
		out[i] = rawMessage{typ: head.Type, raw: m}
	}
	return out, nil
}

func checkCommon(retryKey, unit string) ([]string, error) {
	// The SDK always sets the header; an empty one is a 400 at LINE and a
	// non-UUID one loses idempotency, so refuse both before sending.
	if retryKey == "" {
		return nil, refused("retry key is required")
	}
	if _, err := uuid.Parse(retryKey); err != nil || len(retryKey) != 36 {
		return nil, refused("retry key must be a UUID in 8-4-4-4-12 form")
	}
	if unit == "" {
		// nil marshals as "customAggregationUnits":null, which is what the SDK
		// sends for every caller that does not use units; never send [""].
		return nil, nil
	}
	if !ValidAggregationUnit(unit) {
		return nil, refused("aggregation unit must match ^[a-zA-Z0-9_]{1,30}$")
	}
	return []string{unit}, nil
}

// Push sends messages to one user.
func (c *Client) Push(ctx context.Context, r PushRequest) (PushResult, error) {
	units, err := checkCommon(r.RetryKey, r.AggregationUnit)
	if err != nil {
		return PushResult{}, err
	}
	if !ValidUserID(r.To) {
		return PushResult{}, refused("to is not a valid LINE user ID")
	}
	msgs, err := toSDKMessages(r.Messages)
	if err != nil {
		return PushResult{}, err
	}
	api, err := c.api(ctx)
	if err != nil {
		return PushResult{}, err
	}
	res, body, err := api.PushMessageWithHttpInfo(&messaging_api.PushMessageRequest{
		To:                     r.To,
		Messages:               msgs,
		NotificationDisabled:   r.NotificationDisabled,
		CustomAggregationUnits: units,
	}, r.RetryKey)
	if err != nil {
		return handleFailure(res, err)
	}
	out := PushResult{RequestID: res.Header.Get("X-Line-Request-Id")}
	out.AcceptedRequestID = out.RequestID
	if body != nil {
		for _, m := range body.SentMessages {
			out.SentMessageIDs = append(out.SentMessageIDs, m.Id)
		}
	}
	return out, nil
}

// Multicast sends messages to up to 500 users.
func (c *Client) Multicast(ctx context.Context, r MulticastRequest) (PushResult, error) {
	units, err := checkCommon(r.RetryKey, r.AggregationUnit)
	if err != nil {
		return PushResult{}, err
	}
	if len(r.To) == 0 || len(r.To) > MaxMulticastTo {
		return PushResult{}, refused("multicast needs 1 to %d recipients, got %d", MaxMulticastTo, len(r.To))
	}
	for i, to := range r.To {
		if !ValidUserID(to) {
			return PushResult{}, refused("to[%d] is not a valid LINE user ID", i)
		}
	}
	msgs, err := toSDKMessages(r.Messages)
	if err != nil {
		return PushResult{}, err
	}
	api, err := c.api(ctx)
	if err != nil {
		return PushResult{}, err
	}
	res, _, err := api.MulticastWithHttpInfo(&messaging_api.MulticastRequest{
		To:                     r.To,
		Messages:               msgs,
		NotificationDisabled:   r.NotificationDisabled,
		CustomAggregationUnits: units,
	}, r.RetryKey)
	if err != nil {
		return handleFailure(res, err)
	}
	id := res.Header.Get("X-Line-Request-Id")
	return PushResult{RequestID: id, AcceptedRequestID: id}, nil
}

// handleFailure maps an SDK error to a duplicate success, an *APIError, or a
// wrapped transport error. The SDK's own error text embeds the response body,
// so it is only used when there is no HTTP status to report.
func handleFailure(res *http.Response, err error) (PushResult, error) {
	if res == nil {
		return PushResult{}, fmt.Errorf("line: request failed: %w", err)
	}
	var raw []byte
	if res.Body != nil {
		raw, _ = io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
	}
	if res.StatusCode/100 == 2 {
		// 2xx but the SDK failed (e.g. undecodable body): LINE accepted the
		// request, so report success rather than provoke a resend.
		id := res.Header.Get("X-Line-Request-Id")
		return PushResult{RequestID: id, AcceptedRequestID: id}, nil
	}
	var body messaging_api.ErrorResponse
	_ = json.NewDecoder(bytes.NewReader(raw)).Decode(&body)

	if res.StatusCode == http.StatusConflict && isRetryKeyAccepted(body.Message) {
		out := PushResult{
			RequestID:         res.Header.Get("X-Line-Request-Id"),
			AcceptedRequestID: res.Header.Get("X-Line-Accepted-Request-Id"),
			Duplicate:         true,
		}
		for _, m := range body.SentMessages {
			out.SentMessageIDs = append(out.SentMessageIDs, m.Id)
		}
		return out, nil
	}

	return PushResult{}, newAPIError(res, body)
}

// newAPIError classifies a non-2xx response whose body was decoded into body.
func newAPIError(res *http.Response, body messaging_api.ErrorResponse) *APIError {
	apiErr := &APIError{
		StatusCode: res.StatusCode,
		Kind:       classify(res.StatusCode, body.Message),
		Message:    body.Message,
		RequestID:  res.Header.Get("X-Line-Request-Id"),
	}
	if apiErr.Message == "" {
		apiErr.Message = http.StatusText(res.StatusCode)
	}
	for _, d := range body.Details {
		apiErr.Details = append(apiErr.Details, Detail{Message: d.Message, Property: d.Property})
	}
	return apiErr
}

// Quota is the channel's monthly message quota and this month's usage.
type Quota struct {
	Limited bool  // false: no monthly target limit (Limit is then 0)
	Limit   int64 // messages allowed this month, when Limited
	Used    int64 // messages sent this month (a multicast counts once per recipient)
}

// Remaining is Limit-Used, floored at 0; meaningful only when Limited.
func (q Quota) Remaining() int64 {
	return max(q.Limit-q.Used, 0)
}

// Quota reads the monthly quota (GET /v2/bot/message/quota) and consumption
// (GET /v2/bot/message/quota/consumption). Errors are classified like Push's:
// an *APIError for an HTTP error status, otherwise a transport or decoding
// failure.
func (c *Client) Quota(ctx context.Context) (Quota, error) {
	api, err := c.api(ctx) // own SDK client: safe alongside concurrent pushes
	if err != nil {
		return Quota{}, err
	}
	res, q, err := api.GetMessageQuotaWithHttpInfo()
	if err != nil {
		return Quota{}, readFailure("quota", res, err)
	}
	var out Quota
	switch q.Type {
	case messaging_api.QuotaType_NONE:
	case messaging_api.QuotaType_LIMITED:
		out.Limited, out.Limit = true, q.Value
	default:
		return Quota{}, fmt.Errorf("line: quota: unexpected type %q", clip(string(q.Type), 40))
	}
	res, u, err := api.GetMessageQuotaConsumptionWithHttpInfo()
	if err != nil {
		return Quota{}, readFailure("quota consumption", res, err)
	}
	out.Used = u.TotalUsage
	return out, nil
}

// readFailure maps a failed SDK read call to an *APIError (HTTP error status)
// or a wrapped transport/decoding error. Unlike handleFailure there is no
// success to salvage: a 2xx here means the body could not be decoded.
func readFailure(what string, res *http.Response, err error) error {
	if res == nil || res.StatusCode/100 == 2 {
		return fmt.Errorf("line: %s request failed: %w", what, err)
	}
	var raw []byte
	if res.Body != nil {
		raw, _ = io.ReadAll(io.LimitReader(res.Body, 64<<10))
		res.Body.Close()
	}
	var body messaging_api.ErrorResponse
	_ = json.NewDecoder(bytes.NewReader(raw)).Decode(&body)
	return newAPIError(res, body)
}

func isRetryKeyAccepted(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "retry key") && strings.Contains(m, "already accepted")
}

func classify(status int, msg string) ErrorKind {
	switch {
	case status >= 500:
		return KindRetryable
	case status == http.StatusTooManyRequests:
		if strings.EqualFold(strings.TrimSpace(msg), monthlyLimitMessage) {
			return KindMonthlyLimit
		}
		return KindRateLimited
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return KindAuth
	case status >= 400:
		return KindInvalid
	}
	// 1xx/3xx are not expected from LINE; treat as transient.
	return KindRetryable
}
