package starter

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/workflows"
)

// CodeHubSpotNotConnected answers an action from a portal hubline holds no HubSpot
// tokens for (multi-portal mode), or one outside HUBLINE_ALLOWED_PORTALS (any mode).
const CodeHubSpotNotConnected = "hubspot_not_connected"

// Routes of the OAuth install (contract).
const (
	RouteOAuthInstall  = "/oauth/install"
	RouteOAuthCallback = "/oauth/callback"
)

// stateTTL bounds how long an install may take between /oauth/install and the callback.
const stateTTL = 10 * time.Minute

// stateKind is the store's UseOnce kind for install states.
const stateKind = "oauth_state"

// OAuthOptions turn on multi-portal mode: portals install hubline through the OAuth
// routes, and actions are answered only for portals whose tokens are stored.
type OAuthOptions struct {
	Store        *store.Store
	ClientID     string
	ClientSecret string
	// AuthorizeURL is HubSpot's install page (HUBSPOT_AUTHORIZE_URL).
	AuthorizeURL string
	// APIBaseURL is where codes are exchanged (HUBSPOT_API_BASE_URL).
	APIBaseURL string
	Scopes     []string
	HTTPClient *http.Client
}

// SetOAuth turns on multi-portal mode and HUBLINE_ALLOWED_PORTALS (either may be nil);
// call it before serving.
func (s *Server) SetOAuth(o *OAuthOptions, allowed func(portalID int64) bool) {
	s.opts.OAuth, s.opts.PortalAllowed = o, allowed
}

// redirectURI is where HubSpot sends the browser back; it must be listed in the app's
// auth settings exactly so.
func (s *Server) redirectURI() string { return s.opts.PublicURL + RouteOAuthCallback }

func (s *Server) stateKey() []byte {
	mac := hmac.New(sha256.New, []byte(s.opts.OAuth.ClientSecret))
	mac.Write([]byte("hubline oauth state v1"))
	return mac.Sum(nil)
}

// newState is a random nonce and an expiry, signed: base64url(nonce|expiry).base64url(mac).
func (s *Server) newState(now time.Time) string {
	payload := make([]byte, 24)
	_, _ = rand.Read(payload[:16])
	binary.BigEndian.PutUint64(payload[16:], uint64(now.Add(stateTTL).Unix()))
	mac := hmac.New(sha256.New, s.stateKey())
	mac.Write(payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(mac.Sum(nil))
}

var (
	errStateInvalid = errors.New("the install link is not valid (its state is missing or was altered)")
	errStateExpired = errors.New("the install link expired (it is valid for 10 minutes)")
	errStateUsed    = errors.New("the install link was already used")
)

// useState checks the state's signature and expiry, then spends its nonce.
func (s *Server) useState(ctx context.Context, state string, now time.Time) error {
	enc := base64.RawURLEncoding
	p, m, ok := strings.Cut(state, ".")
	payload, err1 := enc.DecodeString(p)
	sig, err2 := enc.DecodeString(m)
	if !ok || err1 != nil || err2 != nil || len(payload) != 24 {
		return errStateInvalid
	}
	mac := hmac.New(sha256.New, s.stateKey())
	mac.Write(payload)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return errStateInvalid
	}
	expires := time.Unix(int64(binary.BigEndian.Uint64(payload[16:])), 0)
	if !now.Before(expires) {
		return errStateExpired
	}
	first, err := s.opts.OAuth.Store.UseOnce(ctx, stateKind, hex.EncodeToString(payload[:16]), expires)
	if err != nil {
		return err
	}
	if !first {
		return errStateUsed
	}
	return nil
}

// oauthInstall sends the browser to HubSpot's install page.
func (s *Server) oauthInstall(c *gin.Context) {
	o := s.opts.OAuth
	if o == nil {
		abortError(c, http.StatusNotFound, "not_found", "this deployment is in single-portal mode: there is nothing to install (set HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET without tokens for multi-portal mode)")
		return
	}
	u, err := url.Parse(o.AuthorizeURL)
	if err != nil {
		abortError(c, http.StatusInternalServerError, "internal", "HUBSPOT_AUTHORIZE_URL is not a URL")
		return
	}
	q := u.Query()
	q.Set("client_id", o.ClientID)
	q.Set("redirect_uri", s.redirectURI())
	q.Set("scope", strings.Join(o.Scopes, " "))
	q.Set("state", s.newState(s.opts.Now()))
	u.RawQuery = q.Encode()
	s.installs.WithLabelValues("redirected").Inc()
	c.Redirect(http.StatusFound, u.String())
}

// installPage is the HTML an installing HubSpot user sees, in English and Japanese.
var installPage = template.Must(template.New("install").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>hubline: {{.TitleEN}} / {{.TitleJA}}</title>
<style>body{font-family:sans-serif;max-width:42em;margin:2em auto;padding:0 1em;line-height:1.6}code{background:#f3f3f3;padding:0 .3em}</style></head>
<body>
<h1>{{.TitleEN}}</h1>
<p>{{.TextEN}}</p>
{{if .Portal}}<ol>
<li>Open a workflow in HubSpot (Automation &gt; Workflows) and add an action: the hubline actions (Send LINE Message, Send Data) are listed under this app.</li>
<li>Connect your LINE official account: ask your hubline operator to run <code>hubline accounts add --portal {{.Portal}}</code> with its channel access token and channel secret.</li>
</ol>{{end}}
<hr>
<h1 lang="ja">{{.TitleJA}}</h1>
<p lang="ja">{{.TextJA}}</p>
{{if .Portal}}<ol lang="ja">
<li>HubSpot でワークフロー（自動化 &gt; ワークフロー）を開き、アクションを追加してください。このアプリの下に hubline のアクション（LINE メッセージ送信、データ送信）があります。</li>
<li>LINE 公式アカウントを接続してください：hubline の運用担当者に、チャネルアクセストークンとチャネルシークレットを添えて <code>hubline accounts add --portal {{.Portal}}</code> の実行を依頼します。</li>
</ol>{{end}}
{{if .Retry}}<p><a href="{{.Retry}}">Start the install again / もう一度インストールする</a></p>{{end}}
</body></html>
`))

type pageText struct {
	TitleEN, TextEN, TitleJA, TextJA string
	Portal                           int64
	Retry                            string
}

func (s *Server) installResult(c *gin.Context, status int, outcome string, p pageText) {
	s.installs.WithLabelValues(outcome).Inc()
	var b bytes.Buffer
	if err := installPage.Execute(&b, p); err != nil {
		abortError(c, http.StatusInternalServerError, "internal", "could not render the page")
		return
	}
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

// installFailed is a page for a failed install, with a link to start over.
func (s *Server) installFailed(c *gin.Context, status int, outcome, en, ja string) {
	s.installResult(c, status, outcome, pageText{
		TitleEN: "hubline was not installed", TextEN: en,
		TitleJA: "hubline はインストールされませんでした", TextJA: ja,
		Retry: s.opts.PublicURL + RouteOAuthInstall,
	})
}

// oauthCallback finishes an install: state, code exchange, portal, tokens stored.
func (s *Server) oauthCallback(c *gin.Context) {
	o := s.opts.OAuth
	if o == nil {
		abortError(c, http.StatusNotFound, "not_found", "this deployment is in single-portal mode: it takes no installs")
		return
	}
	q := c.Request.URL.Query()
	log := s.log.With(zap.String("route", RouteOAuthCallback))
	if e := q.Get("error"); e != "" {
		log.Info("HubSpot install not completed", zap.String("hubspot_error", e))
		if e == "access_denied" {
			s.installFailed(c, http.StatusBadRequest, "denied",
				"The install was cancelled in HubSpot, so nothing changed. You can install again at any time.",
				"HubSpot でインストールがキャンセルされたため、何も変更されていません。いつでも再度インストールできます。")
			return
		}
		s.installFailed(c, http.StatusBadRequest, "hubspot_error",
			"HubSpot reported an error ("+e+"), so nothing was installed.",
			"HubSpot がエラー（"+e+"）を返したため、インストールされませんでした。")
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 30*time.Second)
	defer cancel()
	if err := s.useState(ctx, q.Get("state"), s.opts.Now()); err != nil {
		switch {
		case errors.Is(err, errStateExpired):
			s.installFailed(c, http.StatusBadRequest, "state_expired", "This install link expired: installs must finish within 10 minutes.",
				"このインストールリンクは期限切れです。インストールは 10 分以内に完了する必要があります。")
		case errors.Is(err, errStateUsed):
			s.installFailed(c, http.StatusBadRequest, "state_used", "This install link was already used. Each link works once.",
				"このインストールリンクは使用済みです。リンクは 1 回だけ使えます。")
		case errors.Is(err, errStateInvalid):
			log.Warn("install callback with an invalid state")
			s.installFailed(c, http.StatusBadRequest, "state_invalid", "This install link is not valid. Start the install from hubline's install address.",
				"このインストールリンクは無効です。hubline のインストール用アドレスから始めてください。")
		default:
			log.Error("could not record the install state", zap.Error(err))
			s.installFailed(c, http.StatusServiceUnavailable, "store_error", "hubline could not reach its database. Try again in a moment.",
				"hubline がデータベースに接続できませんでした。しばらくしてから再度お試しください。")
		}
		return
	}
	code := q.Get("code")
	if code == "" {
		s.installFailed(c, http.StatusBadRequest, "no_code", "HubSpot sent no authorization code.", "HubSpot から認可コードが届きませんでした。")
		return
	}
	api := &hubspot.OAuth{BaseURL: o.APIBaseURL, ClientID: o.ClientID, ClientSecret: o.ClientSecret, HTTPClient: o.HTTPClient}
	tok, err := api.Exchange(ctx, code, s.redirectURI())
	if err != nil {
		if errors.Is(err, hubspot.ErrInvalidGrant) {
			log.Info("HubSpot refused the install code (used or expired)")
			s.installFailed(c, http.StatusBadRequest, "code_refused", "HubSpot refused this install's code: it was already used or has expired.",
				"HubSpot がこのインストールのコードを受け付けませんでした（使用済みまたは期限切れ）。")
			return
		}
		log.Error("HubSpot code exchange failed", zap.Error(err))
		s.installFailed(c, http.StatusBadGateway, "exchange_failed", "hubline could not complete the install with HubSpot. Try again in a moment.",
			"hubline は HubSpot とのインストール処理を完了できませんでした。しばらくしてから再度お試しください。")
		return
	}
	info, err := api.TokenInfo(ctx, tok.AccessToken)
	if err != nil {
		log.Error("HubSpot token introspection failed", zap.Error(err))
		s.installFailed(c, http.StatusBadGateway, "exchange_failed", "hubline could not learn which HubSpot account installed it. Try again in a moment.",
			"hubline はインストールした HubSpot アカウントを確認できませんでした。しばらくしてから再度お試しください。")
		return
	}
	log = log.With(zap.Int64("portal_id", info.HubID))
	if !s.portalAllowed(info.HubID) {
		log.Warn("install refused: portal not in HUBLINE_ALLOWED_PORTALS")
		s.installFailed(c, http.StatusForbidden, "portal_not_allowed",
			"This HubSpot account may not use this hubline deployment. Ask its operator to add your portal to HUBLINE_ALLOWED_PORTALS.",
			"この HubSpot アカウントはこの hubline を利用できません。運用担当者に HUBLINE_ALLOWED_PORTALS へのポータル追加を依頼してください。")
		return
	}
	err = o.Store.PutPortal(ctx, store.Portal{
		PortalID: info.HubID, AccessToken: tok.AccessToken, RefreshToken: tok.RefreshToken,
		ExpiresAt: s.opts.Now().Add(tok.ExpiresIn), Scopes: info.Scopes,
	})
	if err != nil {
		log.Error("could not store the portal's tokens", zap.Error(err))
		s.installFailed(c, http.StatusServiceUnavailable, "store_error", "hubline could not save the install. Try again in a moment.",
			"hubline はインストール情報を保存できませんでした。しばらくしてから再度お試しください。")
		return
	}
	log.Info("portal installed hubline", zap.Strings("scopes", info.Scopes))
	s.installResult(c, http.StatusOK, "installed", pageText{
		TitleEN: "hubline is installed", TitleJA: "hubline のインストールが完了しました", Portal: info.HubID,
		TextEN: "hubline is connected to HubSpot account (portal) " + itoa64(info.HubID) + ". Next:",
		TextJA: "hubline は HubSpot アカウント（ポータル）" + itoa64(info.HubID) + " に接続されました。次の手順：",
	})
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }

func (s *Server) portalAllowed(portalID int64) bool {
	return s.opts.PortalAllowed == nil || s.opts.PortalAllowed(portalID)
}

// gatedActions are the action routes answered hubspot_not_connected for a portal hubline
// cannot report back to.
var gatedActions = map[string]string{
	"/actions/send-line-message":       workflows.ActionSendLineMessage,
	"/actions/send-line-message-v2":    workflows.ActionSendLineMessageV2,
	"/actions/send-data":               workflows.ActionSendData,
	"/actions/send-line-message-queue": workflows.ActionSendLineMessageQueue,
	"/actions/set-line-rich-menu":      workflows.ActionSetLineRichMenu,
	"/actions/create-line-link":        ActionCreateLineLink,
}

// portalGate answers an action at once with FAIL_CONTINUE hubspot_not_connected when its
// portal is outside HUBLINE_ALLOWED_PORTALS, or (multi-portal mode) has no usable stored
// tokens: nothing is started, since its callback could never be completed. A body that
// does not parse is left to the handler, which reports it.
func (s *Server) portalGate(c *gin.Context) {
	action, ok := gatedActions[c.FullPath()]
	if !ok || (s.opts.OAuth == nil && s.opts.PortalAllowed == nil) {
		c.Next()
		return
	}
	var env struct {
		CallbackID string `json:"callbackId"`
		Origin     struct {
			PortalID int64 `json:"portalId"`
		} `json:"origin"`
	}
	if json.Unmarshal(c.MustGet(bodyKey).([]byte), &env) != nil || env.CallbackID == "" {
		c.Next()
		return
	}
	portal := env.Origin.PortalID
	reason := ""
	switch {
	case !s.portalAllowed(portal):
		reason = "HubSpot portal " + itoa64(portal) + " may not use this hubline deployment (HUBLINE_ALLOWED_PORTALS)"
	case s.opts.OAuth != nil:
		ctx, cancel := context.WithTimeout(c.Request.Context(), 5*time.Second)
		defer cancel()
		p, err := s.opts.OAuth.Store.Portal(ctx, portal)
		switch {
		case errors.Is(err, store.ErrNotFound):
			reason = "HubSpot portal " + itoa64(portal) + " has not installed hubline: install it at " + s.opts.PublicURL + RouteOAuthInstall
		case err != nil:
			s.log.Error("could not read the portal's install", zap.Int64("portal_id", portal), zap.Error(err))
			s.requests.WithLabelValues(action, "store_error").Inc()
			// 503: HubSpot retries, and the callbackId keeps the retry idempotent.
			abortError(c, http.StatusServiceUnavailable, "store_unavailable", "hubline could not read its database; HubSpot will retry")
			return
		case p.Status == store.StatusRevoked:
			reason = "HubSpot portal " + itoa64(portal) + " revoked hubline's access: install it again at " + s.opts.PublicURL + RouteOAuthInstall
		}
	}
	if reason == "" {
		c.Next()
		return
	}
	s.requests.WithLabelValues(action, "rejected_"+CodeHubSpotNotConnected).Inc()
	s.log.Info("action rejected", zap.String("action", action), zap.String("callback_id", env.CallbackID),
		zap.Int64("portal_id", portal), zap.String("error_code", CodeHubSpotNotConnected))
	c.AbortWithStatusJSON(http.StatusOK, outputs(workflows.Failure(CodeHubSpotNotConnected, reason)))
}
