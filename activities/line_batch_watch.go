package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"
)

// ErrBatchUnreadable: a batch's history could not be read back (past retention, or not
// ours); what it carried cannot be recovered.
const ErrBatchUnreadable = "batch_unreadable"

// AwaitLineBatchInput names a LineBatch run to wait for ("" RunID: the current run).
type AwaitLineBatchInput struct {
	WorkflowID string
	RunID      string `json:",omitempty"`
}

// AwaitLineBatchOutput says how the batch ended. Completed carries its batch-done counts
// (the raw "Done" field of its result); otherwise RunID is the run that ended abnormally
// (failed, terminated, timed out or cancelled) with no newer run going on.
type AwaitLineBatchOutput struct {
	Completed bool
	Done      json.RawMessage `json:",omitempty"`
	RunID     string          `json:",omitempty"`
	// Missing: the workflow is not in Temporal (never started, or past retention).
	Missing bool `json:",omitempty"`
}

// AwaitLineBatch waits, heartbeating, for a LineBatch a queue did not start in its current
// run (or that closed abnormally) to close. A reset batch goes on in a new run: that one
// is waited for instead.
func (a *Activities) AwaitLineBatch(ctx context.Context, in AwaitLineBatchInput) (AwaitLineBatchOutput, error) {
	if a.Temporal == nil {
		return AwaitLineBatchOutput{}, temporal.NewNonRetryableApplicationError("the worker has no Temporal client for AwaitLineBatch", ErrBatchUnreadable, nil)
	}
	stop := heartbeatEvery(ctx, 5*time.Second)
	defer stop()
	runID := in.RunID
	for hops := 0; ; hops++ {
		run := a.Temporal.GetWorkflow(ctx, in.WorkflowID, runID)
		var res struct{ Done json.RawMessage }
		err := run.Get(ctx, &res)
		var nf *serviceerror.NotFound
		var wee *temporal.WorkflowExecutionError
		switch {
		case err == nil:
			return AwaitLineBatchOutput{Completed: true, Done: res.Done, RunID: run.GetRunID()}, nil
		case errors.As(err, &nf):
			a.logger().Error("LineBatch not found: its outcome cannot be read", zap.String("batch", in.WorkflowID))
			return AwaitLineBatchOutput{Completed: true, Missing: true}, nil
		case !errors.As(err, &wee):
			return AwaitLineBatchOutput{}, fmt.Errorf("wait for %s: %w", in.WorkflowID, err)
		}
		ended := run.GetRunID()
		desc, err := a.Temporal.DescribeWorkflowExecution(ctx, in.WorkflowID, "")
		if err != nil {
			return AwaitLineBatchOutput{}, fmt.Errorf("describe %s: %w", in.WorkflowID, err)
		}
		cur := desc.GetWorkflowExecutionInfo()
		if cur.GetExecution().GetRunId() != ended && cur.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && hops < 10 {
			runID = cur.GetExecution().GetRunId() // reset: a new run carries on
			continue
		}
		return AwaitLineBatchOutput{RunID: ended}, nil
	}
}

// heartbeatEvery heartbeats until stopped, so a long wait is not timed out while its
// worker is alive.
func heartbeatEvery(ctx context.Context, d time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx)
			}
		}
	}()
	return func() { close(done) }
}

// LoadLineBatchInput names a LineBatch run whose recipients a recovery batch finishes.
type LoadLineBatchInput struct {
	WorkflowID string
	RunID      string `json:",omitempty"`
}

// LoadLineBatchOutput is what that run carried and what LINE confirmed for it.
type LoadLineBatchOutput struct {
	// Items are the batch's recipients as recorded (workflows.QueueItem JSON).
	Items     []json.RawMessage
	Cancelled bool `json:",omitempty"`
	// Settled maps a retry key to the outcome a completed SendLineBatch recorded for it.
	Settled map[string]BatchItemResult `json:",omitempty"`
}

// storedBatch is the part of a LineBatch input (workflows.LineBatchInput) a recovery reads.
type storedBatch struct {
	Items        []json.RawMessage
	Cancelled    bool
	Recover      string
	RecoverRunID string
}

// LoadLineBatch reads a LineBatch's history: its recipients from its input (or, for a
// recovery batch, from what it loaded) and every outcome its completed SendLineBatch
// activities recorded. Payloads are decoded with the worker's data converter, so this
// works with encrypted payloads.
func (a *Activities) LoadLineBatch(ctx context.Context, in LoadLineBatchInput) (LoadLineBatchOutput, error) {
	if a.Temporal == nil {
		return LoadLineBatchOutput{}, temporal.NewNonRetryableApplicationError("the worker has no Temporal client for LoadLineBatch", ErrBatchUnreadable, nil)
	}
	dc := a.DataConverter
	if dc == nil {
		dc = converter.GetDefaultDataConverter()
	}
	out := LoadLineBatchOutput{Settled: map[string]BatchItemResult{}}
	id, runID := in.WorkflowID, in.RunID
	for depth := 0; depth < 8; depth++ {
		b, err := a.readBatch(ctx, dc, id, runID, &out)
		if err != nil {
			return LoadLineBatchOutput{}, err
		}
		if out.Items != nil || b.Recover == "" {
			out.Cancelled = out.Cancelled || b.Cancelled
			return out, nil
		}
		// A recovery that ended before loading: its recipients are in the batch it recovered.
		id, runID = b.Recover, b.RecoverRunID
	}
	return LoadLineBatchOutput{}, temporal.NewNonRetryableApplicationError("recovery chain too long: "+in.WorkflowID, ErrBatchUnreadable, nil)
}

func (a *Activities) readBatch(ctx context.Context, dc converter.DataConverter, id, runID string, out *LoadLineBatchOutput) (storedBatch, error) {
	var b storedBatch
	scheduled := map[int64]*historypb.ActivityTaskScheduledEventAttributes{}
	it := a.Temporal.GetWorkflowHistory(ctx, id, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	first := true
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			var nf *serviceerror.NotFound
			if errors.As(err, &nf) {
				return b, temporal.NewNonRetryableApplicationError("LineBatch "+id+" is not in Temporal any more", ErrBatchUnreadable, err)
			}
			return b, fmt.Errorf("read %s: %w", id, err)
		}
		if first {
			first = false
			p := ev.GetWorkflowExecutionStartedEventAttributes().GetInput().GetPayloads()
			if len(p) == 0 || dc.FromPayload(p[0], &b) != nil {
				return b, temporal.NewNonRetryableApplicationError("LineBatch "+id+" input unreadable", ErrBatchUnreadable, nil)
			}
			if len(b.Items) > 0 {
				out.Items = b.Items
			}
			continue
		}
		if s := ev.GetActivityTaskScheduledEventAttributes(); s != nil {
			scheduled[ev.GetEventId()] = s
			continue
		}
		c := ev.GetActivityTaskCompletedEventAttributes()
		if c == nil || len(c.GetResult().GetPayloads()) == 0 {
			continue
		}
		s := scheduled[c.GetScheduledEventId()]
		if s == nil {
			continue
		}
		res := c.GetResult().GetPayloads()[0]
		switch s.GetActivityType().GetName() {
		case "SendLineBatch":
			var sin LineBatchInput
			var sout LineBatchOutput
			if len(s.GetInput().GetPayloads()) == 0 || dc.FromPayload(s.GetInput().GetPayloads()[0], &sin) != nil || dc.FromPayload(res, &sout) != nil {
				continue
			}
			for i, r := range sout.Results {
				if i < len(sin.Pushes) && settled(r.Status) {
					out.Settled[sin.Pushes[i].RetryKey] = r
				}
			}
		case "LoadLineBatch":
			var l LoadLineBatchOutput
			if dc.FromPayload(res, &l) != nil {
				continue
			}
			if out.Items == nil {
				out.Items = l.Items
			}
			out.Cancelled = out.Cancelled || l.Cancelled
			for k, r := range l.Settled {
				out.Settled[k] = r
			}
		}
	}
	return b, nil
}

// settled: LINE's answer (or the deadline) decided this recipient; it is not pushed again.
func settled(status string) bool {
	switch status {
	case BatchSent, BatchFailed, BatchExpired, BatchUnknown:
		return true
	}
	return false
}
