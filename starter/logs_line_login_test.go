package starter

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLogsOfLineLoginHoldNoTokens walks Create LINE link and LINE Login (linked, reused
// state, HubSpot 503 then linked, a user already on another contact, LINE refusing the
// account's token, an expired link) with the starter's logger at debug level, and checks
// what TestLineLogin*'s checkLogs does not: no ID token or other JWT (every one starts
// "eyJ"), no channel access token and no HubSpot token, besides the links, codes, states,
// login channel secret and user IDs checkLogs covers.
func TestLogsOfLineLoginHoldNoTokens(t *testing.T) {
	e := newLineLoginEnv(t)
	var urls []string
	walk := func(link, user string, status int) {
		t.Helper()
		callback := e.approve(e.open(link), user)
		urls = append(urls, link, callback)
		if st, _, page := get(t, callback); st != status {
			t.Fatalf("callback: HTTP %d, want %d: %s", st, status, page)
		}
	}
	link := e.link(904)
	walk(link, llUser1, http.StatusOK)
	if st, _, _ := get(t, urls[len(urls)-1]); st != http.StatusBadRequest {
		t.Fatalf("reused state: HTTP %d", st)
	}
	e.hs.FailNext("/crm/v3/objects/contacts", http.StatusServiceUnavailable, 1)
	walk(e.link(905), llUser2, http.StatusBadGateway)
	walk(urls[len(urls)-2], llUser2, http.StatusOK)
	walk(e.link(999), llUser2, http.StatusConflict) // user 2 is 905's already
	out := e.createLink("cb-logs-acct-2", 905, map[string]string{"line_account": "2"})
	walk(out["line_link_url"], llUser2, http.StatusBadGateway)
	expired := e.link(904)
	e.advance(31 * 24 * time.Hour)
	if st, _, _ := get(t, expired); st == http.StatusFound {
		t.Fatalf("an expired link still redirects to LINE Login")
	}
	if e.line.IDTokensIssued() < 3 {
		t.Fatalf("ID tokens issued: %d, want the exchanges to have happened", e.line.IDTokensIssued())
	}

	e.checkLogs(append(urls, expired)...)
	e.logMu.Lock()
	logs := e.logs.String()
	e.logMu.Unlock()
	for name, v := range map[string]string{
		"a JWT (ID token)": "eyJ", "channel access token": "tok-1", "HubSpot token": "hs-token",
		"user 1's middle": llUser1[5:28], "user 2's middle": llUser2[5:28],
	} {
		if strings.Contains(logs, v) {
			t.Errorf("%s (%q) reached the logs", name, v)
		}
	}
	for _, u := range urls {
		p, _ := url.Parse(u)
		for _, k := range []string{"code", "state"} {
			if v := p.Query().Get(k); v != "" && strings.Contains(logs, v) {
				t.Errorf("the %s of %s reached the logs", k, p.Path)
			}
		}
	}
}
