package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
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
