package workflows

import (
	"fmt"
	"strconv"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// lineQueueV0 is LineQueue as released before admission control (the "queue-v1"
// version's default branch): runs recorded or started by it replay and continue here.
// Frozen: change nothing below.
func lineQueueV0(ctx workflow.Context, in LineQueueInput) (QueueStatus, error) {
	o := in.Options.withDefaultsV0()
	st := in.State
	if st.InFlight == nil {
		st.InFlight = map[string]int{}
	}
	info := workflow.GetInfo(ctx)
	queueID := info.WorkflowExecution.ID
	if st.Chain == "" {
		st.Chain = info.WorkflowExecution.RunID
		if len(st.Chain) > 8 {
			st.Chain = st.Chain[:8]
		}
	}
	st.Runs++
	log := workflow.GetLogger(ctx)
	// Runs recorded before batches waited to fill keep starting partial batches at once.
	fillBatches := workflow.GetVersion(ctx, "fill-batches", workflow.DefaultVersion, 1) >= 1
	var fillTimer workflow.Future // set while a partial batch waits to fill
	fillDue := false
	cancelling := false
	signals := 0

	status := func() QueueStatus {
		s := QueueStatus{
			Account: in.Account, Shard: in.Shard, Pending: len(st.Pending), InFlightBatches: len(st.InFlight),
			Accepted: st.Accepted, Sent: st.Sent, Failed: st.Failed, Expired: st.Expired, Cancelled: st.Cancelled,
			Paused: st.Paused, PauseReason: st.PauseReason, Cancelling: cancelling, Run: st.Runs,
		}
		for _, n := range st.InFlight {
			s.InFlight += n
		}
		return s
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (QueueStatus, error) { return status(), nil }); err != nil {
		return QueueStatus{}, err
	}

	enqCh := workflow.GetSignalChannel(ctx, SignalEnqueue)
	doneCh := workflow.GetSignalChannel(ctx, SignalBatchDone)
	pauseCh := workflow.GetSignalChannel(ctx, SignalPause)
	resumeCh := workflow.GetSignalChannel(ctx, SignalResume)
	cancelCh := workflow.GetSignalChannel(ctx, SignalCancel)

	onEnqueue := func(s EnqueueSignal) {
		signals++
		st.Pending = append(st.Pending, s.Items...)
		st.Accepted += int64(len(s.Items))
	}
	onDone := func(d BatchDoneSignal) {
		signals++
		if _, ok := st.InFlight[d.BatchID]; !ok {
			// A batch of an earlier, cancelled queue run: its recipients were counted there.
			log.Warn("batch-done from an unknown batch ignored", "batch", d.BatchID)
			return
		}
		delete(st.InFlight, d.BatchID)
		st.Sent += int64(d.Sent)
		st.Failed += int64(d.Failed)
		st.Expired += int64(d.Expired)
		st.Cancelled += int64(d.Cancelled)
		if len(d.Deferred) > 0 {
			st.Pending = append(append([]QueueItem{}, d.Deferred...), st.Pending...)
		}
		if d.MonthlyLimit && !st.Paused {
			st.Paused, st.PauseReason = true, CodeLineMonthlyLimit
			log.Warn("LINE monthly limit reached: queue paused until an operator resumes it")
		}
	}
	onPause := func(c ControlSignal) {
		signals++
		st.Paused = true
		st.PauseReason = c.Reason
		if st.PauseReason == "" {
			st.PauseReason = PauseReasonOperator
		}
	}
	onResume := func() {
		signals++
		st.Paused, st.PauseReason = false, ""
	}
	onCancel := func() {
		signals++
		cancelling = true
	}
	drain := func() {
		for {
			var e EnqueueSignal
			var d BatchDoneSignal
			var c ControlSignal
			switch {
			case enqCh.ReceiveAsync(&e):
				onEnqueue(e)
			case doneCh.ReceiveAsync(&d):
				onDone(d)
			case pauseCh.ReceiveAsync(&c):
				onPause(c)
			case resumeCh.ReceiveAsync(nil):
				onResume()
			case cancelCh.ReceiveAsync(nil):
				onCancel()
			default:
				return
			}
		}
	}

	// Child starts of this run not yet confirmed: their items go back to pending if the
	// start fails, and continue-as-new waits for them.
	type startWait struct {
		id    string
		items []QueueItem
		f     workflow.Future
	}
	var starting []*startWait
	startBatch := func(items []QueueItem, cancelled bool) {
		id := fmt.Sprintf("%s-%s-%d", queueID, st.Chain, st.NextBatch)
		st.NextBatch++
		ids := make([]string, len(items))
		objects := make([]int64, len(items))
		for i, it := range items {
			ids[i], objects[i] = it.CallbackID, it.ObjectID
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID: id,
			TaskQueue:  TaskQueue,
			// Children outlive the queue's continue-as-new; they report by signalling the
			// queue's workflow ID, which reaches whichever run is current.
			ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			// The memo only annotates the start command (replay does not compare it), so
			// adding object IDs needed no workflow.GetVersion.
			Memo: map[string]interface{}{MemoCallbackIDs: ids, MemoObjectIDs: objects},
			TypedSearchAttributes: temporal.NewSearchAttributes(
				SALineAccount.ValueSet(strconv.Itoa(in.Account)),
				SAActionType.ValueSet(ActionSendLineMessageQueue),
			),
		})
		f := workflow.ExecuteChildWorkflow(cctx, LineBatchWorkflow, LineBatchInput{
			QueueID: queueID, Account: in.Account, Items: items, Cancelled: cancelled, HeartbeatTimeout: o.HeartbeatTimeout,
		})
		st.InFlight[id] = len(items)
		starting = append(starting, &startWait{id: id, items: items, f: f.GetChildWorkflowExecution()})
	}
	takeBatch := func() []QueueItem {
		n, bytes := 0, 0
		for n < len(st.Pending) && n < o.BatchSize {
			sz := st.Pending[n].Size()
			if n > 0 && bytes+sz > o.MaxBatchBytes {
				break
			}
			bytes += sz
			n++
		}
		items := append([]QueueItem(nil), st.Pending[:n]...)
		st.Pending = st.Pending[n:]
		if len(st.Pending) == 0 {
			st.Pending = nil
		}
		return items
	}
	resolveStarts := func(wait bool) {
		kept := starting[:0]
		for _, s := range starting {
			if !wait && !s.f.IsReady() {
				kept = append(kept, s)
				continue
			}
			if err := s.f.Get(ctx, nil); err != nil {
				log.Error("LineBatch start failed; its recipients go back to pending", "batch", s.id, "error", err)
				delete(st.InFlight, s.id)
				st.Pending = append(append([]QueueItem{}, s.items...), st.Pending...)
			}
		}
		starting = kept
		if wait {
			starting = nil
		}
	}

	for {
		drain()
		resolveStarts(false)
		if cancelling {
			// Pending recipients are not sent: cancel batches complete their callbacks with
			// FAIL_CONTINUE cancelled. Batches already sending finish on their own.
			for len(st.Pending) > 0 {
				startBatch(takeBatch(), true)
			}
			resolveStarts(true)
			drain()
			if len(st.Pending) > 0 {
				continue
			}
			log.Info("queue cancelled")
			return status(), nil
		}
		for !st.Paused && len(st.Pending) > 0 && len(st.InFlight) < o.MaxInFlight {
			if fillBatches && len(st.Pending) < o.BatchSize && len(st.InFlight) > 0 && !fillDue {
				// Others are sending: let this batch fill up for a moment.
				if fillTimer == nil {
					fillTimer = workflow.NewTimer(ctx, o.FillWait)
				}
				break
			}
			startBatch(takeBatch(), false)
			fillDue = false
		}

		if (signals >= o.SignalsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()) &&
			pendingBytes(st.Pending) <= o.MaxCarryBytes {
			resolveStarts(true)
			drain()
			if !cancelling && pendingBytes(st.Pending) <= o.MaxCarryBytes {
				log.Info("continuing as new", "signals", signals, "pending", len(st.Pending), "in_flight", len(st.InFlight))
				return QueueStatus{}, workflow.NewContinueAsNewError(ctx, LineQueueWorkflow, LineQueueInput{
					Account: in.Account, Shard: in.Shard, Options: in.Options, State: st,
				})
			}
			continue
		}

		idle := len(st.Pending) == 0 && len(st.InFlight) == 0 && len(starting) == 0
		idleFired := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(enqCh, func(c workflow.ReceiveChannel, _ bool) {
			var e EnqueueSignal
			c.Receive(ctx, &e)
			onEnqueue(e)
		})
		sel.AddReceive(doneCh, func(c workflow.ReceiveChannel, _ bool) {
			var d BatchDoneSignal
			c.Receive(ctx, &d)
			onDone(d)
		})
		sel.AddReceive(pauseCh, func(c workflow.ReceiveChannel, _ bool) {
			var p ControlSignal
			c.Receive(ctx, &p)
			onPause(p)
		})
		sel.AddReceive(resumeCh, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			onResume()
		})
		sel.AddReceive(cancelCh, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			onCancel()
		})
		for _, s := range starting {
			sel.AddFuture(s.f, func(workflow.Future) {})
		}
		if fillTimer != nil {
			sel.AddFuture(fillTimer, func(workflow.Future) { fillTimer, fillDue = nil, true })
		}
		var cancelTimer workflow.CancelFunc
		if idle {
			tctx, cancel := workflow.WithCancel(ctx)
			cancelTimer = cancel
			sel.AddFuture(workflow.NewTimer(tctx, o.IdleTimeout), func(f workflow.Future) {
				idleFired = f.Get(ctx, nil) == nil
			})
		}
		sel.Select(ctx)
		if idleFired {
			drain()
			if len(st.Pending) == 0 && len(st.InFlight) == 0 && !cancelling {
				log.Info("queue idle: completing")
				return status(), nil
			}
		} else if cancelTimer != nil {
			cancelTimer()
		}
	}
}

func pendingBytes(items []QueueItem) int {
	n := 0
	for _, it := range items {
		n += it.Size()
	}
	return n
}
