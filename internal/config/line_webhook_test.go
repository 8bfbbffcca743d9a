package config

import (
	"strings"
	"testing"
)

func TestLineWebhookSettings(t *testing.T) {
	c, err := Load([]string{
		"LINE_CHANNEL_SECRET=s1", "LINE_CHANNEL_SECRET_3=s3",
		"HUBLINE_LINE_EVENT_FORWARD_URL_2=https://bot.example.com/e?k=hidden", "HUBLINE_LINE_EVENT_FORWARD_SECRET_2=f2",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.LineChannelSecrets[1] != "s1" || c.LineChannelSecrets[3] != "s3" || len(c.LineChannelSecrets) != 2 {
		t.Fatalf("secrets: %v", c.LineChannelSecrets)
	}
	if f := c.LineEventForwards[2]; f.URL != "https://bot.example.com/e?k=hidden" || f.Secret != "f2" || len(c.LineEventForwards) != 1 {
		t.Fatalf("forwards: %+v", c.LineEventForwards)
	}

	for _, tc := range []struct {
		env  string
		want string
	}{
		{"LINE_CHANNEL_SECRET_1=x", "LINE_CHANNEL_SECRET_1: account numbers start at 2"},
		{"HUBLINE_LINE_EVENT_FORWARD_URL=ftp://secret-host/x", "HUBLINE_LINE_EVENT_FORWARD_URL: want an http(s) URL"},
		{"HUBLINE_LINE_EVENT_FORWARD_SECRET_2=topsecret", "HUBLINE_LINE_EVENT_FORWARD_SECRET_2 is set without HUBLINE_LINE_EVENT_FORWARD_URL_2"},
	} {
		_, err := Load([]string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.env, err, tc.want)
		}
		if err != nil && (strings.Contains(err.Error(), "secret-host") || strings.Contains(err.Error(), "topsecret")) {
			t.Errorf("%s: the error echoes the value: %v", tc.env, err)
		}
	}
}
