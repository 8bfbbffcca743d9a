package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chaosFull is set by the hubline_faults build tag: the suite at the size the README
// reports (300 recipients, HubSpot's callback API down for a full minute).
var chaosFull = false

// TestChaos runs every fault scenario on real processes (Temporal server on SQLite, worker,
// starter) and fails unless each one delivered every recipient exactly once and completed
// every callback once, with SUCCESS (line-webhook: one contact per friend with the right
// follow status, every LINE event completed).
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts and kills processes")
	}
	t.Setenv("HUBLINE_TEST_RUN_MAIN", "1")
	n, outage := 120, 10*time.Second
	if chaosFull {
		n, outage = 300, time.Minute
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runChaos(ctx, []string{"--json", "--recipients", strconv.Itoa(n), "--outage", outage.String(), "--timeout", "4m"}, &out, io.Discard)
	var rows []chaosRow
	if jerr := json.Unmarshal(out.Bytes(), &rows); jerr != nil {
		t.Fatalf("%v (%v): %s", err, jerr, out.String())
	}
	for _, r := range rows {
		t.Logf("%+v", r)
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 7 {
		t.Fatalf("%d scenarios ran, want 7", len(rows))
	}
	for _, r := range rows {
		if !r.ok() || r.Recipients != n {
			t.Errorf("scenario %s: %+v", r.Scenario, r)
		}
	}
}

// TestChaosLoad sends an open-loop mix of valid and invalid signed requests at the starter
// (real processes) and fails on any 5xx, any answer a request did not deserve, a 429 without
// Retry-After, a lost or duplicated recipient, or goroutines the starter keeps afterwards.
func TestChaosLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	t.Setenv("HUBLINE_TEST_RUN_MAIN", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err := runChaos(ctx, []string{"load", "--json", "--rate", "100", "--duration", "5s", "--drain", "90s"}, &out, io.Discard)
	var res loadResult
	if jerr := json.Unmarshal(out.Bytes(), &res); jerr != nil {
		t.Fatalf("%v (%v): %s", err, jerr, out.String())
	}
	t.Logf("%+v", res)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 100 || res.Invalid == 0 || res.Accepted == 0 || res.Accepted != res.Requests-res.Invalid {
		t.Errorf("load did not run as asked: %+v", res)
	}
	if res.GoroutinesBefore == 0 || res.GoroutinesAfter == 0 {
		t.Errorf("starter goroutines were not read: %+v", res)
	}
}

// TestLoadResultOK: the verdict fails on each kind of misbehaviour.
func TestLoadResultOK(t *testing.T) {
	good := loadResult{Accepted: 10, Once: 10, Callbacks: 10, GoroutinesBefore: 50, GoroutinesAfter: 55, RSSFirstMiB: 100, RSSLastMiB: 110}
	if !good.ok() {
		t.Fatalf("a clean run is not ok: %+v", good)
	}
	for name, mutate := range map[string]func(*loadResult){
		"unexpected answer": func(r *loadResult) { r.Unexpected = []string{"7: 500"} },
		"lost":              func(r *loadResult) { r.Once, r.Lost = 9, 1 },
		"duplicate":         func(r *loadResult) { r.Duplicates = 1 },
		"callback missing":  func(r *loadResult) { r.Callbacks = 9 },
		"goroutine leak":    func(r *loadResult) { r.GoroutinesAfter = 200 },
		"memory growth":     func(r *loadResult) { r.RSSLastMiB = 200 },
	} {
		r := good
		mutate(&r)
		if r.ok() {
			t.Errorf("%s: judged ok: %+v", name, r)
		}
	}
}

// TestChaosRowOK: each scenario's verdict fails on each kind of misbehaviour, and the LINE
// webhook row is judged by its contacts and events, not by callbacks it does not have.
func TestChaosRowOK(t *testing.T) {
	send := chaosRow{Scenario: "worker-kill", Recipients: 10, Once: 10, Callbacks: 10}
	hook := chaosRow{Scenario: "line-webhook", Recipients: 10, Once: 10, Webhooks200: 30, Events: 12, EventsCompleted: 12}
	for _, r := range []chaosRow{send, hook} {
		if !r.ok() {
			t.Fatalf("a clean run is not ok: %+v", r)
		}
	}
	for name, tc := range map[string]struct {
		row    chaosRow
		mutate func(*chaosRow)
	}{
		"send: lost":                {send, func(r *chaosRow) { r.Once, r.Lost = 9, 1 }},
		"send: duplicate":           {send, func(r *chaosRow) { r.Duplicates = 1 }},
		"send: callback missing":    {send, func(r *chaosRow) { r.Callbacks = 9 }},
		"send: callback failed":     {send, func(r *chaosRow) { r.Failed = 1 }},
		"send: error":               {send, func(r *chaosRow) { r.Error = "timed out" }},
		"webhook: no contact":       {hook, func(r *chaosRow) { r.Once, r.Lost = 9, 1 }},
		"webhook: second contact":   {hook, func(r *chaosRow) { r.Duplicates = 1 }},
		"webhook: wrong status":     {hook, func(r *chaosRow) { r.WrongStatus = 1 }},
		"webhook: event not done":   {hook, func(r *chaosRow) { r.EventsCompleted = 11 }},
		"webhook: nothing sent":     {hook, func(r *chaosRow) { r.Events, r.EventsCompleted = 0, 0 }},
		"webhook: answered wrongly": {hook, func(r *chaosRow) { r.Error = "a follow webhook was answered 401" }},
	} {
		r := tc.row
		tc.mutate(&r)
		if r.ok() {
			t.Errorf("%s: judged ok: %+v", name, r)
		}
	}
	if c := hook.cells(); !strings.Contains(c, "-\t-\t-\t30/0/0\t12/12\t0\t") {
		t.Errorf("line-webhook cells: %q", c)
	}
	if c := send.cells(); !strings.Contains(c, "\t10\t0\t0\t-\t-\t-\t") {
		t.Errorf("worker-kill cells: %q", c)
	}
}
