//go:build hubline_load

package starter_test

import "testing"

// TestQueueNeverHitsHistoryLimitFullSize is the case measured before queue-v1 (25,000
// actions, ~1,000-character Japanese messages, one shard, LINE taking 150 pushes/s, Temporal's
// default 50 MB limit), where the old queue's run was terminated at 52 MB with 1,985
// acknowledged recipients lost. Run: go test -tags hubline_load -run FullSize -timeout 30m ./starter/
func TestQueueNeverHitsHistoryLimitFullSize(t *testing.T) {
	runHistoryCase(t, historyCase{n: 25000, linePerSecond: 150})
}
