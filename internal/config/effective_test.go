package config

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ name, value, want string }{
		{"LINE_CHANNEL_ACCESS_TOKEN_2", "tok-123", Redacted},
		{"HUBSPOT_CLIENT_SECRET", "s3cret", Redacted},
		{"HUBLINE_PAYLOAD_KEY", "MDEy", Redacted},
		{"TEMPORAL_API_KEY", "k", Redacted},
		{"SOME_PASSWORD", "pw", Redacted},
		{"HUBSPOT_ACCESS_TOKEN", "", ""},
		{"HUBLINE_DATABASE_URL", "postgres://hubline:pg-pass@db:5432/hubline?sslmode=require", "postgres://REDACTED@db:5432/hubline?sslmode=require"},
		{"HUBLINE_DATABASE_URL", "host=db user=h password=pg-pass", Redacted},
		{"HUBLINE_CODEC_JWKS_URL", "https://idp.example.com/jwks?api_key=abc&x=1", "https://idp.example.com/jwks?api_key=REDACTED&x=1"},
		{"HUBSPOT_API_BASE_URL", "https://api.hubapi.com", "https://api.hubapi.com"},
		{"HUBLINE_HTTP_ADDR", "0.0.0.0:8080", "0.0.0.0:8080"},
	} {
		if got := Redact(c.name, c.value); got != c.want {
			t.Errorf("Redact(%s, %q) = %q, want %q", c.name, c.value, got, c.want)
		}
	}
}

// TestEffectiveRedactsSecrets: the start-up print has every setting the command reads, with
// defaults filled in and no secret value anywhere in it.
func TestEffectiveRedactsSecrets(t *testing.T) {
	secrets := []string{"line-tok-1", "line-tok-2", "hs-secret", "hs-token", "pg-pass", "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="}
	env := []string{
		"LINE_CHANNEL_ACCESS_TOKEN=line-tok-1", "LINE_CHANNEL_ACCESS_TOKEN_2=line-tok-2",
		"HUBSPOT_CLIENT_SECRET=hs-secret", "HUBSPOT_ACCESS_TOKEN=hs-token",
		"HUBLINE_DATABASE_URL=postgres://hubline:pg-pass@db:5432/hubline",
		"HUBLINE_PAYLOAD_KEY=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
		"HUBLINE_METRICS_ADDR=0.0.0.0:9091", "UNRELATED=1",
	}
	got := Effective(env, "worker")
	for k, v := range got {
		for _, s := range secrets {
			if strings.Contains(v, s) {
				t.Errorf("%s=%q shows secret %q", k, v, s)
			}
		}
	}
	for k, want := range map[string]string{
		"LINE_CHANNEL_ACCESS_TOKEN": Redacted, "LINE_CHANNEL_ACCESS_TOKEN_2": Redacted, "HUBSPOT_CLIENT_SECRET": Redacted,
		"HUBLINE_METRICS_ADDR": "0.0.0.0:9091", "TEMPORAL_ADDRESS": "127.0.0.1:7233",
		"HUBLINE_DATABASE_URL": "postgres://REDACTED@db:5432/hubline",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	if _, ok := got["UNRELATED"]; ok {
		t.Error("a variable hubline does not read is printed")
	}
	if _, ok := got["HUBLINE_HTTP_ADDR"]; ok {
		t.Error("the worker's print lists the starter-only HUBLINE_HTTP_ADDR")
	}
}
