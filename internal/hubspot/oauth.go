package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAuthorizeURL is where a HubSpot user approves an app's install.
const DefaultAuthorizeURL = "https://app.hubspot.com/oauth/authorize"

// ErrInvalidGrant means HubSpot refused an authorization code or refresh token for good
// (used, expired, revoked or unknown: BAD_AUTH_CODE, BAD_REFRESH_TOKEN, invalid_grant).
var ErrInvalidGrant = errors.New("hubspot oauth: the authorization code or refresh token was refused")

// ErrNotConnected means hubline holds no usable HubSpot token for the portal: it never
// installed the app, its refresh token was revoked, or it is outside HUBLINE_ALLOWED_PORTALS.
var ErrNotConnected = errors.New("hubspot: portal is not connected (install the app, or check HUBLINE_ALLOWED_PORTALS)")

// PortalTokenSource supplies a bearer token per portal (multi-portal mode: every installed
// portal has its own OAuth tokens). Errors wrapping ErrNotConnected are final.
type PortalTokenSource interface {
	PortalToken(ctx context.Context, portalID int64) (string, error)
}

// TokenRejecter is implemented by portal token sources that can drop a token HubSpot
// answered 401 to, so the next PortalToken call refreshes it.
type TokenRejecter interface {
	TokenRejected(portalID int64, token string)
}

// OAuth calls HubSpot's OAuth endpoints for one app (client ID and secret).
type OAuth struct {
	BaseURL      string // default https://api.hubapi.com
	ClientID     string
	ClientSecret string
	HTTPClient   *http.Client // default: 30 s timeout
}

// OAuthToken is a token endpoint answer.
type OAuthToken struct {
	AccessToken  string
	RefreshToken string
	ExpiresIn    time.Duration
}

// TokenInfo describes an access token: the portal (hub) it belongs to and its scopes.
type TokenInfo struct {
	HubID     int64
	AppID     int64
	Scopes    []string
	ExpiresIn time.Duration
}

func (o *OAuth) base() string {
	if o.BaseURL == "" {
		return DefaultBaseURL
	}
	return strings.TrimRight(o.BaseURL, "/")
}

func (o *OAuth) client() *http.Client {
	if o.HTTPClient == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	return o.HTTPClient
}

// Exchange trades the authorization code of an install for tokens. redirectURI must be
// the one the authorize request carried.
func (o *OAuth) Exchange(ctx context.Context, code, redirectURI string) (OAuthToken, error) {
	return o.token(ctx, "oauth code exchange", url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI},
	})
}

// Refresh trades a refresh token for a new access token.
func (o *OAuth) Refresh(ctx context.Context, refreshToken string) (OAuthToken, error) {
	return o.token(ctx, "oauth token refresh", url.Values{
		"grant_type": {"refresh_token"}, "refresh_token": {refreshToken},
	})
}

func (o *OAuth) token(ctx context.Context, op string, form url.Values) (OAuthToken, error) {
	form.Set("client_id", o.ClientID)
	form.Set("client_secret", o.ClientSecret)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.base()+"/oauth/v1/token", strings.NewReader(form.Encode()))
	if err != nil {
		return OAuthToken{}, fmt.Errorf("hubspot %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	body, status, err := o.send(req, op)
	if err != nil {
		return OAuthToken{}, err
	}
	if status != http.StatusOK {
		return OAuthToken{}, oauthError(op, status, body)
	}
	var tr struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return OAuthToken{}, fmt.Errorf("hubspot %s: the answer has no access_token", op)
	}
	return OAuthToken{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, ExpiresIn: time.Duration(tr.ExpiresIn) * time.Second}, nil
}

// TokenInfo asks HubSpot which portal an access token belongs to.
func (o *OAuth) TokenInfo(ctx context.Context, accessToken string) (TokenInfo, error) {
	const op = "oauth token info"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.base()+"/oauth/v1/access-tokens/"+url.PathEscape(accessToken), nil)
	if err != nil {
		return TokenInfo{}, fmt.Errorf("hubspot %s: bad request", op) // the URL holds the token: never echo it
	}
	body, status, err := o.send(req, op)
	if err != nil {
		return TokenInfo{}, err
	}
	if status != http.StatusOK {
		return TokenInfo{}, oauthError(op, status, body)
	}
	var ti struct {
		HubID     int64    `json:"hub_id"`
		AppID     int64    `json:"app_id"`
		Scopes    []string `json:"scopes"`
		ExpiresIn int64    `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &ti); err != nil || ti.HubID <= 0 {
		return TokenInfo{}, fmt.Errorf("hubspot %s: the answer has no hub_id", op)
	}
	return TokenInfo{HubID: ti.HubID, AppID: ti.AppID, Scopes: ti.Scopes, ExpiresIn: time.Duration(ti.ExpiresIn) * time.Second}, nil
}

// send does the request; transport errors are reported without the URL, which may
// carry a token.
func (o *OAuth) send(req *http.Request, op string) ([]byte, int, error) {
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "hubline")
	resp, err := o.client().Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, 0, fmt.Errorf("hubspot %s: %w", op, err)
	}
	defer drainClose(resp.Body)
	body, err := readCapped(resp.Body, maxErrorBody)
	if err != nil {
		return nil, 0, fmt.Errorf("hubspot %s: reading response: %w", op, err)
	}
	return body, resp.StatusCode, nil
}

// oauthError turns an OAuth error answer into an error; refused grants wrap
// ErrInvalidGrant. HubSpot's OAuth errors carry status (BAD_AUTH_CODE, ...) and message,
// or OAuth's error and error_description.
func oauthError(op string, status int, body []byte) error {
	var eb struct {
		Status      string `json:"status"`
		Message     string `json:"message"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	_ = json.Unmarshal(body, &eb)
	ae := newAPIError(op, status, body)
	if ae.Category == "" {
		ae.Category = eb.Status
		if ae.Category == "" {
			ae.Category = eb.Error
		}
	}
	if ae.Message == "" {
		ae.Message = eb.Description
	}
	switch {
	case status == http.StatusBadRequest && (eb.Status == "BAD_AUTH_CODE" || eb.Status == "BAD_REFRESH_TOKEN" || eb.Error == "invalid_grant"):
		return fmt.Errorf("%w: %w", ErrInvalidGrant, ae)
	case status == http.StatusNotFound && op == "oauth token info":
		return fmt.Errorf("%w: %w", ErrInvalidGrant, ae)
	}
	return ae
}
