package starter

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/linelogin"
	"github.com/hubline/hubline/workflows"
)

// ActionCreateLineLink is the Create LINE link action's ActionType (metrics, logs).
const ActionCreateLineLink = "create_line_link"

// FieldLineLinkURL is the Create LINE link action's output: the link to send the contact.
const FieldLineLinkURL = "line_link_url"

// CodeLineLoginNotConfigured: the account has no LINE Login channel, or no
// HUBLINE_SECRET_KEY signs links.
const CodeLineLoginNotConfigured = "line_login_not_configured"

// CodeMissingObjectID: the execution names no contact.
const CodeMissingObjectID = "missing_object_id"

// createLineLink answers SUCCESS at once with a signed link under HUBLINE_PUBLIC_URL that
// starts LINE Login for this contact, portal and account. Nothing durable happens, so no
// workflow: a redelivery of the callbackId gets a new link, and every link handed out stays
// valid until it expires (they all name the same contact).
func (s *Server) createLineLink(c *gin.Context) {
	const action = ActionCreateLineLink
	r, ok := s.decodeAction(c)
	if !ok {
		return
	}
	acct, err := s.account(r)
	if err != nil {
		s.reject(c, action, r, err)
		return
	}
	if r.Object.ObjectID <= 0 {
		s.reject(c, action, r, &inputError{CodeMissingObjectID, "object.objectId is required: the link is for a contact"})
		return
	}
	o := s.opts.LineLogin
	switch {
	case o == nil || o.Signer == nil:
		s.reject(c, action, r, &inputError{CodeLineLoginNotConfigured, "LINE Login linking is not set up on this hubline (it needs HUBLINE_SECRET_KEY and a LINE Login channel)"})
		return
	case o.Channels[acct.Number].ID == "":
		s.reject(c, action, r, &inputError{CodeLineLoginNotConfigured, "LINE account " + itoa64(int64(acct.Number)) + " has no LINE Login channel (LINE_LOGIN_CHANNEL_ID)"})
		return
	}
	tok := o.Signer.Link(linelogin.Link{
		Target:  linelogin.Target{PortalID: r.Origin.PortalID, Account: acct.Number, ContactID: r.Object.ObjectID},
		Expires: s.opts.Now().Add(o.LinkTTL),
	})
	link := strings.TrimRight(s.opts.PublicURL, "/") + RouteLineLink + url.PathEscape(tok)
	s.requests.WithLabelValues(action, "succeeded").Inc()
	s.log.Info("LINE link created", zap.String("action", action), zap.String("callback_id", r.CallbackID),
		zap.Int64("portal_id", r.Origin.PortalID), zap.Int("line_account", acct.Number), zap.Int64("contact_id", r.Object.ObjectID))
	c.JSON(http.StatusOK, outputs(map[string]string{
		workflows.FieldExecutionState: workflows.StateSuccess,
		FieldLineLinkURL:              link,
	}))
}
