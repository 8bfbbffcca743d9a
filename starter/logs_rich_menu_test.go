package starter_test

import (
	"net/http"
	"testing"

	"github.com/hubline/hubline/internal/testenv"
)

// TestLogsOfSetLineRichMenuHoldNoUserID: a rich menu change puts the user ID in LINE's URL
// path, so a transport error's text would carry it; through the real starter and worker at
// debug level, no full user ID (nor the channel token) reaches the logger, whatever LINE answers.
func TestLogsOfSetLineRichMenuHoldNoUserID(t *testing.T) {
	logs := captureLogs(t)
	env := testenv.New(t, testenv.Options{Logger: logs.Log, LineTokens: map[int]string{1: canaryLineToken}})
	menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")
	send := func(cb, user, menuID string) map[string]string {
		t.Helper()
		r := env.Post(richMenuRoute, testenv.Action(cb, map[string]string{"line_user_id": user, "rich_menu_id": menuID}, nil))
		if r.OutputFields["hs_execution_state"] != "BLOCK" {
			return r.OutputFields
		}
		return waitResult(t, env, cb).OutputFields
	}
	if out := send("rm-log-ok", canaryUserID, menu); out["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("link: %v", out)
	}
	if out := send("rm-log-unknown", canaryUserID, "richmenu-0123456789abcdef0123456789abcdef"); out["error_code"] != "unknown_rich_menu" {
		t.Fatalf("unknown menu: %v", out)
	}
	env.LINE.FailNextRichMenu(http.StatusInternalServerError, 1)
	if out := send("rm-log-500", canaryUserID, ""); out["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("unlink after a 500: %v", out)
	}
	env.LINE.FailNextRichMenu(http.StatusUnauthorized, 1)
	if out := send("rm-log-401", canaryUserID, menu); out["error_code"] != "line_auth" {
		t.Fatalf("401: %v", out)
	}
	if out := send("rm-log-bad", canaryInvalidUser[:20], menu); out["error_code"] != "invalid_line_user_id" {
		t.Fatalf("invalid user: %v", out)
	}
	logs.assertLogged(t, "LINE rich menu changed", "LINE rich menu change failed", `"line_user":"Uc0ff`)
	logs.assertNoCanaries(t, canaries{
		"LINE user ID": canaryUserID[1:], "LINE user ID's middle": canaryUserMiddle,
		"invalid user ID": canaryInvalidUser[1:20], "LINE channel token": canaryLineToken,
	})
}
