package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/hubline/hubline/internal/actiondefs"
	"github.com/hubline/hubline/internal/config"
)

func init() {
	argCommands["hubspot"] = argCommand{"HubSpot app: hubspot register [--dry-run] [--dir hubspot] registers the actions with your app; hubspot setup [--dry-run] [--portal ID | --all-portals] creates the LINE contact properties", runHubSpot}
}

const hubspotHelp = `hubline hubspot: manage hubline's HubSpot app.

  hubline hubspot register [--dry-run] [--dir DIR]
      Registers every DIR/*.action.json (default: hubspot/) as a custom workflow action of the
      app HUBSPOT_APP_ID: creates the missing ones, updates the changed ones (matched by the
      path of actionUrl, which is HUBLINE_PUBLIC_URL + the file's route) and prints what it did
      for each. Running it again writes nothing. --dry-run prints the plan and writes nothing.

` + hubspotSetupHelp

func runHubSpot(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, hubspotHelp+config.Help("hubspot"))
		if len(args) == 0 {
			return fmt.Errorf("%w: name a hubspot operation (register, setup)", errUsage)
		}
		return nil
	}
	if args[0] == "setup" {
		return runHubSpotSetup(ctx, args[1:], stdout, stderr) // hubspot_setup.go
	}
	if args[0] != "register" {
		return fmt.Errorf("%w: unknown hubspot operation %q (want register or setup)", errUsage, args[0])
	}
	fs := flag.NewFlagSet("hubspot register", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "print what would change; write nothing")
	dir := fs.String("dir", "hubspot", "directory of the *.action.json definitions")
	if err := parseFlags(fs, args[1:], "hubspot register [--dry-run] [--dir DIR]", stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: hubspot register takes no arguments besides its flags", errUsage)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("invalid settings:\n%w", err)
	}
	// HUBLINE_PUBLIC_URL's default (the local listen address) is never what HubSpot should
	// call, so register wants it set explicitly.
	var missing []string
	for _, s := range []struct{ name, val string }{
		{"HUBSPOT_APP_ID", cfg.HubSpotAppID},
		{"HUBSPOT_DEVELOPER_API_KEY", cfg.HubSpotDeveloperAPIKey},
		{"HUBLINE_PUBLIC_URL", strings.TrimSpace(os.Getenv("HUBLINE_PUBLIC_URL"))},
	} {
		if s.val == "" {
			missing = append(missing, s.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("hubspot register needs %s (see hubline hubspot --help)", strings.Join(missing, ", "))
	}
	defs, err := actiondefs.LoadDir(*dir)
	if err != nil {
		return fmt.Errorf("action definitions: %w", err)
	}
	client := &actiondefs.Client{BaseURL: cfg.HubSpotAPIBaseURL, AppID: cfg.HubSpotAppID, APIKey: cfg.HubSpotDeveloperAPIKey}
	fmt.Fprintf(stdout, "HubSpot app %s, actions at %s\n", cfg.HubSpotAppID, cfg.PublicURL)
	_, err = actiondefs.Register(ctx, defs, actiondefs.Options{Client: client, PublicURL: cfg.PublicURL, DryRun: *dryRun, Out: stdout})
	return err
}
