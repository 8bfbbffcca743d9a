package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strconv"
	"testing"
	"time"
)

// chaosFull is set by the hubline_faults build tag: the suite at the size the README
// reports (300 recipients, HubSpot's callback API down for a full minute).
var chaosFull = false

// TestChaos runs every fault scenario on real processes (Temporal server on SQLite, worker,
// starter) and fails unless each one delivered every recipient exactly once and completed
// every callback once, with SUCCESS.
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
	if len(rows) != 6 {
		t.Fatalf("%d scenarios ran, want 6", len(rows))
	}
	for _, r := range rows {
		if !r.ok() || r.Recipients != n {
			t.Errorf("scenario %s: %+v", r.Scenario, r)
		}
	}
}
