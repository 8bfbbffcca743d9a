package starter

import (
	"bytes"
	"context"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/accounts"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/linelogin"
	"github.com/hubline/hubline/internal/store"
)

// Routes of LINE Login linking (contract).
const (
	RouteLineLink          = "/line/link/"
	RouteLineLoginCallback = "/line/login/callback"
)

// lineStateTTL bounds one login, from opening the link to LINE's redirect back.
const lineStateTTL = 10 * time.Minute

// lineStateKind is the store's UseOnce kind for LINE Login states.
const lineStateKind = "line_login_state"

// lineLoginTimeout bounds the callback's calls (LINE, HubSpot, the database): the user is
// waiting, and a retry-later page is better than a hanging one.
const lineLoginTimeout = 15 * time.Second

// ContactUpdater sets properties on a HubSpot contact of a portal (*hubspot.Client).
type ContactUpdater interface {
	UpdateContact(ctx context.Context, portalID int64, id string, properties map[string]string) error
}

// LoginChannel is a LINE Login channel: its ID and secret.
type LoginChannel struct{ ID, Secret string }

// LineLoginOptions turn on linking contacts through LINE Login.
type LineLoginOptions struct {
	// Signer signs links and states; nil (no HUBLINE_SECRET_KEY) leaves linking off.
	Signer *linelogin.Signer
	// Store spends states once and keeps the LINE user → contact mapping.
	Store *store.Store
	// Channels are the LINE Login channels by LINE account number.
	Channels map[int]LoginChannel
	// AuthorizeURL is LINE Login's authorization page (LINE_LOGIN_AUTHORIZE_URL).
	AuthorizeURL string
	// LINE exchanges codes and reads the bot's basic ID (on LINE_API_BASE_URL).
	LINE *linelogin.Client
	// HubSpot writes the contact's LINE user ID property.
	HubSpot ContactUpdater
	// LinkTTL is how long a link stays usable (HUBLINE_LINE_LINK_TTL).
	LinkTTL time.Duration
}

// UseLineLogin turns on LINE Login linking; call it before serving.
func (s *Server) UseLineLogin(o *LineLoginOptions) { s.opts.LineLogin = o }

func (s *Server) lineCallbackURL() string { return s.opts.PublicURL + RouteLineLoginCallback }

// linePage is every page of the linking flow, in English and Japanese; html/template
// escapes every value.
var linePage = template.Must(template.New("line").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="referrer" content="no-referrer">
<title>{{.TitleEN}} / {{.TitleJA}}</title>
<style>body{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.6}a.button{display:inline-block;background:#06c755;color:#fff;padding:.6em 1.2em;border-radius:.4em;text-decoration:none}</style></head>
<body>
<h1>{{.TitleEN}}</h1>
<p>{{.TextEN}}</p>
{{if .FriendURL}}<p><a class="button" href="{{.FriendURL}}">Add {{.BasicID}} as a friend</a></p>{{end}}
<hr>
<h1 lang="ja">{{.TitleJA}}</h1>
<p lang="ja">{{.TextJA}}</p>
{{if .FriendURL}}<p lang="ja"><a class="button" href="{{.FriendURL}}">{{.BasicID}} を友だち追加</a></p>{{end}}
</body></html>
`))

type linePageText struct {
	TitleEN, TextEN, TitleJA, TextJA string
	FriendURL, BasicID               string
}

// lineOutcome counts the linking flow's steps by outcome.
func (s *Server) lineOutcome(step, outcome string) {
	s.requests.WithLabelValues(step, outcome).Inc()
}

func (s *Server) showLinePage(c *gin.Context, status int, p linePageText) {
	var b bytes.Buffer
	if err := linePage.Execute(&b, p); err != nil {
		abortError(c, http.StatusInternalServerError, "internal", "could not render the page")
		return
	}
	h := c.Writer.Header()
	// The pages carry nothing to cache, and the link's token must not leak onwards.
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
	c.Abort()
}

// Pages of refusals and failures.
var (
	pageLinkInvalid = linePageText{
		TitleEN: "This link does not work", TextEN: "This LINE link is not valid. Use the link exactly as you received it.",
		TitleJA: "このリンクは使えません", TextJA: "この LINE 連携リンクは無効です。受け取ったリンクをそのままお使いください。",
	}
	pageLinkExpired = linePageText{
		TitleEN: "This link has expired", TextEN: "This LINE link has expired. Ask the sender for a new one.",
		TitleJA: "このリンクは有効期限切れです", TextJA: "この LINE 連携リンクは有効期限が切れています。送信元に新しいリンクをご依頼ください。",
	}
	pageLinkUnavailable = linePageText{
		TitleEN: "Linking is not available", TextEN: "Linking with LINE is not available for this account at the moment. Ask the sender.",
		TitleJA: "LINE 連携は利用できません", TextJA: "現在このアカウントでは LINE 連携を利用できません。送信元にお問い合わせください。",
	}
	pageStateInvalid = linePageText{
		TitleEN: "The login could not be checked", TextEN: "This LINE Login answer is not valid, so nothing changed. Open your link again to start over.",
		TitleJA: "ログインを確認できませんでした", TextJA: "この LINE ログインの応答は無効なため、何も変更されていません。もう一度リンクを開いてやり直してください。",
	}
	pageStateExpired = linePageText{
		TitleEN: "The login took too long", TextEN: "A LINE Login must finish within 10 minutes, so nothing changed. Open your link again to start over.",
		TitleJA: "ログインの有効時間が過ぎました", TextJA: "LINE ログインは 10 分以内に完了する必要があるため、何も変更されていません。もう一度リンクを開いてやり直してください。",
	}
	pageStateUsed = linePageText{
		TitleEN: "This login was already used", TextEN: "Each LINE Login answer works once, so nothing changed. Open your link again to start over.",
		TitleJA: "このログインは使用済みです", TextJA: "LINE ログインの応答は 1 回だけ使えるため、何も変更されていません。もう一度リンクを開いてやり直してください。",
	}
	pageCancelled = linePageText{
		TitleEN: "Not linked", TextEN: "The LINE Login was cancelled, so nothing changed. You can open your link again at any time while it is valid.",
		TitleJA: "連携されていません", TextJA: "LINE ログインがキャンセルされたため、何も変更されていません。リンクの有効期限内であれば、いつでも再度開けます。",
	}
	pageRefused = linePageText{
		TitleEN: "The login could not be verified", TextEN: "LINE's answer could not be verified, so nothing changed. Open your link again to start over.",
		TitleJA: "ログインを検証できませんでした", TextJA: "LINE からの応答を検証できなかったため、何も変更されていません。もう一度リンクを開いてやり直してください。",
	}
	pageRetryLater = linePageText{
		TitleEN: "Please try again later", TextEN: "LINE or HubSpot could not be reached, so nothing changed. Your link still works: open it again in a few minutes.",
		TitleJA: "しばらくしてから再度お試しください", TextJA: "LINE または HubSpot に接続できなかったため、何も変更されていません。リンクは引き続き使えます。数分後にもう一度開いてください。",
	}
	pageNotLinked = linePageText{
		TitleEN: "Not linked", TextEN: "HubSpot did not accept the link for this contact, so nothing changed. Ask the sender to check it.",
		TitleJA: "連携されていません", TextJA: "HubSpot がこの連絡先への連携を受け付けなかったため、何も変更されていません。送信元にご確認ください。",
	}
	pageOtherContact = linePageText{
		TitleEN: "Already linked elsewhere", TextEN: "This LINE account is already linked with another contact, so nothing changed. Ask the sender to resolve it.",
		TitleJA: "すでに別の連絡先と連携されています", TextJA: "この LINE アカウントはすでに別の連絡先と連携されているため、何も変更されていません。送信元にお問い合わせください。",
	}
)

// lineLink is GET /line/link/<token>: every opening while the link is valid starts a fresh
// LINE Login, and nothing is recorded, so mail scanners that fetch the link spend nothing.
func (s *Server) lineLink(c *gin.Context) {
	const step = "line_link"
	o := s.opts.LineLogin
	if o == nil || o.Signer == nil {
		s.lineOutcome(step, "not_configured")
		s.showLinePage(c, http.StatusNotFound, pageLinkUnavailable)
		return
	}
	now := s.opts.Now()
	link, err := o.Signer.ParseLink(c.Param("token"), now)
	switch {
	case errors.Is(err, linelogin.ErrExpired):
		s.lineOutcome(step, "expired")
		s.showLinePage(c, http.StatusGone, pageLinkExpired)
		return
	case err != nil:
		s.lineOutcome(step, "invalid")
		s.showLinePage(c, http.StatusNotFound, pageLinkInvalid)
		return
	}
	log := s.log.With(zap.Int64("portal_id", link.PortalID), zap.Int("line_account", link.Account))
	if _, _, ok := s.loginAccount(c.Request.Context(), link.Target); !ok {
		log.Warn("LINE link opened for an account without a usable LINE Login channel")
		s.lineOutcome(step, "unavailable")
		s.showLinePage(c, http.StatusServiceUnavailable, pageLinkUnavailable)
		return
	}
	ch := o.Channels[link.Account]
	state, st := o.Signer.NewState(link.Target, now.Add(lineStateTTL))
	u, err := linelogin.AuthorizeURL(o.AuthorizeURL, ch.ID, s.lineCallbackURL(), state, o.Signer.Nonce(st))
	if err != nil {
		log.Error("LINE_LOGIN_AUTHORIZE_URL is not usable", zap.Error(err))
		s.lineOutcome(step, "unavailable")
		s.showLinePage(c, http.StatusServiceUnavailable, pageLinkUnavailable)
		return
	}
	s.lineOutcome(step, "redirected")
	c.Header("Cache-Control", "no-store")
	c.Header("Referrer-Policy", "no-referrer") // LINE need not see the link's token
	c.Redirect(http.StatusFound, u)
}

// loginAccount is the target's LINE account and its LINE Login channel, if the portal may
// still use the account and the account still has a channel.
func (s *Server) loginAccount(ctx context.Context, t linelogin.Target) (accounts.Account, LoginChannel, bool) {
	ch, ok := s.opts.LineLogin.Channels[t.Account]
	if !ok || !s.portalAllowed(t.PortalID) {
		return accounts.Account{}, ch, false
	}
	a, err := s.opts.LineAccounts.Resolve(ctx, t.PortalID, strconv.Itoa(t.Account))
	return a, ch, err == nil
}

// lineLoginCallback is LINE Login's redirect back: state, code exchange, ID token, then
// the contact's LINE user ID property, unless the LINE user is another contact's.
func (s *Server) lineLoginCallback(c *gin.Context) {
	const step = "line_login_callback"
	o := s.opts.LineLogin
	if o == nil || o.Signer == nil {
		s.lineOutcome(step, "not_configured")
		s.showLinePage(c, http.StatusNotFound, pageLinkUnavailable)
		return
	}
	q := c.Request.URL.Query()
	now := s.opts.Now()
	st, err := o.Signer.ParseState(q.Get("state"), now)
	switch {
	case errors.Is(err, linelogin.ErrExpired):
		s.lineOutcome(step, "state_expired")
		s.showLinePage(c, http.StatusBadRequest, pageStateExpired)
		return
	case err != nil:
		s.lineOutcome(step, "state_invalid")
		s.showLinePage(c, http.StatusBadRequest, pageStateInvalid)
		return
	}
	log := s.log.With(zap.String("route", RouteLineLoginCallback), zap.Int64("portal_id", st.PortalID), zap.Int("line_account", st.Account))
	if e := q.Get("error"); e != "" {
		log.Info("LINE Login not completed", zap.String("line_error", truncate(e, 40)))
		s.lineOutcome(step, "cancelled")
		s.showLinePage(c, http.StatusBadRequest, pageCancelled)
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), lineLoginTimeout)
	defer cancel()
	first, err := o.Store.UseOnce(ctx, lineStateKind, st.IDHex(), st.Expires)
	if err != nil {
		log.Error("could not record the LINE Login state", zap.Error(err))
		s.lineOutcome(step, "store_error")
		s.showLinePage(c, http.StatusServiceUnavailable, pageRetryLater)
		return
	}
	if !first {
		s.lineOutcome(step, "state_used")
		s.showLinePage(c, http.StatusBadRequest, pageStateUsed)
		return
	}
	acct, ch, ok := s.loginAccount(ctx, st.Target)
	if !ok {
		log.Warn("LINE Login callback for an account without a usable LINE Login channel")
		s.lineOutcome(step, "unavailable")
		s.showLinePage(c, http.StatusServiceUnavailable, pageLinkUnavailable)
		return
	}
	// The add-friend link comes first: if LINE cannot say it, nothing has changed yet.
	basicID, err := o.LINE.BasicID(ctx, acct.AccessToken)
	if err != nil {
		log.Error("could not read the LINE bot's basic ID", zap.Error(err))
		s.lineOutcome(step, "line_error")
		s.showLinePage(c, http.StatusBadGateway, pageRetryLater)
		return
	}
	code := q.Get("code")
	if code == "" {
		s.lineOutcome(step, "no_code")
		s.showLinePage(c, http.StatusBadRequest, pageStateInvalid)
		return
	}
	idToken, err := o.LINE.Exchange(ctx, code, s.lineCallbackURL(), ch.ID, ch.Secret)
	switch {
	case errors.Is(err, linelogin.ErrCodeRefused):
		log.Warn("LINE refused the login code", zap.Error(err))
		s.lineOutcome(step, "code_refused")
		s.showLinePage(c, http.StatusBadRequest, pageRefused)
		return
	case err != nil:
		log.Error("LINE code exchange failed", zap.Error(err))
		s.lineOutcome(step, "line_error")
		s.showLinePage(c, http.StatusBadGateway, pageRetryLater)
		return
	}
	claims, err := linelogin.VerifyIDToken(idToken, ch.ID, ch.Secret, o.Signer.Nonce(st), now)
	if err != nil {
		log.Warn("LINE ID token refused", zap.Error(err)) // the reason only, never the token
		s.lineOutcome(step, "id_token_refused")
		s.showLinePage(c, http.StatusBadRequest, pageRefused)
		return
	}
	log = log.With(zap.String("line_user", shortUserID(claims.Subject)), zap.Int64("contact_id", st.ContactID))
	outcome, err := s.linkContact(ctx, st.Target, acct.PortalID, claims.Subject)
	var ae *hubspot.APIError
	switch {
	case errors.Is(err, hubspot.ErrContactNotFound) || (errors.As(err, &ae) && ae.StatusCode >= 400 && ae.StatusCode < 500 && ae.StatusCode != http.StatusTooManyRequests):
		// Final: the contact is gone, or the token or property is wrong. Retrying cannot help.
		log.Error("HubSpot refused the contact's LINE user ID", zap.Error(err))
		s.lineOutcome(step, "hubspot_refused")
		s.showLinePage(c, http.StatusBadGateway, pageNotLinked)
	case err != nil:
		log.Error("could not link the contact", zap.Error(err))
		s.lineOutcome(step, outcome)
		s.showLinePage(c, http.StatusBadGateway, pageRetryLater)
	case outcome == "other_contact":
		log.Warn("LINE user already linked with another contact; nothing changed")
		s.lineOutcome(step, outcome)
		s.showLinePage(c, http.StatusConflict, pageOtherContact)
	default:
		log.Info("contact linked with a LINE user")
		s.lineOutcome(step, outcome)
		s.showLinePage(c, http.StatusOK, linePageText{
			TitleEN: "Linked with LINE", TitleJA: "LINE と連携しました",
			TextEN:    "Your LINE account is now linked. Add our LINE official account as a friend to receive messages.",
			TextJA:    "LINE アカウントの連携が完了しました。メッセージを受け取るには、LINE 公式アカウントを友だち追加してください。",
			FriendURL: linelogin.AddFriendURL(basicID), BasicID: basicID,
		})
	}
}

// linkContact sets the contact's LINE user ID property and records the mapping, under the
// LINE user's lock so a webhook for the same user never decides at the same time. The
// mapping is keyed by the account's owner portal (0 for an account any portal may use), as
// the webhooks key it. A user mapped to another contact changes nothing.
func (s *Server) linkContact(ctx context.Context, t linelogin.Target, mapPortal int64, userID string) (outcome string, err error) {
	o := s.opts.LineLogin
	contact := strconv.FormatInt(t.ContactID, 10)
	outcome = "linked"
	err = o.Store.WithLineUserLock(ctx, mapPortal, t.Account, userID, func(ctx context.Context) error {
		cur, err := o.Store.LineContact(ctx, mapPortal, t.Account, userID)
		switch {
		case err == nil && cur != contact:
			outcome = "other_contact"
			return nil
		case err == nil:
			outcome = "relinked"
		case !errors.Is(err, store.ErrNotFound):
			outcome = "store_error"
			return err
		}
		// HubSpot first: the mapping only ever names a contact HubSpot accepted the ID on. A
		// mapping write that fails after it leaves the property set, which the next opening of
		// the link (or a webhook's search by the property) completes.
		if err := o.HubSpot.UpdateContact(ctx, t.PortalID, contact, map[string]string{s.lineUserIDProperty(t.Account): userID}); err != nil {
			outcome = "hubspot_error"
			return err
		}
		if err := o.Store.SetLineContact(ctx, mapPortal, t.Account, userID, contact); err != nil {
			outcome = "store_error"
			return err
		}
		return nil
	})
	return outcome, err
}

// shortUserID is how logs name a LINE user: a prefix, never the whole ID.
func shortUserID(id string) string {
	if len(id) <= 5 {
		return id
	}
	return id[:5] + "…"
}
