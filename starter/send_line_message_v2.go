package starter

import (
	"maps"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/hubline/hubline/workflows"
)

// CodeNoLineUserID: the contact has no LINE user ID for the account (v2).
const CodeNoLineUserID = workflows.CodeNoLineUserID

// DefaultLineUserIDProperty is the contact property holding account n's LINE user ID:
// line_user_id for account 1, line_user_id_<n> for the others.
func DefaultLineUserIDProperty(n int) string {
	if n <= 1 {
		return "line_user_id"
	}
	return "line_user_id_" + strconv.Itoa(n)
}

func (s *Server) lineUserIDProperty(account int) string {
	if p := s.opts.LineUserIDProperties[account]; p != "" {
		return p
	}
	return DefaultLineUserIDProperty(account)
}

// placeholderUserID stands in for the not yet known LINE user ID while v1's validation runs;
// it never reaches the workflow.
const placeholderUserID = "U00000000000000000000000000000000"

// sendLineMessageV2 is the deprecated v2 action: v1's inputs without line_user_id, which
// comes from the contact's property instead.
func (s *Server) sendLineMessageV2(c *gin.Context) {
	r, ok := s.decodeAction(c)
	if !ok {
		return
	}
	action := workflows.ActionSendLineMessageV2
	// The account decides which property holds the ID; v1's validation reports a bad account.
	acct, err := s.account(r)
	if err != nil {
		s.reject(c, action, r, err)
		return
	}
	prop := s.lineUserIDProperty(acct.Number)
	userID, requested := "", false
	if _, ok := r.Object.Properties[prop]; ok {
		// The action definition asks HubSpot for the property: no API call needed.
		requested = true
		userID = strings.TrimSpace(r.props[prop])
	}
	if requested && userID == "" {
		s.reject(c, action, r, &inputError{CodeNoLineUserID, "the contact has no value in property " + prop})
		return
	}
	// Reuse v1's validation (messages, account, tag, and the user ID when known) unchanged.
	r2 := *r
	r2.inputs = maps.Clone(r.inputs)
	r2.inputs[InputLineUserID] = userID
	if !requested {
		r2.inputs[InputLineUserID] = placeholderUserID
	}
	base, err := s.lineMessageInput(&r2, action)
	if err != nil {
		s.reject(c, action, r, err)
		return
	}
	if !requested {
		base.LineUserID = "" // the workflow reads it through the CRM API
	}
	in := workflows.SendLineMessageV2Input{SendLineMessageInput: base, UserIDProperty: prop}
	s.start(c, r, action, workflows.SendLineMessageV2Workflow, in, in.Account, in.AnalyticsTag)
}
