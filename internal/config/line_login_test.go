package config

import (
	"strings"
	"testing"
	"time"
)

func TestLineLoginSettings(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.LineLinkTTL != 30*24*time.Hour || c.LineLoginAuthorizeURL != "https://access.line.me/oauth2/v2.1/authorize" || len(c.LineLogins) != 0 {
		t.Errorf("defaults: ttl %v, authorize %q, logins %v", c.LineLinkTTL, c.LineLoginAuthorizeURL, c.LineLogins)
	}
	c, err = Load([]string{"HUBLINE_LINE_LINK_TTL=72h", "LINE_LOGIN_CHANNEL_ID=1650000001", "LINE_LOGIN_CHANNEL_SECRET=s1",
		"LINE_LOGIN_CHANNEL_ID_3=1650000003", "LINE_LOGIN_CHANNEL_SECRET_3= s3 ", "LINE_LOGIN_AUTHORIZE_URL=http://127.0.0.1:8080/sandbox/line/oauth2/v2.1/authorize"})
	if err != nil {
		t.Fatal(err)
	}
	if c.LineLinkTTL != 72*time.Hour || c.LineLogins[1] != (LineLogin{"1650000001", "s1"}) || c.LineLogins[3] != (LineLogin{"1650000003", "s3"}) || len(c.LineLogins) != 2 {
		t.Errorf("set: ttl %v, logins %v", c.LineLinkTTL, c.LineLogins)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"HUBLINE_LINE_LINK_TTL=0d"}, "HUBLINE_LINE_LINK_TTL"},
		{[]string{"HUBLINE_LINE_LINK_TTL=30s"}, "HUBLINE_LINE_LINK_TTL"},
		{[]string{"HUBLINE_LINE_LINK_TTL=400d"}, "HUBLINE_LINE_LINK_TTL"},
		{[]string{"HUBLINE_LINE_LINK_TTL=month"}, "HUBLINE_LINE_LINK_TTL"},
		{[]string{"LINE_LOGIN_AUTHORIZE_URL=access.line.me"}, "LINE_LOGIN_AUTHORIZE_URL"},
		{[]string{"LINE_LOGIN_CHANNEL_ID=1650000001"}, "LINE_LOGIN_CHANNEL_SECRET"},
		{[]string{"LINE_LOGIN_CHANNEL_SECRET_2=top-secret-value"}, "LINE_LOGIN_CHANNEL_ID_2"},
		{[]string{"LINE_LOGIN_CHANNEL_ID=abc", "LINE_LOGIN_CHANNEL_SECRET=x"}, "LINE_LOGIN_CHANNEL_ID"},
		{[]string{"LINE_LOGIN_CHANNEL_ID_1=1", "LINE_LOGIN_CHANNEL_SECRET_1=x"}, "LINE_LOGIN_CHANNEL_ID_1"},
	} {
		_, err := Load(tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %s", tc.env, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "top-secret-value") {
			t.Errorf("%v: the error echoes the secret", tc.env)
		}
	}
	for in, want := range map[string]time.Duration{"1d": 24 * time.Hour, "90m": 90 * time.Minute, "366d": 366 * 24 * time.Hour} {
		if d, err := ParseLinkTTL(in); err != nil || d != want {
			t.Errorf("ParseLinkTTL(%q) = %v, %v", in, d, err)
		}
	}
}
