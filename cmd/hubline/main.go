// Command hubline sends LINE messages from HubSpot workflows through Temporal.
//
//	hubline dev       everything in one process, for local use
//	hubline worker    runs workflows and activities (production)
//	hubline starter   the HTTP API HubSpot calls (production)
//	hubline codec     the Temporal UI's codec endpoint for encrypted payloads (production)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"

	"github.com/hubline/hubline/internal/config"
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, cfg *config.Config, stdout io.Writer) error
}

var commands = []command{
	{"dev", "run the whole product locally: embedded Temporal server and UI, worker, starter and LINE/HubSpot sandboxes", runDev},
	{"worker", "run the Temporal worker (workflows and activities) against a Temporal cluster", runWorker},
	{"starter", "run the HTTP API that HubSpot workflow actions call", runStarter},
	{"codec", "decode payloads encrypted with HUBLINE_PAYLOAD_KEY for the Temporal UI and CLI (production)", runCodec},
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := profiled(func() error { return run(ctx, os.Args[1:], os.Stdout, os.Stderr) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "hubline:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// profiled runs f under a CPU profile when HUBLINE_CPU_PROFILE names a file (diagnostics,
// e.g. for `hubline bench queue --cpuprofile`).
func profiled(f func() error) error {
	path := os.Getenv("HUBLINE_CPU_PROFILE")
	if path == "" {
		return f()
	}
	out, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("HUBLINE_CPU_PROFILE: %w", err)
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		out.Close()
		return fmt.Errorf("HUBLINE_CPU_PROFILE: %w", err)
	}
	err = f()
	pprof.StopCPUProfile()
	return errors.Join(err, out.Close())
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || isHelp(args[0]) {
		usage(stdout)
		if len(args) == 0 {
			return fmt.Errorf("%w: name a command", errUsage)
		}
		return nil
	}
	if c, ok := argCommands[args[0]]; ok {
		if err := c.run(ctx, args[1:], stdout, stderr); !errors.Is(err, errHelp) {
			return err
		}
		return nil // --help was asked for and printed
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		if len(args) > 1 && isHelp(args[1]) {
			fmt.Fprintf(stdout, "hubline %s: %s\n\n%s", c.name, c.summary, config.Help(c.name))
			return nil
		}
		if len(args) > 1 {
			return fmt.Errorf("%w: %s takes no arguments (settings are environment variables; see hubline %s --help)", errUsage, c.name, c.name)
		}
		cfg, err := config.FromEnv()
		if err != nil {
			return fmt.Errorf("invalid settings:\n%w", err)
		}
		return c.run(ctx, cfg, stdout)
	}
	// One line: the list of commands would bury the mistake.
	return fmt.Errorf("%w: unknown command %q (run 'hubline help' for the list of commands)", errUsage, args[0])
}

func isHelp(a string) bool { return a == "-h" || a == "--help" || a == "help" }

func usage(w io.Writer) {
	fmt.Fprintln(w, "hubline: send LINE messages from HubSpot workflows, durably, through Temporal.")
	fmt.Fprintln(w, "\nUsage: hubline <command>\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	for _, name := range []string{"queue", "accounts", "portals", "bench", "chaos", "hubspot"} {
		fmt.Fprintf(w, "  %-8s %s\n", name, argCommands[name].summary)
	}
	fmt.Fprintf(w, "\n'hubline <command> --help' lists the settings a command reads.\n\n%s", config.Help(""))
}
