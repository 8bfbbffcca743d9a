package linesandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestRichMenuCreateLinkUnlink(t *testing.T) {
	s := New(Options{Tokens: map[string]string{tok: "account 1", "token-b": "account 2"}})
	create := `{"size":{"width":2500,"height":843},"selected":false,"name":"members","chatBarText":"Menu","areas":[]}`
	r := do(t, s, "POST", "/v2/bot/richmenu", tok, "-", create)
	id, _ := r.body["richMenuId"].(string)
	if r.status != 200 || !strings.HasPrefix(id, "richmenu-") || len(id) != len("richmenu-")+32 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "POST", "/v2/bot/richmenu", tok, "-", `{"name":"x"}`); r.status != 400 || len(r.body["details"].([]any)) == 0 {
		t.Fatalf("invalid create: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", "/v2/bot/richmenu/list", tok, "-", ""); r.status != 200 || !strings.Contains(r.raw, id) {
		t.Fatalf("list: %d %s", r.status, r.raw)
	}

	for _, tc := range []struct {
		name, method, path, token string
		status                    int
		linked                    string
	}{
		{"no token", "POST", "/v2/bot/user/" + user1 + "/richmenu/" + id, "", 401, ""},
		{"unknown menu", "POST", "/v2/bot/user/" + user1 + "/richmenu/richmenu-00000000000000000000000000000000", tok, 404, ""},
		{"another channel's menu", "POST", "/v2/bot/user/" + user1 + "/richmenu/" + id, "token-b", 404, ""},
		{"bad user", "POST", "/v2/bot/user/Unot-a-user/richmenu/" + id, tok, 400, ""},
		{"wrong method", "PUT", "/v2/bot/user/" + user1 + "/richmenu/" + id, tok, 405, ""},
		{"link", "POST", "/v2/bot/user/" + user1 + "/richmenu/" + id, tok, 200, id},
		{"link again", "POST", "/v2/bot/user/" + user1 + "/richmenu/" + id, tok, 200, id},
		{"unlink", "DELETE", "/v2/bot/user/" + user1 + "/richmenu", tok, 200, ""},
		{"unlink nothing", "DELETE", "/v2/bot/user/" + user1 + "/richmenu", tok, 200, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s, tc.method, tc.path, tc.token, "-", "")
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.raw)
			}
			if r.status == 200 && r.raw != "{}" {
				t.Fatalf("body %s, want {}", r.raw)
			}
			if got := s.LinkedRichMenu("account 1", user1); got != tc.linked {
				t.Fatalf("linked %q, want %q", got, tc.linked)
			}
		})
	}
	if n := s.RichMenuRequests(); n != 7 {
		t.Errorf("RichMenuRequests = %d, want 7 (every authenticated link and unlink)", n)
	}
	do(t, s, "POST", "/v2/bot/user/"+user1+"/richmenu/"+id, tok, "-", "")
	if r := do(t, s, "GET", "/v2/bot/user/"+user1+"/richmenu", tok, "-", ""); r.status != 200 || r.body["richMenuId"] != id {
		t.Fatalf("get: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", "/v2/bot/user/"+user2+"/richmenu", tok, "-", ""); r.status != 404 {
		t.Fatalf("get without a link: %d %s", r.status, r.raw)
	}
}

func TestRichMenuFailNext(t *testing.T) {
	s := New(Options{})
	id := s.CreateRichMenu("default", "m")
	s.FailNextRichMenu(http.StatusInternalServerError, 1)
	if r := do(t, s, "POST", "/v2/bot/user/"+user1+"/richmenu/"+id, tok, "-", ""); r.status != 500 || s.LinkedRichMenu("default", user1) != "" {
		t.Fatalf("failed link: %d %s, linked %q", r.status, r.raw, s.LinkedRichMenu("default", user1))
	}
	if r := do(t, s, "POST", "/v2/bot/user/"+user1+"/richmenu/"+id, tok, "-", ""); r.status != 200 || s.LinkedRichMenu("default", user1) != id {
		t.Fatalf("link after the failure: %d %s", r.status, r.raw)
	}
	// Sends are not affected.
	if r := push(t, s, "-", user1, "hi"); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.raw)
	}
}

func TestRichMenuPage(t *testing.T) {
	s := New(Options{Tokens: map[string]string{tok: "account 1"}})
	form := url.Values{"account": {"account 1"}, "name": {"<b>VIP</b>"}}
	req := httptest.NewRequest("POST", "/sandbox/richmenus", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "richmenus" {
		t.Fatalf("form post: %d %q", w.Code, w.Header().Get("Location"))
	}
	menus, _ := s.RichMenus()
	if len(menus) != 1 || menus[0].Account != "account 1" {
		t.Fatalf("menus: %+v", menus)
	}
	do(t, s, "POST", "/v2/bot/user/"+user1+"/richmenu/"+menus[0].RichMenuID, tok, "-", "")
	page := do(t, s, "GET", "/sandbox/richmenus", "", "-", "")
	if page.status != 200 || !strings.Contains(page.raw, menus[0].RichMenuID) || !strings.Contains(page.raw, user1) ||
		strings.Contains(page.raw, "<b>VIP") {
		t.Fatalf("page (menu, link, escaped name): %d %s", page.status, page.raw)
	}
	if r := do(t, s, "POST", "/sandbox/richmenus", "", "-", ""); r.status != 400 {
		t.Fatalf("form without account: %d", r.status)
	}
	if j := do(t, s, "GET", "/sandbox/richmenus?format=json", "", "-", ""); j.status != 200 || len(j.body["links"].([]any)) != 1 {
		t.Fatalf("json: %d %s", j.status, j.raw)
	}
	if main := do(t, s, "GET", "/sandbox", "", "-", ""); !strings.Contains(main.raw, `href="sandbox/richmenus"`) {
		t.Fatal("the sandbox page does not link the rich menus page")
	}
}
