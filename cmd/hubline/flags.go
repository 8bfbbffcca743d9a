package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/hubline/hubline/internal/config"
)

// errHelp reports that a subcommand printed its help because it was asked to: run turns it
// into success (exit status 0), unlike a usage error (2).
var errHelp = errors.New("help printed")

// parseFlags parses a subcommand's flags. -h, -help or --help prints "Usage: hubline <usage>"
// and the flags on stdout and returns errHelp; any other flag error is a usage error naming
// the bad flag, with the usage line, so the user sees at once what the command takes.
func parseFlags(fs *flag.FlagSet, args []string, usage string, stdout io.Writer) error {
	fs.SetOutput(io.Discard) // the flag package would print the usage on its own, to stderr
	err := fs.Parse(args)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printFlags(stdout, fs, usage)
		return errHelp
	default:
		return fmt.Errorf("%w: %v (hubline %s; --help lists the flags)", errUsage, err, usage)
	}
}

// printFlags writes a subcommand's usage line and its flags with their defaults.
func printFlags(w io.Writer, fs *flag.FlagSet, usage string) {
	fmt.Fprintf(w, "Usage: hubline %s\n", usage)
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	if b.Len() > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s", b.String())
	}
}

// operation picks the operation of a command group (queue, accounts, portals) from args: none
// prints the group's help and is a usage error, help prints it and ends, and an unknown one is a
// usage error naming the valid ones. ok false: return err (nil after help) as it is.
func operation(group, help string, usages map[string]string, args []string, stdout io.Writer) (op string, ok bool, err error) {
	ops := make([]string, 0, len(usages))
	for o := range usages {
		ops = append(ops, o)
	}
	sort.Strings(ops)
	if len(args) == 0 || isHelp(args[0]) {
		fmt.Fprint(stdout, help+config.Help(group))
		if len(args) == 0 {
			return "", false, fmt.Errorf("%w: name a %s operation (%s)", errUsage, group, strings.Join(ops, ", "))
		}
		return "", false, nil
	}
	if _, known := usages[args[0]]; !known {
		return "", false, fmt.Errorf("%w: unknown %s operation %q (want %s)", errUsage, group, args[0], strings.Join(ops, ", "))
	}
	return args[0], true, nil
}
