package linelogin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// DefaultAuthorizeURL is LINE Login's authorization page (LINE_LOGIN_AUTHORIZE_URL).
const DefaultAuthorizeURL = "https://access.line.me/oauth2/v2.1/authorize"

// ErrCodeRefused: LINE refused the authorization code (used, expired, or issued for
// another redirect URI or channel). The user has to start the login again.
var ErrCodeRefused = errors.New("linelogin: LINE refused the authorization code")

// Client calls LINE for the login callback: the token endpoint and the bot's basic ID.
// Both are on LINE_API_BASE_URL. Safe for concurrent use.
type Client struct {
	BaseURL    string // https://api.line.me
	HTTPClient *http.Client

	mu    sync.Mutex
	basic map[string]basicEntry // by channel access token
}

type basicEntry struct {
	id string
	at time.Time
}

// basicIDTTL: a bot's basic ID practically never changes; an hour keeps a changed one
// from lingering long.
const basicIDTTL = time.Hour

func (c *Client) hc() *http.Client {
	if c.HTTPClient != nil {
		return c.HTTPClient
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// Exchange trades an authorization code for the ID token (POST /oauth2/v2.1/token).
func (c *Client) Exchange(ctx context.Context, code, redirectURI, channelID, channelSecret string) (string, error) {
	form := url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
		"client_id": {channelID}, "client_secret": {channelSecret},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.BaseURL, "/")+"/oauth2/v2.1/token",
		strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("LINE token endpoint: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.hc().Do(req)
	if err != nil {
		return "", fmt.Errorf("LINE token endpoint: %w", err) // the form is in the body, not the URL
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("LINE token endpoint: reading the answer: %w", err)
	}
	if resp.StatusCode == http.StatusBadRequest || resp.StatusCode == http.StatusUnauthorized {
		var e struct {
			Error string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		// invalid_grant and invalid_request name a bad code; invalid_client a bad channel
		// setting, which the operator must fix: both are final for this attempt.
		return "", fmt.Errorf("%w (HTTP %d %s)", ErrCodeRefused, resp.StatusCode, truncate(e.Error, 40))
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("LINE token endpoint answered HTTP %d", resp.StatusCode)
	}
	var tr struct {
		IDToken string `json:"id_token"`
	}
	if json.Unmarshal(body, &tr) != nil || tr.IDToken == "" {
		return "", errors.New("LINE token endpoint: no id_token in the answer (is the scope openid asked for?)")
	}
	return tr.IDToken, nil
}

// BasicID is the bot's basic ID (such as @123abcde) from GET /v2/bot/info, cached.
func (c *Client) BasicID(ctx context.Context, accessToken string) (string, error) {
	c.mu.Lock()
	e, ok := c.basic[accessToken]
	c.mu.Unlock()
	if ok && time.Since(e.at) < basicIDTTL {
		return e.id, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(c.BaseURL, "/")+"/v2/bot/info", nil)
	if err != nil {
		return "", fmt.Errorf("LINE bot info: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+accessToken)
	resp, err := c.hc().Do(req)
	if err != nil {
		return "", fmt.Errorf("LINE bot info: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("LINE bot info: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("LINE bot info answered HTTP %d", resp.StatusCode)
	}
	var info struct {
		BasicID string `json:"basicId"`
	}
	if json.Unmarshal(body, &info) != nil || info.BasicID == "" {
		return "", errors.New("LINE bot info: no basicId in the answer")
	}
	c.mu.Lock()
	if c.basic == nil {
		c.basic = map[string]basicEntry{}
	}
	c.basic[accessToken] = basicEntry{id: info.BasicID, at: time.Now()}
	c.mu.Unlock()
	return info.BasicID, nil
}

// AddFriendURL is the link that adds the bot as a friend in LINE.
func AddFriendURL(basicID string) string {
	return "https://line.me/R/ti/p/" + url.PathEscape(basicID)
}

// AuthorizeURL is where /line/link sends the browser: LINE Login for the channel, asking
// for openid and profile, with the attempt's state and nonce.
func AuthorizeURL(base, channelID, redirectURI, state, nonce string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("LINE_LOGIN_AUTHORIZE_URL: %w", err)
	}
	q := u.Query()
	q.Set("response_type", "code")
	q.Set("client_id", channelID)
	q.Set("redirect_uri", redirectURI)
	q.Set("state", state)
	q.Set("scope", "openid profile")
	q.Set("nonce", nonce)
	u.RawQuery = q.Encode()
	return u.String(), nil
}
