package actiondefs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Client calls HubSpot's action definitions API as an app's developer. The developer API
// key travels in the query string (?hapikey=), so every error this client returns has the
// key removed: Go's own errors quote the full request URL.
type Client struct {
	BaseURL string // e.g. https://api.hubapi.com
	AppID   string
	APIKey  string
	HTTP    *http.Client // nil: a client with a 30 s timeout
}

// Remote is a definition as HubSpot returns it.
type Remote map[string]any

// ID is HubSpot's definition ID.
func (r Remote) ID() string {
	switch v := r["id"].(type) {
	case string:
		return v
	case float64:
		return fmt.Sprintf("%.0f", v)
	}
	return ""
}

// APIError is a non-2xx answer from HubSpot.
type APIError struct {
	Method, Path string // path without the query (no key)
	Status       int
	Category     string
	Message      string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("HubSpot answered %s %s with HTTP %d", e.Method, e.Path, e.Status)
	if e.Category != "" {
		s += " " + e.Category
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

func (c *Client) httpClient() *http.Client {
	h := c.HTTP
	if h == nil {
		h = &http.Client{Timeout: 30 * time.Second}
	}
	// Never follow a redirect: it would carry the key to wherever it points.
	cp := *h
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cp
}

// redact removes the API key from s.
func (c *Client) redact(s string) string {
	if c.APIKey == "" {
		return s
	}
	s = strings.ReplaceAll(s, c.APIKey, "REDACTED")
	// The key as it appears percent-encoded in a query string.
	if q := url.QueryEscape(c.APIKey); q != c.APIKey {
		s = strings.ReplaceAll(s, q, "REDACTED")
	}
	return s
}

// do sends one request; out (if not nil) receives the JSON answer.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	if query == nil {
		query = url.Values{}
	}
	query.Set("hapikey", c.APIKey)
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.BaseURL, "/")+path+"?"+query.Encode(), body)
	if err != nil {
		return errors.New(c.redact(err.Error()))
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = c.redact(ue.URL)
			return fmt.Errorf("HubSpot %s %s: %w", method, path, ue)
		}
		return errors.New(c.redact(err.Error()))
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return fmt.Errorf("HubSpot %s %s: reading the answer: %w", method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		e := &APIError{Method: method, Path: path, Status: resp.StatusCode}
		var hs struct {
			Message  string `json:"message"`
			Category string `json:"category"`
		}
		if json.Unmarshal(raw, &hs) == nil && (hs.Message != "" || hs.Category != "") {
			e.Message, e.Category = hs.Message, hs.Category
		} else {
			e.Message = strings.TrimSpace(string(raw))
			if len(e.Message) > 300 {
				e.Message = e.Message[:300] + "..."
			}
		}
		e.Message = c.redact(e.Message)
		return e
	}
	if out == nil || len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("HubSpot %s %s: answer is not the expected JSON: %w", method, path, err)
	}
	return nil
}

func (c *Client) base() string { return "/automation/v4/actions/" + url.PathEscape(c.AppID) }

// List returns every definition of the app, following paging.next.after.
func (c *Client) List(ctx context.Context) ([]Remote, error) {
	var all []Remote
	seen := map[string]bool{}
	after := ""
	for {
		q := url.Values{}
		if after != "" {
			q.Set("after", after)
		}
		var page struct {
			Results []Remote `json:"results"`
			Paging  *struct {
				Next *struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		if err := c.do(ctx, http.MethodGet, c.base(), q, nil, &page); err != nil {
			return nil, err
		}
		all = append(all, page.Results...)
		if page.Paging == nil || page.Paging.Next == nil || page.Paging.Next.After == "" {
			return all, nil
		}
		after = page.Paging.Next.After
		if seen[after] { // a cursor that repeats would loop forever
			return nil, fmt.Errorf("HubSpot GET %s: paging cursor %q repeats", c.base(), after)
		}
		seen[after] = true
	}
}

// Create registers a new definition.
func (c *Client) Create(ctx context.Context, def map[string]any) (Remote, error) {
	var out Remote
	err := c.do(ctx, http.MethodPost, c.base(), nil, def, &out)
	return out, err
}

// Update changes the given top-level fields of definition id.
func (c *Client) Update(ctx context.Context, id string, patch map[string]any) (Remote, error) {
	var out Remote
	err := c.do(ctx, http.MethodPatch, c.base()+"/"+url.PathEscape(id), nil, patch, &out)
	return out, err
}
