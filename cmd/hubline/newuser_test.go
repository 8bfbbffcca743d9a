package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.temporal.io/api/serviceerror"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/workflows"
)

// Every command and subcommand answers --help with its usage and flags, successfully.
func TestEverySubcommandHelpSucceeds(t *testing.T) {
	tests := []struct {
		args []string
		want []string // in stdout
	}{
		{[]string{"bench", "--help"}, []string{"Usage: hubline bench queue", "-recipients", "-hubspot-limit"}},
		{[]string{"bench", "queue", "-h"}, []string{"Usage: hubline bench queue", "-batch-size"}},
		{[]string{"chaos", "--help"}, []string{"Usage: hubline chaos", "-scenario", "-outage"}},
		{[]string{"chaos", "load", "--help"}, []string{"Usage: hubline chaos load", "-rate", "-drain"}},
		{[]string{"queue", "--help"}, []string{"hubline queue status", "HUBLINE_QUEUE_SHARDS"}},
		{[]string{"queue", "status", "--help"}, []string{"Usage: hubline queue status [--account N]", "-account"}},
		{[]string{"queue", "pause", "--help"}, []string{"Usage: hubline queue pause", "-reason"}},
		{[]string{"queue", "resume", "--help"}, []string{"Usage: hubline queue resume", "-ignore-quota"}},
		{[]string{"queue", "find", "--help"}, []string{"Usage: hubline queue find", "<callbackId|objectId>"}},
		{[]string{"accounts", "--help"}, []string{"hubline accounts add"}},
		{[]string{"accounts", "add", "--help"}, []string{"Usage: hubline accounts add", "-token-file", "-push-rate"}},
		{[]string{"accounts", "list", "--help"}, []string{"Usage: hubline accounts list"}},
		{[]string{"portals", "remove", "--help"}, []string{"Usage: hubline portals remove <portalId>"}},
		{[]string{"hubspot", "register", "--help"}, []string{"Usage: hubline hubspot register", "-dry-run", "-dir"}},
		{[]string{"hubspot", "setup", "--help"}, []string{"Usage: hubline hubspot setup", "-all-portals"}},
		{[]string{"dev", "--help"}, []string{"hubline dev:", "HUBLINE_PAYLOAD_KEY"}},
		{[]string{"codec", "-h"}, []string{"hubline codec:"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := run(context.Background(), tt.args, &out, &errOut); err != nil {
				t.Fatalf("error %v (stderr %q)", err, errOut.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // in the error
	}{
		{[]string{"nope"}, `unknown command "nope" (run 'hubline help'`},
		{[]string{"queue", "status", "--account", "0"}, "--account 0: LINE accounts are numbered from 1"},
		{[]string{"queue", "pause", "--account=-2"}, "--account -2"},
		{[]string{"queue", "stats"}, `unknown queue operation "stats"`},
		{[]string{"bench", "queue", "--recipient", "5"}, "flag provided but not defined: -recipient (hubline bench queue"},
		{[]string{"bench"}, "hubline bench queue --recipients N"},
		{[]string{"accounts", "rm"}, `unknown accounts operation "rm"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			var out, errOut bytes.Buffer
			err := run(context.Background(), tt.args, &out, &errOut)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want a usage error containing %q", err, tt.want)
			}
			// The mistake is the whole answer: no pages of help around it.
			if out.Len() != 0 || errOut.Len() != 0 {
				t.Fatalf("printed more than the error:\nstdout %q\nstderr %q", out.String(), errOut.String())
			}
		})
	}
}

// The exit statuses a shell sees: 0 for help, 2 for a usage error, with one line of output.
func TestHelpAndUnknownCommandExitStatus(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		status int
	}{{[]string{"bench", "--help"}, 0}, {[]string{"queue", "status", "--help"}, 0}, {[]string{"frobnicate"}, 2}} {
		cmd := exec.Command(os.Args[0], tt.args...)
		cmd.Env = append(os.Environ(), "HUBLINE_TEST_RUN_MAIN=1")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		var exit *exec.ExitError
		status := 0
		if errors.As(err, &exit) {
			status = exit.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		if status != tt.status {
			t.Errorf("hubline %v exited %d, want %d\nstdout %s\nstderr %s", tt.args, status, tt.status, out, stderr.String())
		}
		if tt.status == 2 && (len(out) != 0 || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0) {
			t.Errorf("hubline %v should print one line on stderr, printed\nstdout %s\nstderr %s", tt.args, out, stderr.String())
		}
	}
}

func TestQueueStatusIdleListsNoShardsAsEmptyArray(t *testing.T) {
	running := workflows.QueueStatus{Pending: 3, Sent: 5, Paused: true}
	tests := []struct {
		name   string
		answer func(id string) (workflows.QueueStatus, error)
		want   string // in the JSON
	}{
		{"idle", func(string) (workflows.QueueStatus, error) {
			return workflows.QueueStatus{}, serviceerror.NewNotFound("workflow not found")
		}, `"Shards": []`},
		{"one shard running", func(id string) (workflows.QueueStatus, error) {
			if id == workflows.QueueWorkflowID(2, 1) {
				return running, nil
			}
			return workflows.QueueStatus{}, serviceerror.NewNotFound("workflow not found")
		}, `"Pending": 3`},
		{"unavailable", func(string) (workflows.QueueStatus, error) {
			return workflows.QueueStatus{}, errors.New("deadline exceeded")
		}, `"Shards": []`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := queueStatus(context.Background(), func(_ context.Context, id string) (workflows.QueueStatus, error) { return tt.answer(id) }, 2, 2)
			b, err := json.MarshalIndent(r, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.want) {
				t.Fatalf("want %s in\n%s", tt.want, b)
			}
			if r.Account != 2 || len(r.Idle)+len(r.Unavailable)+len(r.Shards) != 2 {
				t.Fatalf("every shard is reported once: %+v", r)
			}
		})
	}
	r := queueStatus(context.Background(), func(context.Context, string) (workflows.QueueStatus, error) { return running, nil }, 1, 2)
	if r.Total.Pending != 6 || r.Total.Sent != 10 || !r.Total.Paused || len(r.Shards) != 2 {
		t.Fatalf("totals %+v", r.Total)
	}
}

func TestDevBannerNamesTheCodecWithAPayloadKey(t *testing.T) {
	cfg, err := config.FromEnv()
	if err != nil {
		t.Fatal(err)
	}
	var with, without bytes.Buffer
	printBanner(&with, cfg, "http://127.0.0.1:8233", "http://127.0.0.1:8080", "http://127.0.0.1:8080/codec", true, true)
	printBanner(&without, cfg, "http://127.0.0.1:8233", "http://127.0.0.1:8080", "", true, true)
	if !strings.Contains(with.String(), "Codec endpoint:            http://127.0.0.1:8080/codec") {
		t.Fatalf("banner with a payload key:\n%s", with.String())
	}
	if strings.Contains(without.String(), "Codec") {
		t.Fatalf("banner without a payload key mentions a codec:\n%s", without.String())
	}
}
