package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/lineprops"
	"github.com/hubline/hubline/internal/linesandbox"
)

// devLineFriends lets the LINE sandbox's friends reach the starter: each sandbox account
// gets a channel secret (LINE_CHANNEL_SECRET[_<n>] when set, else a new one, as the starter's
// too), and the sandbox sends their follows, blocks and messages, signed with it, to
// base/line/webhook/<n>.
func devLineFriends(cfg *config.Config, box *linesandbox.Server, base string, accounts int, log *zap.Logger) {
	if cfg.LineChannelSecrets == nil {
		cfg.LineChannelSecrets = map[int]string{}
	}
	hooks := map[int]linesandbox.WebhookAccount{}
	for n := 1; n <= accounts; n++ {
		if cfg.LineChannelSecrets[n] == "" {
			b := make([]byte, 16)
			_, _ = rand.Read(b)
			cfg.LineChannelSecrets[n] = hex.EncodeToString(b) // LINE's secrets are 32 hex digits too
		}
		hooks[n] = linesandbox.WebhookAccount{Label: fmt.Sprintf("account %d", n), ChannelSecret: cfg.LineChannelSecrets[n]}
	}
	box.UseWebhooks(linesandbox.Webhooks{BaseURL: base, Accounts: hooks})
	log.Info("LINE sandbox friends send signed webhooks to the starter", zap.String("page", base+lineSandboxPath+"/sandbox/friends"))
}

// devContactProperties does what hubline hubspot setup does, against the HubSpot sandbox, so
// dev's contacts have the LINE properties (the user ID ones unique) that a set-up portal
// has. It runs once the sandbox is served.
func devContactProperties(ctx context.Context, cfg *config.Config, base string, log *zap.Logger) {
	var accts []lineprops.Account
	for _, n := range cfg.AccountNumbers() {
		accts = append(accts, lineprops.Account{Number: n, UserIDProperty: cfg.LineUserIDProperty(n)})
	}
	c := hubspot.NewClient(hubspot.Options{BaseURL: base + hubspotSandboxPath, Tokens: hubspot.StaticToken(sandboxHubSpotToken),
		RequestsPerInterval: 1000})
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := lineprops.Setup(ctx, c, 0, lineprops.Plan(accts), false); err != nil {
		log.Warn("HubSpot sandbox: could not create the LINE contact properties", zap.Error(err))
		return
	}
	log.Info("HubSpot sandbox: the LINE contact properties exist, as hubline hubspot setup makes them", zap.Int("line_accounts", len(accts)))
}
