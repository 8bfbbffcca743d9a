package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"testing"
	"time"
)

// TestBenchQueueSmall runs the benchmark command end to end on a small broadcast, so the
// command keeps working and its accounting (delivered, duplicates, lost) stays honest. It
// asserts no speed: figures come from the real command, reported in the README.
func TestBenchQueueSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	// The bench spawns this test binary as its server, worker and starter.
	t.Setenv("HUBLINE_TEST_RUN_MAIN", "1")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := runBench(ctx, []string{"queue", "--recipients", "300", "--concurrency", "16", "--shards", "2", "--batch-size", "50"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	var res benchResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if res.Recipients != 300 || res.Delivered != 300 || res.Duplicates != 0 || res.Lost != 0 || res.Failed != 0 {
		t.Fatalf("bench result %+v", res)
	}
	if res.RecipientsPerSecond <= 0 || res.BaselinePerSecond <= 0 || res.WorkerMedianRSSMiB <= 0 || res.StarterPeakRSSMiB <= 0 {
		t.Fatalf("bench did not measure: %+v", res)
	}
}
