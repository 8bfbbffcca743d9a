package starter_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"

	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// japaneseText is about n characters of Japanese (3 bytes each in UTF-8).
func japaneseText(n int) string {
	const s = "春のセールのお知らせです。"
	var b strings.Builder
	for b.Len() < 3*n {
		b.WriteString(s)
	}
	return string([]rune(b.String())[:n])
}

// historyCase is a broadcast that outruns LINE on one shard with ~1,000-character
// messages, against a server whose history limit is errorBytes.
type historyCase struct {
	n, linePerSecond int
	errorBytes       int
	suggestBytes     int
}

// runHistoryCase drives the broadcast and checks: every recipient delivered exactly once,
// every callback completed once, no queue run terminated, and more history written across
// the runs than one run may hold (so the old gate, which kept a run going while its
// pending did not fit, would have been terminated with recipients lost).
func runHistoryCase(t *testing.T, c historyCase) {
	env := testenv.Options{LINE: linesandbox.Options{PushRate: c.linePerSecond}}
	if c.errorBytes > 0 {
		env.DynamicConfig = map[string]any{
			"limit.historySize.error":                c.errorBytes,
			"limit.historySize.warn":                 c.errorBytes / 2,
			"limit.historySize.suggestContinueAsNew": c.suggestBytes,
		}
	}
	q := newQueueEnv(t, env, starter.QueueOptions{Shards: 1}, 2*c.linePerSecond)
	text := japaneseText(1000)
	q.action = func(i int, wait string) map[string]any {
		return testenv.Action(fmt.Sprintf("hcb-%d", i),
			map[string]string{"line_user_id": userID(i), "message_1": text}, map[string]string{"firstname": "Aiko"})
	}
	q.postAll(0, c.n, 32, func(int) string { return "" })
	q.waitSettled(int64(c.n), 10*time.Minute)
	q.assertDeliveredOnce(c.n)
	testenv.Eventually(t, "callbacks", 2*time.Minute, func() bool { return len(q.HubSpot.Callbacks()) >= c.n })
	seen := map[string]bool{}
	for _, cb := range q.HubSpot.Callbacks() {
		if seen[cb.ID] {
			t.Fatalf("callback %s completed twice", cb.ID)
		}
		seen[cb.ID] = true
		if cb.OutputFields["hs_execution_state"] != "SUCCESS" {
			t.Fatalf("callback %s: %v", cb.ID, cb.OutputFields)
		}
	}
	if len(seen) != c.n {
		t.Fatalf("%d callbacks, want %d", len(seen), c.n)
	}

	ctx := context.Background()
	id := workflows.QueueWorkflowID(1, 0)
	resp, err := q.Client.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: fmt.Sprintf("WorkflowId = '%s'", id)})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, ex := range resp.Executions {
		if s := ex.GetStatus().String(); s == "Terminated" || s == "Failed" || s == "TimedOut" {
			t.Fatalf("queue run %s ended %s", ex.GetExecution().GetRunId(), s)
		}
		d, err := q.Client.DescribeWorkflowExecution(ctx, id, ex.GetExecution().GetRunId())
		if err != nil {
			t.Fatal(err)
		}
		total += d.GetWorkflowExecutionInfo().GetHistorySizeBytes()
	}
	limit := int64(c.errorBytes)
	if limit == 0 {
		limit = 50 << 20
	}
	t.Logf("%d queue runs wrote %d history bytes (limit per run %d); LINE 429s %d", len(resp.Executions), total, limit, q.LINE.RateLimited())
	if total <= limit {
		t.Fatalf("the broadcast wrote %d history bytes, not more than one run's limit %d: the test proves nothing", total, limit)
	}
}

// TestQueueNeverHitsHistoryLimit is the CI-sized case: the server's history limit is
// lowered to 5 MB, and 2,000 recipients of ~3 KB each are queued faster than LINE takes them.
func TestQueueNeverHitsHistoryLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	runHistoryCase(t, historyCase{n: 2000, linePerSecond: 400, errorBytes: 5 << 20, suggestBytes: 2 << 20})
}
