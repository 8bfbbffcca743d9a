package config

import (
	"strings"
	"testing"
)

func TestDatabaseSettings(t *testing.T) {
	key := "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" // base64 of 32 bytes
	for _, c := range []struct {
		env     []string
		wantErr string // empty: valid
	}{
		{nil, ""},
		{[]string{"HUBLINE_SECRET_KEY=" + key, "HUBLINE_DATABASE_URL=postgres://u:pw@db:5432/hubline?sslmode=require"}, ""},
		{[]string{"HUBLINE_DATABASE_URL=postgresql://u@db/hubline"}, ""},
		{[]string{"HUBLINE_DATABASE_URL=host=db user=u dbname=hubline"}, ""},
		{[]string{"HUBLINE_SECRET_KEY=c2hvcnQ="}, "HUBLINE_SECRET_KEY"},
		{[]string{"HUBLINE_SECRET_KEY=not-base64!"}, "HUBLINE_SECRET_KEY"},
		{[]string{"HUBLINE_DATABASE_URL=mysql://u:hunter2@db/hubline"}, "HUBLINE_DATABASE_URL"},
	} {
		_, err := Load(c.env)
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("%v: %v", c.env, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.wantErr) {
			t.Errorf("%v: error %v, want one naming %s", c.env, err, c.wantErr)
			continue
		}
		for _, secret := range []string{"c2hvcnQ=", "not-base64!", "hunter2"} {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("%v: error echoes a secret: %v", c.env, err)
			}
		}
	}
	cfg, err := Load([]string{"HUBLINE_SECRET_KEY=" + key, "HUBLINE_DATABASE_URL=postgres://db/h", "HUBLINE_DATA_DIR=/var/lib/hubline"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SecretKey != key || cfg.DatabaseURL != "postgres://db/h" || cfg.DataDir != "/var/lib/hubline" {
		t.Errorf("got SecretKey %q, DatabaseURL %q, DataDir %q", cfg.SecretKey, cfg.DatabaseURL, cfg.DataDir)
	}
}
