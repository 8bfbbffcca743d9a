package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/codec"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/linelogin"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/portaltokens"
	"github.com/hubline/hubline/internal/store"
	"github.com/hubline/hubline/starter"
)

// lineLoginCallTimeout bounds each LINE or HubSpot call of a LINE Login callback: a person is
// waiting for the page.
const lineLoginCallTimeout = 10 * time.Second

// useLineLogin turns on LINE Login linking when an account has a LINE Login channel: the
// starter signs links with a key derived from HUBLINE_SECRET_KEY (so every starter accepts
// every link, across restarts), spends states and keeps the LINE user → contact mapping in
// hubline's database, and writes the contact with the portal's HubSpot token. Without a
// channel, Create LINE link answers line_login_not_configured. close releases the database.
func useLineLogin(ctx context.Context, cfg *config.Config, log *zap.Logger, s *starter.Server, dev bool) (func(), error) {
	if len(cfg.LineLogins) == 0 {
		log.Info("LINE Login linking is off (no LINE_LOGIN_CHANNEL_ID): Create LINE link answers line_login_not_configured")
		return func() {}, nil
	}
	keys, err := secretKeys(cfg, dev, log)
	if err != nil {
		return nil, err
	}
	root, old, err := lineLoginRoots(cfg)
	if err != nil {
		return nil, err
	}
	if root == nil {
		return nil, errors.New("LINE_LOGIN_CHANNEL_ID is set, and LINE Login links are signed with a key derived from HUBLINE_SECRET_KEY: set it (openssl rand -base64 32), the same on every starter")
	}
	signer, err := linelogin.NewSigner(root, old...)
	if err != nil {
		return nil, err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, keys, log.Named("store"))
	if err != nil {
		return nil, fmt.Errorf("open hubline's database (LINE Login states and the LINE user → contact mapping): %w", err)
	}
	hc := &http.Client{Timeout: lineLoginCallTimeout}
	var tokens hubspot.TokenSource
	switch {
	case cfg.HubSpotRefreshToken != "":
		tokens = hubspot.NewOAuthRefresher(cfg.HubSpotAPIBaseURL, cfg.HubSpotClientID, cfg.HubSpotClientSecret, cfg.HubSpotRefreshToken, hc)
	case cfg.HubSpotAccessToken != "":
		tokens = hubspot.StaticToken(cfg.HubSpotAccessToken)
	case !cfg.MultiPortal():
		log.Warn("no HubSpot credentials (HUBSPOT_ACCESS_TOKEN or HUBSPOT_REFRESH_TOKEN): LINE Login links cannot set contacts' LINE user IDs")
		tokens = hubspot.StaticToken("")
	}
	hs := hubspot.NewClient(hubspot.Options{BaseURL: cfg.HubSpotAPIBaseURL, Tokens: tokens, HTTPClient: hc, Logger: log.Named("hubspot")})
	var portals hubspot.PortalTokenSource
	if cfg.MultiPortal() {
		portals = portaltokens.New(portaltokens.Options{
			Store: st, Logger: log.Named("portaltokens"),
			OAuth: &hubspot.OAuth{BaseURL: cfg.HubSpotAPIBaseURL, ClientID: cfg.HubSpotClientID, ClientSecret: cfg.HubSpotClientSecret, HTTPClient: hc},
		})
	}
	hs.UsePortals(portals, allowedPortals(cfg))
	channels := map[int]starter.LoginChannel{}
	for n, l := range cfg.LineLogins {
		channels[n] = starter.LoginChannel{ID: l.ChannelID, Secret: l.ChannelSecret}
	}
	s.UseLineLogin(&starter.LineLoginOptions{
		Signer: signer, Store: st, Channels: channels, AuthorizeURL: cfg.LineLoginAuthorizeURL,
		LINE: &linelogin.Client{BaseURL: cfg.LineAPIBaseURL, HTTPClient: hc}, HubSpot: hs, LinkTTL: cfg.LineLinkTTL,
	})
	log.Info("LINE Login linking is on: set "+cfg.PublicURL+starter.RouteLineLoginCallback+" as each LINE Login channel's callback URL",
		zap.Ints("line_accounts", loginAccounts(cfg)), zap.Duration("link_ttl", cfg.LineLinkTTL))
	return func() { _ = st.Close() }, nil
}

func loginAccounts(cfg *config.Config) []int {
	var ns []int
	for _, n := range cfg.AccountNumbers() {
		if _, ok := cfg.LineLogins[n]; ok {
			ns = append(ns, n)
		}
	}
	return ns
}

// lineLoginRoots are the links' root signing key and, during a key rotation, those of
// HUBLINE_SECRET_OLD_KEYS (links signed before it still work).
func lineLoginRoots(cfg *config.Config) (root []byte, old [][]byte, err error) {
	if root, err = lineLoginRoot(cfg); err != nil || root == nil {
		return nil, nil, err
	}
	for _, k := range strings.Split(cfg.SecretOldKeys, ",") {
		if k = strings.TrimSpace(k); k == "" {
			continue
		}
		raw, err := codec.ParseKey(k)
		if err != nil {
			return nil, nil, fmt.Errorf("HUBLINE_SECRET_OLD_KEYS: %w", err) // never echo a key
		}
		old = append(old, signingRoot(raw))
	}
	return root, old, nil
}

// signingRoot derives a signing root from an AES key, so the AES key itself never signs.
func signingRoot(k []byte) []byte {
	m := hmac.New(sha256.New, k)
	m.Write([]byte("hubline signing root v1"))
	return m.Sum(nil)
}

// lineLoginRoot is the links' root signing key: derived from HUBLINE_SECRET_KEY, or from the
// key dev generated into the data directory (store.LoadKeys reads the same file), never the
// AES key itself. nil: no key.
func lineLoginRoot(cfg *config.Config) ([]byte, error) {
	b64 := cfg.SecretKey
	if b64 == "" {
		path := filepath.Join(cmpDir(cfg.DataDir), store.KeyFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("HUBLINE_SECRET_KEY unset and %s unreadable: %w", path, err)
		}
		b64 = string(b)
	}
	k, err := codec.ParseKey(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_SECRET_KEY: %w", err) // never echo the key
	}
	return signingRoot(k), nil
}

func cmpDir(d string) string {
	if d == "" {
		return store.DefaultDataDir
	}
	return d
}

// devLineLogin gives dev's LINE sandbox account 1 a LINE Login channel when none is set, and
// points LINE_LOGIN_AUTHORIZE_URL at the sandbox's stand-in, so the linking flow works
// offline.
func devLineLogin(cfg *config.Config, box *linesandbox.Server, base string, log *zap.Logger) {
	if len(cfg.LineLogins) > 0 {
		return
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(9e9))
	id := fmt.Sprintf("%010d", 1e9+n.Int64())
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfg.LineLogins[1] = config.LineLogin{ChannelID: id, ChannelSecret: hex.EncodeToString(secret)}
	box.AddLoginChannel(id, cfg.LineLogins[1].ChannelSecret)
	box.AddLoginUser(linesandbox.LoginUser{UserID: "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", DisplayName: "Aiko"})
	if cfg.LineLoginAuthorizeURL == linelogin.DefaultAuthorizeURL {
		cfg.LineLoginAuthorizeURL = base + lineSandboxPath + "/oauth2/v2.1/authorize"
	}
	log.Info("LINE Login for account 1 uses the LINE sandbox's stand-in", zap.String("LINE_LOGIN_AUTHORIZE_URL", cfg.LineLoginAuthorizeURL))
}
