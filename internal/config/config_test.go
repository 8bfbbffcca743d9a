package config

import (
	"strings"
	"testing"
	"time"
)

func TestDefaults(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.TemporalAddress != "127.0.0.1:7233" || c.HTTPAddr != "127.0.0.1:8080" || c.UIAddr != "127.0.0.1:8233" {
		t.Fatalf("addresses: %+v", c)
	}
	if c.PublicURL != "http://127.0.0.1:8080" || c.BlockExpiration != 24*time.Hour || c.TemporalNamespace != "default" {
		t.Fatalf("defaults: %+v", c)
	}
	if len(c.LineAccounts) != 0 {
		t.Fatalf("no accounts expected: %v", c.LineAccounts)
	}
}

func TestAccounts(t *testing.T) {
	c, err := Load([]string{
		"LINE_CHANNEL_ACCESS_TOKEN=tok1", "LINE_CHANNEL_ACCESS_TOKEN_3=tok3",
		"LINE_CUSTOM_AGGREGATION_UNITS_3=true", "LINE_CHANNEL_ACCESS_TOKEN_X=ignored",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.AccountNumbers(); len(got) != 2 || got[0] != 1 || got[1] != 3 {
		t.Fatalf("accounts: %v", got)
	}
	if c.LineAccounts[1].AggregationUnits || !c.LineAccounts[3].AggregationUnits {
		t.Fatalf("aggregation units: %+v", c.LineAccounts)
	}
	c.AddLineAccount(1, "sandbox")
	if c.LineAccounts[1].Token != "sandbox" {
		t.Fatal("AddLineAccount did not set the token")
	}
}

func TestMalformedValuesNameTheVariable(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"TEMPORAL_ADDRESS=nope", "TEMPORAL_ADDRESS"},
		{"HUBLINE_HTTP_ADDR=8080", "HUBLINE_HTTP_ADDR"},
		{"HUBLINE_PUBLIC_URL=ftp://x", "HUBLINE_PUBLIC_URL"},
		{"HUBLINE_BLOCK_EXPIRATION=1 day", "HUBLINE_BLOCK_EXPIRATION"},
		{"HUBLINE_BLOCK_EXPIRATION=PT10S", "HUBLINE_BLOCK_EXPIRATION"},
		{"HUBLINE_INSECURE_SKIP_SIGNATURE=yes please", "HUBLINE_INSECURE_SKIP_SIGNATURE"},
		{"HUBLINE_SHUTDOWN_TIMEOUT=-1s", "HUBLINE_SHUTDOWN_TIMEOUT"},
		{"HUBLINE_LOG_LEVEL=loud", "HUBLINE_LOG_LEVEL"},
		{"LINE_CUSTOM_AGGREGATION_UNITS_2=maybe", "LINE_CUSTOM_AGGREGATION_UNITS_2"},
		{"LINE_CHANNEL_ACCESS_TOKEN_1=x", "LINE_CHANNEL_ACCESS_TOKEN_1"},
		{"HUBSPOT_CLIENT_ID=abc", "HUBSPOT_REFRESH_TOKEN"},
		{"LINE_API_BASE_URL=api.line.me", "LINE_API_BASE_URL"},
		{"HUBLINE_PAYLOAD_KEY=c2hvcnQta2V5", "HUBLINE_PAYLOAD_KEY"},
		{"HUBSPOT_RATE_LIMIT=0", "HUBSPOT_RATE_LIMIT"},
	} {
		_, err := Load([]string{tc.env})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: want error naming %s, got %v", tc.env, tc.want, err)
		}
	}
}

func TestParseISODuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"P1D", 24 * time.Hour, true},
		{"PT12H", 12 * time.Hour, true},
		{"P1DT2H30M", 26*time.Hour + 30*time.Minute, true},
		{"P2W", 14 * 24 * time.Hour, true},
		{"PT90S", 90 * time.Second, true},
		{"p1d", 24 * time.Hour, true},
		{"P1M", 0, false},
		{"P", 0, false},
		{"1D", 0, false},
		{"PT", 0, false},
		{"P1H", 0, false},
		{"PT5", 0, false},
		{"PTT1H", 0, false},
	} {
		got, err := ParseISODuration(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s: got %v, %v", tc.in, got, err)
		}
	}
}

func TestHelpListsEverySettingOfACommand(t *testing.T) {
	h := Help("starter")
	for _, want := range []string{"HUBSPOT_CLIENT_SECRET", "HUBLINE_HTTP_ADDR", "HUBLINE_INSECURE_SKIP_SIGNATURE"} {
		if !strings.Contains(h, want) {
			t.Errorf("starter help lacks %s", want)
		}
	}
	if strings.Contains(h, "HUBLINE_UI_ADDR") {
		t.Error("starter help lists the dev-only HUBLINE_UI_ADDR")
	}
}

func TestPayloadKeyErrorDoesNotEchoTheKey(t *testing.T) {
	_, err := Load([]string{"HUBLINE_PAYLOAD_KEY=c2hvcnQta2V5"})
	if err == nil || strings.Contains(err.Error(), "c2hvcnQta2V5") {
		t.Fatalf("got %v", err)
	}
	c, err := Load([]string{"HUBLINE_PAYLOAD_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="})
	if err != nil || len(c.PayloadKey) != 32 {
		t.Fatalf("valid key: %v", err)
	}
}
