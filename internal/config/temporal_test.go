package config

import (
	"strings"
	"testing"
)

func TestTemporalConnAndOldKeySettings(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	other := "YWJjZGVmMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODk="
	for _, c := range []struct {
		env     []string
		wantErr string // empty: valid
	}{
		{nil, ""},
		{[]string{"TEMPORAL_TLS_CERT=/c.pem", "TEMPORAL_TLS_KEY=/k.pem", "TEMPORAL_TLS_CA=/ca.pem", "TEMPORAL_TLS_SERVER_NAME=t.example"}, ""},
		{[]string{"TEMPORAL_API_KEY=secret-api-key"}, ""},
		{[]string{"TEMPORAL_TLS_CERT=/c.pem"}, "TEMPORAL_TLS_CERT needs TEMPORAL_TLS_KEY"},
		{[]string{"TEMPORAL_TLS_KEY=/k.pem", "TEMPORAL_API_KEY=secret-api-key"}, "TEMPORAL_TLS_KEY needs TEMPORAL_TLS_CERT"},
		{[]string{"HUBLINE_PAYLOAD_KEY=" + key, "HUBLINE_PAYLOAD_OLD_KEYS=" + other + ", " + key}, ""},
		{[]string{"HUBLINE_PAYLOAD_OLD_KEYS=" + other}, "HUBLINE_PAYLOAD_OLD_KEYS needs HUBLINE_PAYLOAD_KEY"},
		{[]string{"HUBLINE_PAYLOAD_KEY=" + key, "HUBLINE_PAYLOAD_OLD_KEYS=" + other + ",c2hvcnQ="}, "HUBLINE_PAYLOAD_OLD_KEYS: key 2"},
		{[]string{"HUBLINE_SECRET_KEY=" + key, "HUBLINE_SECRET_OLD_KEYS=" + other}, ""},
		{[]string{"HUBLINE_SECRET_OLD_KEYS=not-base64!"}, "HUBLINE_SECRET_OLD_KEYS: key 1"},
	} {
		_, err := Load(c.env)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%v: %v", c.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%v: error %v, want one containing %q", c.env, err, c.wantErr)
			continue
		}
		for _, secret := range []string{"secret-api-key", "c2hvcnQ=", "not-base64!", other} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%v: error echoes a secret: %v", c.env, err)
			}
		}
	}
	cfg, err := Load([]string{"TEMPORAL_API_KEY=k", "HUBLINE_PAYLOAD_KEY=" + key, "HUBLINE_PAYLOAD_OLD_KEYS=" + other, "HUBLINE_SECRET_OLD_KEYS=" + other})
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Temporal.TLS() || cfg.Temporal.APIKey != "k" || len(cfg.PayloadOldKeys) != 1 || cfg.SecretOldKeys != other {
		t.Errorf("got Temporal %+v, %d old payload keys, SecretOldKeys %q", cfg.Temporal, len(cfg.PayloadOldKeys), cfg.SecretOldKeys)
	}
	if cfg, _ := Load(nil); cfg.Temporal.TLS() {
		t.Error("TLS without any setting")
	}
}
