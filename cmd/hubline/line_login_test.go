package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/linelogin"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/starter"
)

// The links' signing key: HUBLINE_SECRET_KEY, or the key dev generated (the same file the
// store reads), and none otherwise; never the AES key itself.
func TestLineLoginSigningKey(t *testing.T) {
	dir := t.TempDir()
	if root, err := lineLoginRoot(&config.Config{DataDir: dir}); err != nil || root != nil {
		t.Fatalf("no key: %x, %v", root, err)
	}
	if _, err := store.LoadKeys("", dir, true, zap.NewNop()); err != nil { // what dev does first
		t.Fatal(err)
	}
	fromFile, err := lineLoginRoot(&config.Config{DataDir: dir})
	if err != nil || len(fromFile) != 32 {
		t.Fatalf("dev's key: %x, %v", fromFile, err)
	}
	b64, _ := os.ReadFile(filepath.Join(dir, store.KeyFile))
	fromEnv, err := lineLoginRoot(&config.Config{SecretKey: strings.TrimSpace(string(b64)), DataDir: t.TempDir()})
	if err != nil || !bytes.Equal(fromEnv, fromFile) {
		t.Errorf("HUBLINE_SECRET_KEY with the same key: %x, %v; want %x", fromEnv, err, fromFile)
	}
	if bytes.Contains(fromEnv, []byte(strings.TrimSpace(string(b64)))) {
		t.Error("the root is the key itself")
	}
}

func TestUseLineLogin(t *testing.T) {
	log := zap.NewNop()
	s := starter.New(starter.Options{})
	// No LINE Login channel: off, nothing opened.
	cfg := &config.Config{DataDir: t.TempDir()}
	closeFn, err := useLineLogin(context.Background(), cfg, log, s, false)
	if err != nil {
		t.Fatal(err)
	}
	closeFn()
	if _, err := os.Stat(filepath.Join(cfg.DataDir, store.DBFile)); err == nil {
		t.Error("the database was opened although linking is off")
	}
	// A channel but no HUBLINE_SECRET_KEY outside dev: refused at start-up.
	cfg.LineLogins = map[int]config.LineLogin{1: {ChannelID: "1650000001", ChannelSecret: "s"}}
	if _, err := useLineLogin(context.Background(), cfg, log, s, false); err == nil || !strings.Contains(err.Error(), "HUBLINE_SECRET_KEY") {
		t.Errorf("no key: %v, want a refusal naming HUBLINE_SECRET_KEY", err)
	}
	// dev: the sandbox's channel and stand-in, a generated key, hubline's SQLite database.
	dev := &config.Config{DataDir: t.TempDir(), LineLogins: map[int]config.LineLogin{},
		LineLoginAuthorizeURL: linelogin.DefaultAuthorizeURL, LineAccounts: map[int]config.LineAccount{1: {Number: 1, Token: "t"}}}
	devLineLogin(dev, linesandbox.New(linesandbox.Options{}), "http://127.0.0.1:8080", log)
	if l := dev.LineLogins[1]; l.ChannelID == "" || l.ChannelSecret == "" ||
		dev.LineLoginAuthorizeURL != "http://127.0.0.1:8080/sandbox/line/oauth2/v2.1/authorize" {
		t.Fatalf("dev: %+v %s", dev.LineLogins, dev.LineLoginAuthorizeURL)
	}
	closeFn, err = useLineLogin(context.Background(), dev, log, s, true)
	if err != nil {
		t.Fatal(err)
	}
	closeFn()
	if _, err := os.Stat(filepath.Join(dev.DataDir, store.DBFile)); err != nil {
		t.Errorf("dev: hubline's database: %v", err)
	}
}
