package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hubline/hubline/internal/accounts"
	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/lineprops"
	"github.com/hubline/hubline/internal/portaltokens"
	"github.com/hubline/hubline/internal/store"
)

const hubspotSetupHelp = `  hubline hubspot setup [--dry-run] [--portal ID | --all-portals]
      Creates the contact property group "hubline" and, for every LINE account, the contact
      properties hubline writes for LINE friends: the LINE user ID property
      (HUBSPOT_LINE_USER_ID_PROPERTY[_<n>], unique where HubSpot allows it), line_follow_status,
      line_display_name, line_picture_url, line_language, line_followed_at and
      line_last_interaction_at (_<n> for account n >= 2). Existing properties are never changed:
      it prints created, found or differs for each, and fails when an existing property would
      refuse hubline's values. Single-portal mode uses HUBSPOT_ACCESS_TOKEN or
      HUBSPOT_REFRESH_TOKEN; multi-portal mode needs --portal ID (that installed portal's token
      and LINE accounts) or --all-portals (every connected portal). --dry-run only reads.

`

// setupTarget is one portal to set up, with the client and accounts it uses.
type setupTarget struct {
	portalID int64 // 0: the single-portal token's own portal
	accounts []accounts.Account
}

func runHubSpotSetup(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("hubspot setup", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "print what would be created; write nothing")
	portal := fs.Int64("portal", 0, "multi-portal mode: the installed portal to set up")
	all := fs.Bool("all-portals", false, "multi-portal mode: every connected portal")
	if err := parseFlags(fs, args, "hubspot setup [--dry-run] [--portal ID | --all-portals]", stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: hubspot setup takes no arguments besides its flags", errUsage)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("invalid settings:\n%w", err)
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	opts := hubspot.Options{BaseURL: cfg.HubSpotAPIBaseURL, HTTPClient: hc, RequestsPerInterval: cfg.HubSpotRateLimit, Allowed: allowedPortals(cfg)}
	env := accounts.FromConfig(cfg)
	var (
		targets []setupTarget
		st      *store.Store
	)
	switch {
	case cfg.MultiPortal():
		if (*portal > 0) == *all {
			return fmt.Errorf("%w: multi-portal mode: name the portal to set up with --portal ID, or use --all-portals", errUsage)
		}
		if st, err = openCLIStore(ctx, cfg); err != nil {
			return err
		}
		defer st.Close()
		opts.PortalTokens = portaltokens.New(portaltokens.Options{Store: st, OAuth: &hubspot.OAuth{
			BaseURL: cfg.HubSpotAPIBaseURL, ClientID: cfg.HubSpotClientID, ClientSecret: cfg.HubSpotClientSecret, HTTPClient: hc}})
		r, err := accounts.New(ctx, accounts.Options{Env: env, Stored: accounts.FromStore(st, cfg)})
		if err != nil {
			return err
		}
		ids := []int64{*portal}
		if *all {
			ps, err := st.Portals(ctx)
			if err != nil {
				return err
			}
			ids = nil
			for _, p := range ps {
				if p.Status != store.StatusRevoked && cfg.PortalAllowed(p.PortalID) {
					ids = append(ids, p.PortalID)
				}
			}
			if len(ids) == 0 {
				return errors.New("no connected portal: a portal installs hubline at HUBLINE_PUBLIC_URL/oauth/install first")
			}
		}
		for _, id := range ids {
			targets = append(targets, setupTarget{portalID: id, accounts: r.ForPortal(ctx, id)})
		}
	case *portal != 0 || *all:
		return fmt.Errorf("%w: --portal and --all-portals are for multi-portal mode (HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET without a token); single-portal mode sets up the token's portal", errUsage)
	case cfg.HubSpotAccessToken != "" || cfg.HubSpotRefreshToken != "":
		opts.Tokens = hubspot.StaticToken(cfg.HubSpotAccessToken)
		if cfg.HubSpotRefreshToken != "" {
			opts.Tokens = hubspot.NewOAuthRefresher(cfg.HubSpotAPIBaseURL, cfg.HubSpotClientID, cfg.HubSpotClientSecret, cfg.HubSpotRefreshToken, hc)
		}
		opts.Allowed = nil // the token's portal is not known here
		r := accounts.Static(env)
		if cfg.DatabaseURL != "" {
			// As the worker does: stored accounts are read when hubline has a database.
			if st, err = openCLIStore(ctx, cfg); err != nil {
				return err
			}
			defer st.Close()
			if r, err = accounts.New(ctx, accounts.Options{Env: env, Stored: accounts.FromStore(st, cfg)}); err != nil {
				return err
			}
		}
		targets = []setupTarget{{accounts: r.All()}}
	default:
		return errors.New("hubspot setup needs a HubSpot token: HUBSPOT_ACCESS_TOKEN, or HUBSPOT_REFRESH_TOKEN with HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET; or multi-portal mode (HUBSPOT_CLIENT_ID and HUBSPOT_CLIENT_SECRET) with --portal ID or --all-portals")
	}
	client := hubspot.NewClient(opts)

	var problems []string
	for _, t := range targets {
		name := "HubSpot portal " + strconv.FormatInt(t.portalID, 10)
		if t.portalID == 0 {
			name = "HubSpot (the token's portal)"
		}
		var accts []lineprops.Account
		for _, a := range t.accounts {
			accts = append(accts, lineprops.Account{Number: a.Number, UserIDProperty: cfg.LineUserIDProperty(a.Number)})
		}
		switch {
		case len(accts) == 0 && t.portalID != 0:
			fmt.Fprintf(stdout, "%s: no LINE account is connected for it; nothing to set up (hubline accounts add --portal %d)\n", name, t.portalID)
			continue
		case len(accts) == 0:
			// Single-portal mode before LINE is configured: account 1's names are known.
			fmt.Fprintf(stdout, "%s: no LINE account is configured yet; setting up account 1's properties\n", name)
			accts = []lineprops.Account{{Number: 1, UserIDProperty: cfg.LineUserIDProperty(1)}}
		}
		nums := make([]string, len(accts))
		for i, a := range accts {
			nums[i] = strconv.Itoa(a.Number)
		}
		dry := ""
		if *dryRun {
			dry = " (dry run: nothing is written)"
		}
		fmt.Fprintf(stdout, "%s, LINE accounts %s%s:\n", name, strings.Join(nums, ", "), dry)
		results, err := lineprops.Setup(ctx, client, t.portalID, lineprops.Plan(accts), *dryRun)
		for _, r := range results {
			fmt.Fprintln(stdout, "  "+describeSetup(r))
			switch {
			case r.Err != nil:
				problems = append(problems, fmt.Sprintf("%s: %s could not be created", name, r.Name))
			case r.Incompatible:
				problems = append(problems, fmt.Sprintf("%s: %s refuses hubline's values", name, r.Name))
			}
		}
		if err != nil {
			fmt.Fprintf(stdout, "  stopped: %v\n", err)
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("hubspot setup is incomplete:\n  %s", strings.Join(problems, "\n  "))
	}
	return nil
}

// describeSetup is one line of the report.
func describeSetup(r lineprops.Result) string {
	var b strings.Builder
	if r.Group {
		b.WriteString("group ")
	}
	b.WriteString(r.Name + ": " + string(r.Outcome))
	if r.Unique {
		b.WriteString(" (unique)")
	}
	if len(r.Differences) > 0 {
		b.WriteString(": " + strings.Join(r.Differences, "; "))
		if r.Incompatible {
			b.WriteString("; hubline's values would be refused: change it in HubSpot, or name another property")
		} else {
			b.WriteString("; left as it is (hubline's values fit)")
		}
	}
	if r.Err != nil {
		b.WriteString(": " + r.Err.Error())
	}
	if r.Note != "" {
		b.WriteString(" (" + r.Note + ")")
	}
	return b.String()
}
