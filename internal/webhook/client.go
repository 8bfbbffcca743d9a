package webhook

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hubline/hubline/internal/version"
)

// MaxResponseBytes caps how much of a receiver's answer is read.
const MaxResponseBytes = 64 << 10

// UserAgent is sent with every Send Data request.
const UserAgent = "hubline/" + version.Version

// maxRetryAfter bounds a receiver's Retry-After; the workflow's deadline bounds it too.
const maxRetryAfter = time.Hour

// Options configure a Client.
type Options struct {
	// Allow opens guard exceptions (HUBLINE_SEND_DATA_ALLOW).
	Allow *AllowList
	// Timeout bounds one request, from dial to the end of the (capped) body. Default 30 s.
	Timeout time.Duration
	// Now is the clock for signatures and Retry-After dates.
	Now func() time.Time
}

// Client sends Send Data requests through the guard: no proxy, no redirects, every dialled
// address checked. Safe for concurrent use.
type Client struct {
	allow *AllowList
	hc    *http.Client
	now   func() time.Time
}

// NewClient builds a Client.
func NewClient(o Options) *Client {
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Allow == nil {
		o.Allow = &AllowList{}
	}
	tr := &http.Transport{
		Proxy:                 nil, // proxy environment variables are ignored on purpose
		DialContext:           o.Allow.dialContext(net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}),
		ForceAttemptHTTP2:     true,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
	}
	return &Client{
		allow: o.Allow,
		now:   o.Now,
		hc: &http.Client{
			Transport: tr,
			Timeout:   o.Timeout,
			// A 3xx is the answer: following it could lead anywhere, including inside.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Request is one delivery attempt.
type Request struct {
	URL         string
	Body        []byte
	ContentType string
	// Secret signs the request when set.
	Secret string
	// IdempotencyKey is the same on every attempt of one execution.
	IdempotencyKey string
}

// Response is the receiver's answer.
type Response struct {
	Status int
	// Body is at most MaxResponseBytes.
	Body []byte
	// RetryAfter is the receiver's Retry-After (seconds or HTTP date), 0 when absent.
	RetryAfter time.Duration
}

// Send makes one attempt. Errors are *URLError or *DestinationError (never worth
// retrying) or a transport failure (stripped of the URL, which may hold secrets).
func (c *Client) Send(ctx context.Context, r Request) (*Response, error) {
	u, err := CheckURL(r.URL, c.allow)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(r.Body))
	if err != nil {
		return nil, &URLError{"cannot build a request for it"}
	}
	req.Header.Set("User-Agent", UserAgent)
	req.Header.Set("Content-Type", r.ContentType)
	if r.IdempotencyKey != "" {
		req.Header.Set("Idempotency-Key", r.IdempotencyKey)
	}
	if r.Secret != "" {
		// Signed afresh for every attempt, so a receiver's tolerance window fits retries.
		req.Header.Set(SignatureHeader, Sign(r.Secret, c.now(), r.IdempotencyKey, r.Body))
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var de *DestinationError
		if errors.As(err, &de) {
			return nil, de
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &TransportError{Host: u.Host, Err: err}
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, MaxResponseBytes))
	return &Response{
		Status: resp.StatusCode, Body: body,
		RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), c.now()),
	}, nil
}

// TransportError is a request that got no HTTP answer (connection refused, timeout, TLS).
type TransportError struct {
	Host string
	Err  error
}

func (e *TransportError) Error() string { return "request to " + e.Host + " failed: " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// ParseRetryAfter reads a Retry-After value in seconds or as an HTTP date; 0 when absent,
// malformed or in the past. Capped at one hour.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		if n > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	if d <= 0 {
		return 0
	}
	return min(d, maxRetryAfter)
}
