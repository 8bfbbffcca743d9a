package starter

import (
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/workflows"
)

// InputRichMenuID is Set LINE Rich Menu's menu input (contract): a rich menu ID, or empty
// to unlink the user's menu.
const InputRichMenuID = "rich_menu_id"

// CodeInvalidRichMenuID: rich_menu_id is neither empty nor richmenu- and 32 hex digits.
const CodeInvalidRichMenuID = "invalid_rich_menu_id"

// setLineRichMenuInputs are the action's input fields, as its definition declares them.
var setLineRichMenuInputs = []string{InputLineUserID, InputLineAccount, InputRichMenuID}

func (s *Server) setLineRichMenu(c *gin.Context) {
	r, ok := s.decodeAction(c)
	if !ok {
		return
	}
	in, err := s.richMenuInput(r)
	if err != nil {
		s.reject(c, workflows.ActionSetLineRichMenu, r, err)
		return
	}
	s.start(c, r, workflows.ActionSetLineRichMenu, workflows.SetLineRichMenuWorkflow, in, in.Account, "")
}

// richMenuInput validates a Set LINE Rich Menu request: the same user ID and account rules
// as Send LINE Message, and the menu ID's shape (LINE answers an unknown one later).
func (s *Server) richMenuInput(r *actionRequest) (workflows.SetLineRichMenuInput, error) {
	in := workflows.SetLineRichMenuInput{
		CallbackID: r.CallbackID, PortalID: r.Origin.PortalID, HubSpotWorkflowID: r.Context.WorkflowID,
		ObjectID: r.Object.ObjectID, ActionType: workflows.ActionSetLineRichMenu,
		Deadline: s.opts.Now().Add(s.opts.BlockExpiration).UTC(),
	}
	in.LineUserID = r.input(InputLineUserID)
	switch {
	case in.LineUserID == "":
		return in, &inputError{CodeMissingLineUserID, "line_user_id is empty: the contact has no LINE user ID for this account"}
	case !line.ValidUserID(in.LineUserID):
		return in, &inputError{CodeInvalidLineUserID, "line_user_id is not a LINE user ID (U followed by 32 hex digits)"}
	}
	acct, err := s.account(r)
	if err != nil {
		return in, err
	}
	in.Account = acct.Number
	in.RichMenuID = r.input(InputRichMenuID)
	if in.RichMenuID != "" && !line.ValidRichMenuID(in.RichMenuID) {
		// The value is the user's own setting, not personal data; bounded all the same.
		return in, &inputError{CodeInvalidRichMenuID, "rich_menu_id " + strconv.Quote(truncate(in.RichMenuID, 80)) +
			" is not a rich menu ID (richmenu- followed by 32 lowercase hex digits; aliases are not accepted); leave it empty to unlink"}
	}
	return in, nil
}
