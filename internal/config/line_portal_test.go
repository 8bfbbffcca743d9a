package config

import (
	"strings"
	"testing"
)

// TestLineChannelPortal: LINE_CHANNEL_PORTAL(_n) assigns environment accounts to portals,
// also accounts dev adds for the sandbox; unset leaves an account open to any portal.
func TestLineChannelPortal(t *testing.T) {
	c, err := Load([]string{
		"LINE_CHANNEL_ACCESS_TOKEN=tok1", "LINE_CHANNEL_ACCESS_TOKEN_2=tok2", "LINE_CHANNEL_ACCESS_TOKEN_3=tok3",
		"LINE_CHANNEL_PORTAL=111", "LINE_CHANNEL_PORTAL_3= 333 ", "LINE_CHANNEL_PORTAL_5=555",
	})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]int64{1: 111, 2: 0, 3: 333} {
		if got := c.LineAccounts[n].PortalID; got != want {
			t.Errorf("account %d: portal %d, want %d", n, got, want)
		}
	}
	c.AddLineAccount(5, "sandbox-5")
	if got := c.LineAccounts[5].PortalID; got != 555 {
		t.Errorf("AddLineAccount(5): portal %d, want 555", got)
	}
	for _, tc := range []struct{ env, want string }{
		{"LINE_CHANNEL_PORTAL=abc", "LINE_CHANNEL_PORTAL"},
		{"LINE_CHANNEL_PORTAL_2=-4", "LINE_CHANNEL_PORTAL_2"},
		{"LINE_CHANNEL_PORTAL_1=4", "LINE_CHANNEL_PORTAL_1"},
	} {
		if _, err := Load([]string{tc.env}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %s", tc.env, err, tc.want)
		}
	}
}
