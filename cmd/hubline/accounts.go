package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/store"
)

func init() {
	argCommands["accounts"] = argCommand{"LINE accounts stored for portals: accounts add --portal ID --token-file F --secret-file F [--name N] [--push-rate R], accounts list, accounts remove <number>", runAccounts}
}

const accountsHelp = `hubline accounts: the LINE accounts (Messaging API channels) stored in hubline's database,
each owned by one HubSpot portal. Environment accounts (LINE_CHANNEL_ACCESS_TOKEN, _2, ...) are not
listed here: they are settings.

  hubline accounts add --portal ID --token-file FILE --secret-file FILE [--name NAME] [--push-rate R]
      Stores a channel for portal ID and prints it (JSON) with its account number: the lowest
      number above every environment account that no stored account ever had (a removed
      account's number is never given again, so a workflow set to it cannot reach another
      channel). The channel access token and channel secret are read from files, never from
      the command line (which other users see in ps); FILE - reads one of them from standard
      input. Surrounding white space is ignored. --push-rate: pushes per second for the whole
      deployment (0: LINE_PUSH_RATE's default).
  hubline accounts list
      Every stored account (JSON): number, portal, name, push rate, created. Never secrets.
  hubline accounts remove <number>
      Deletes a stored account and its secrets.

`

// stdin is where --token-file - and --secret-file - read (tests replace it).
var stdin io.Reader = os.Stdin

// accountJSON is what the CLI shows of an account: never its secrets.
type accountJSON struct {
	Number   int       `json:"number"`
	Portal   int64     `json:"portal"`
	Name     string    `json:"name,omitempty"`
	PushRate int       `json:"pushRate"`
	Created  time.Time `json:"created"`
}

// accountsUsages are the usage lines of the accounts operations.
var accountsUsages = map[string]string{
	"add":    "accounts add --portal ID --token-file FILE --secret-file FILE [--name NAME] [--push-rate R]",
	"list":   "accounts list",
	"remove": "accounts remove <number>",
}

func runAccounts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	op, ok, err := operation("accounts", accountsHelp, accountsUsages, args, stdout)
	if !ok {
		return err
	}
	fs := flag.NewFlagSet("accounts "+op, flag.ContinueOnError)
	portal := fs.Int64("portal", 0, "add: HubSpot portal ID that owns the account")
	tokenFile := fs.String("token-file", "", "add: file holding the channel access token (- for standard input)")
	secretFile := fs.String("secret-file", "", "add: file holding the channel secret (- for standard input)")
	name := fs.String("name", "", "add: label shown in lists and the line_account dropdown")
	pushRate := fs.Int("push-rate", 0, "add: pushes per second for the whole deployment (0: LINE_PUSH_RATE's default)")
	if err := parseFlags(fs, args[1:], accountsUsages[op], stdout); err != nil {
		return err
	}
	var number int
	switch op {
	case "add":
		switch {
		case fs.NArg() > 0:
			return fmt.Errorf("%w: accounts add takes only flags (secrets come from files, never arguments)", errUsage)
		case *portal <= 0:
			return fmt.Errorf("%w: accounts add needs --portal, the HubSpot portal ID that owns the account", errUsage)
		case *tokenFile == "" || *secretFile == "":
			return fmt.Errorf("%w: accounts add needs --token-file and --secret-file (- reads one from standard input)", errUsage)
		case *tokenFile == "-" && *secretFile == "-":
			return fmt.Errorf("%w: only one of --token-file and --secret-file can be - (standard input)", errUsage)
		case *pushRate < 0:
			return fmt.Errorf("%w: --push-rate %d: want 0 (LINE_PUSH_RATE's default) or more", errUsage, *pushRate)
		}
	case "list":
		if fs.NArg() > 0 {
			return fmt.Errorf("%w: accounts list takes no arguments", errUsage)
		}
	case "remove":
		n, err := strconv.Atoi(fs.Arg(0))
		if fs.NArg() != 1 || err != nil || n < 1 {
			return fmt.Errorf("%w: accounts remove takes one account number", errUsage)
		}
		number = n
	}
	cfg, st, err := cliStore(ctx)
	if err != nil {
		return err
	}
	defer st.Close()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")

	switch op {
	case "add":
		token, err := readSecret(*tokenFile, "--token-file")
		if err != nil {
			return err
		}
		secret, err := readSecret(*secretFile, "--secret-file")
		if err != nil {
			return err
		}
		envMax := 0
		for _, n := range cfg.AccountNumbers() {
			envMax = max(envMax, n)
		}
		a, err := st.AddAccount(ctx, store.Account{PortalID: *portal, Name: *name, AccessToken: token, ChannelSecret: secret, PushRate: *pushRate}, envMax+1)
		if err != nil {
			return err
		}
		return enc.Encode(toAccountJSON(a))
	case "list":
		all, err := st.Accounts(ctx)
		if err != nil {
			return err
		}
		out := []accountJSON{}
		for _, a := range all {
			out = append(out, toAccountJSON(a))
		}
		return enc.Encode(out)
	default: // remove
		err := st.RemoveAccount(ctx, number)
		if errors.Is(err, store.ErrNotFound) {
			if _, env := cfg.LineAccounts[number]; env {
				variable := "LINE_CHANNEL_ACCESS_TOKEN"
				if number > 1 {
					variable += "_" + strconv.Itoa(number)
				}
				return fmt.Errorf("account %d is an environment account: unset %s to remove it", number, variable)
			}
			return fmt.Errorf("no stored LINE account %d (hubline accounts list shows them)", number)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "account %d removed (its number is not given out again)\n", number)
		return nil
	}
}

func toAccountJSON(a store.Account) accountJSON {
	return accountJSON{Number: a.Number, Portal: a.PortalID, Name: a.Name, PushRate: a.PushRate, Created: a.CreatedAt}
}

// readSecret reads a secret from a file, or standard input for "-".
func readSecret(path, flagName string) (string, error) {
	var (
		b   []byte
		err error
	)
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", flagName, err)
	}
	s := strings.TrimSpace(string(b))
	if s == "" {
		return "", fmt.Errorf("%s %s: empty", flagName, path)
	}
	if strings.ContainsAny(s, "\r\n\t ") {
		return "", fmt.Errorf("%s %s: holds more than one word; want the value alone", flagName, path)
	}
	return s, nil
}

// cliStore reads the settings and opens hubline's database for an operator command (accounts,
// portals); operation() has already checked the operation.
func cliStore(ctx context.Context) (*config.Config, *store.Store, error) {
	cfg, err := config.FromEnv()
	if err != nil {
		return nil, nil, fmt.Errorf("invalid settings:\n%w", err)
	}
	st, err := openCLIStore(ctx, cfg)
	return cfg, st, err
}

// openCLIStore opens hubline's database for the accounts and portals commands, with
// HUBLINE_SECRET_KEY or the key dev generated in HUBLINE_DATA_DIR (never a new one: a key
// made here would not be the one the worker and starter use).
func openCLIStore(ctx context.Context, cfg *config.Config) (*store.Store, error) {
	log, err := logging.New(false, "warn")
	if err != nil {
		return nil, err
	}
	keys, err := secretKeys(cfg, false, log)
	if err != nil {
		return nil, err
	}
	if keys == nil {
		return nil, fmt.Errorf("%w (or run hubline dev once with this HUBLINE_DATA_DIR, which generates one)", store.ErrNoKey)
	}
	st, err := store.Open(ctx, cfg.DatabaseURL, cfg.DataDir, keys, log.Named("store"))
	if err != nil {
		return nil, fmt.Errorf("open hubline's database: %w", err)
	}
	return st, nil
}
