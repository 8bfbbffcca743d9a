package starter_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/workflows"
)

const richMenuRoute = "/actions/set-line-rich-menu"

// The testenv sandbox labels account n "account n".
const sandboxAccount1 = "account 1"

func richMenu(callbackID, menuID string) map[string]any {
	return testenv.Action(callbackID, map[string]string{"line_user_id": testenv.UserID, "rich_menu_id": menuID}, nil)
}

func TestSetLineRichMenuLinksThenUnlinks(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")

	r := env.Post(richMenuRoute, richMenu("rm-link", menu))
	if r.Status != 200 || r.OutputFields["hs_execution_state"] != "BLOCK" || r.OutputFields["hs_expiration_duration"] != "PT86400S" {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	res := waitResult(t, env, "rm-link")
	if res.OutputFields["hs_execution_state"] != "SUCCESS" || res.OutputFields["line_request_id"] == "" {
		t.Fatalf("result: %+v", res)
	}
	if got := env.LINE.LinkedRichMenu(sandboxAccount1, testenv.UserID); got != menu {
		t.Fatalf("linked menu %q, want %q", got, menu)
	}
	cbs := env.HubSpot.Callbacks()
	if len(cbs) != 1 || cbs[0].ID != "rm-link" || cbs[0].OutputFields["hs_execution_state"] != "SUCCESS" ||
		cbs[0].OutputFields["line_request_id"] != res.OutputFields["line_request_id"] {
		t.Fatalf("callbacks: %+v", cbs)
	}
	evs := env.HubSpot.TimelineEvents()
	if len(evs) != 1 || evs[0].ID != "hubline-rm-link" || evs[0].Tokens["action"] != "set_line_rich_menu" || evs[0].Tokens["rich_menu_id"] != menu {
		t.Fatalf("timeline: %+v", evs)
	}
	desc, err := env.Client.DescribeWorkflowExecution(t.Context(), workflows.WorkflowID("rm-link"), "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	sa := map[string]string{}
	for k, p := range info.GetSearchAttributes().GetIndexedFields() {
		var v string
		_ = json.Unmarshal(p.GetData(), &v)
		sa[k] = v
	}
	if info.GetType().GetName() != workflows.SetLineRichMenuWorkflow || info.GetTaskQueue() != workflows.InteractiveTaskQueue ||
		sa["ActionType"] != "set_line_rich_menu" || sa["LineAccount"] != "1" || sa["HubSpotObjectId"] != "904" {
		t.Fatalf("workflow %s on %s, search attributes %v", info.GetType().GetName(), info.GetTaskQueue(), sa)
	}
	if os.Getenv("HUBLINE_RECORD_HISTORIES") == "1" {
		if err := env.WriteHistory(workflows.WorkflowID("rm-link"), "", filepath.Join("..", "workflows", "testdata", "set_line_rich_menu.json")); err != nil {
			t.Fatal(err)
		}
	}

	// Empty rich_menu_id: back to the default menu.
	env.Post(richMenuRoute, richMenu("rm-unlink", ""))
	if res := waitResult(t, env, "rm-unlink"); res.OutputFields["hs_execution_state"] != "SUCCESS" {
		t.Fatalf("unlink result: %+v", res)
	}
	if got := env.LINE.LinkedRichMenu(sandboxAccount1, testenv.UserID); got != "" {
		t.Fatalf("still linked to %q after the unlink", got)
	}
	if n := env.LINE.RichMenuRequests(); n != 2 {
		t.Fatalf("%d rich menu requests, want 2", n)
	}
}

func TestSetLineRichMenuLineAnswers(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int // the first answer (0: the sandbox's own)
		unknown  bool
		state    string
		code     string
		requests int
	}{
		{"unknown menu", 0, true, "FAIL_CONTINUE", workflows.CodeUnknownRichMenu, 1},
		{"500 then 200", http.StatusInternalServerError, false, "SUCCESS", "", 2},
		{"429 then 200", http.StatusTooManyRequests, false, "SUCCESS", "", 2},
		{"401", http.StatusUnauthorized, false, "FAIL_CONTINUE", workflows.CodeLineAuth, 1},
		{"400", http.StatusBadRequest, false, "FAIL_CONTINUE", workflows.CodeLineRejected, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := testenv.New(t, testenv.Options{})
			menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")
			if tc.unknown {
				menu = "richmenu-0123456789abcdef0123456789abcdef"
			}
			if tc.status != 0 {
				env.LINE.FailNextRichMenu(tc.status, 1)
			}
			env.Post(richMenuRoute, richMenu("rm-answer", menu))
			res := waitResult(t, env, "rm-answer")
			if res.OutputFields["hs_execution_state"] != tc.state || res.OutputFields["error_code"] != tc.code {
				t.Fatalf("result: %+v", res)
			}
			if n := env.LINE.RichMenuRequests(); n != tc.requests {
				t.Fatalf("%d rich menu requests, want %d", n, tc.requests)
			}
			cbs := env.HubSpot.Callbacks()
			if len(cbs) != 1 || cbs[0].OutputFields["hs_execution_state"] != tc.state || cbs[0].OutputFields["error_code"] != tc.code {
				t.Fatalf("callback: %+v", cbs)
			}
			linked := env.LINE.LinkedRichMenu(sandboxAccount1, testenv.UserID)
			if (tc.state == "SUCCESS") != (linked == menu) {
				t.Fatalf("state %s, linked %q", tc.state, linked)
			}
		})
	}
}

func TestSetLineRichMenuRedeliveryLinksOnce(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoWorker: true})
	menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")
	first := env.Post(richMenuRoute, richMenu("rm-dup", menu))
	again := env.Post(richMenuRoute, richMenu("rm-dup", menu))
	if first.OutputFields["hs_execution_state"] != "BLOCK" || again.OutputFields["hs_execution_state"] != "BLOCK" {
		t.Fatalf("open run: first %s, again %s", first.Raw, again.Raw)
	}
	env.StartWorker()
	res := waitResult(t, env, "rm-dup")
	closed := env.Post(richMenuRoute, richMenu("rm-dup", menu))
	if closed.Status != 200 || closed.OutputFields["hs_execution_state"] != "SUCCESS" ||
		closed.OutputFields["line_request_id"] != res.OutputFields["line_request_id"] {
		t.Fatalf("closed run redelivery: %s", closed.Raw)
	}
	time.Sleep(300 * time.Millisecond) // give a wrongly started second run the chance to link
	if n := env.LINE.RichMenuRequests(); n != 1 {
		t.Fatalf("%d rich menu requests, want 1", n)
	}
	if n := len(env.HubSpot.Callbacks()); n != 1 {
		t.Fatalf("%d callback completions, want 1", n)
	}
}

func TestSetLineRichMenuExpiredBlockChangesNothing(t *testing.T) {
	env := testenv.New(t, testenv.Options{StarterNow: func() time.Time { return time.Now().Add(-25 * time.Hour) }})
	menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")
	env.Post(richMenuRoute, richMenu("rm-late", menu))
	res := waitResult(t, env, "rm-late")
	if res.OutputFields["error_code"] != workflows.CodeExpired || env.LINE.RichMenuRequests() != 0 {
		t.Fatalf("result %+v after %d requests", res, env.LINE.RichMenuRequests())
	}
}

func TestSetLineRichMenuInvalidInputs(t *testing.T) {
	env := testenv.New(t, testenv.Options{})
	const menu = "richmenu-0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name   string
		inputs map[string]string
		code   string
	}{
		{"no user", map[string]string{"rich_menu_id": menu}, "missing_line_user_id"},
		{"bad user", map[string]string{"line_user_id": "U4AF4980629", "rich_menu_id": menu}, "invalid_line_user_id"},
		{"bad account", map[string]string{"line_user_id": testenv.UserID, "line_account": "one", "rich_menu_id": menu}, "invalid_line_account"},
		{"unknown account", map[string]string{"line_user_id": testenv.UserID, "line_account": "7", "rich_menu_id": menu}, "unknown_line_account"},
		{"not a menu ID", map[string]string{"line_user_id": testenv.UserID, "rich_menu_id": "members"}, "invalid_rich_menu_id"},
		{"alias", map[string]string{"line_user_id": testenv.UserID, "rich_menu_id": "richmenu-alias-members"}, "invalid_rich_menu_id"},
		{"upper case", map[string]string{"line_user_id": testenv.UserID, "rich_menu_id": "richmenu-0123456789ABCDEF0123456789ABCDEF"}, "invalid_rich_menu_id"},
		{"misspelled input", map[string]string{"line_user_id": testenv.UserID, "richMenuId": menu}, "invalid_input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cb := "rm-bad-" + strings.ReplaceAll(tc.name, " ", "-")
			r := env.Post(richMenuRoute, testenv.Action(cb, tc.inputs, nil))
			if r.Status != 200 || r.OutputFields["hs_execution_state"] != "FAIL_CONTINUE" || r.OutputFields["error_code"] != tc.code ||
				r.OutputFields["error_message"] == "" {
				t.Fatalf("answer: %d %s", r.Status, r.Raw)
			}
			if _, err := env.Client.DescribeWorkflowExecution(t.Context(), workflows.WorkflowID(cb), ""); err == nil {
				t.Fatal("a workflow was started for invalid inputs")
			}
		})
	}
	if n := env.LINE.RichMenuRequests(); n != 0 {
		t.Fatalf("%d rich menu requests for invalid inputs", n)
	}
}
