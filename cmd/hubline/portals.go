package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/hubline/hubline/internal/store"
)

func init() {
	argCommands["portals"] = argCommand{"HubSpot portals that installed the app: portals list, portals remove <portalId>", runPortals}
}

const portalsHelp = `hubline portals: the HubSpot portals that installed hubline (multi-portal mode), as kept in
hubline's database.

  hubline portals list
      Every portal (JSON): portal ID, status (connected, or revoked once HubSpot refused its
      refresh token), scopes, installed, access token expiry. Never tokens.
  hubline portals remove <portalId>
      Deletes the portal's OAuth tokens and the LINE accounts stored for it (their numbers are
      not given out again). Its actions are then answered hubspot_not_connected until it
      installs the app again. Uninstall the app in HubSpot too.

`

// portalJSON is what the CLI shows of a portal: never its tokens.
type portalJSON struct {
	Portal       int64     `json:"portal"`
	Status       string    `json:"status"`
	Scopes       []string  `json:"scopes"`
	Installed    time.Time `json:"installed"`
	TokenExpires time.Time `json:"tokenExpires"`
}

// portalsUsages are the usage lines of the portals operations.
var portalsUsages = map[string]string{
	"list":   "portals list",
	"remove": "portals remove <portalId>",
}

func runPortals(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	op, ok, err := operation("portals", portalsHelp, portalsUsages, args, stdout)
	if !ok {
		return err
	}
	fs := flag.NewFlagSet("portals "+op, flag.ContinueOnError)
	if err := parseFlags(fs, args[1:], portalsUsages[op], stdout); err != nil {
		return err
	}
	var portalID int64
	switch op {
	case "list":
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: portals list takes no arguments", errUsage)
		}
	case "remove":
		id, err := strconv.ParseInt(fs.Arg(0), 10, 64)
		if fs.NArg() != 1 || err != nil || id < 1 {
			return fmt.Errorf("%w: portals remove takes one HubSpot portal ID", errUsage)
		}
		portalID = id
	}
	_, st, err := cliStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()

	if op == "list" {
		all, err := st.Portals(ctx)
		if err != nil {
			return err
		}
		out := []portalJSON{}
		for _, p := range all {
			scopes := p.Scopes
			if scopes == nil {
				scopes = []string{}
			}
			out = append(out, portalJSON{Portal: p.PortalID, Status: p.Status, Scopes: scopes, Installed: p.InstalledAt, TokenExpires: p.ExpiresAt})
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	accounts, err := st.Accounts(ctx)
	if err != nil {
		return err
	}
	var owned []int
	for _, a := range accounts {
		if a.PortalID == portalID {
			owned = append(owned, a.Number)
		}
	}
	if err := st.RemovePortal(ctx, portalID); errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("no portal %d in hubline's database (hubline portals list shows them)", portalID)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "portal %d removed: its tokens and stored LINE accounts %v deleted\n", portalID, owned)
	return nil
}
