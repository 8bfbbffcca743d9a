package workflows

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Send LINE Message by Queue: names other tools and operators depend on.
const (
	LineQueueWorkflow = "LineQueue"
	LineBatchWorkflow = "LineBatch"
	// LineTaskQueue carries only the rate-limited LINE batch activity, so the server-side
	// TaskQueueActivitiesPerSecond limit applies to it alone.
	LineTaskQueue = "hubline-line"

	SignalEnqueue   = "enqueue"
	SignalBatchDone = "batch-done"
	SignalPause     = "pause"
	SignalResume    = "resume"
	SignalCancel    = "cancel"
	QueryStatus     = "status"

	// CodeCancelled ends recipients an operator cancelled before they were sent.
	CodeCancelled = "cancelled"
	// PauseReasonOperator is the pause reason when no reason was given.
	PauseReasonOperator = "operator"

	// MemoCallbackIDs and MemoObjectIDs are the LineBatch memo keys listing the callbackIds
	// and HubSpot object IDs it carried (index-aligned), for `hubline queue find`.
	MemoCallbackIDs = "callbackIds"
	MemoObjectIDs   = "objectIds"
)

// QueueWorkflowID is the ID of one queue shard of one LINE account.
func QueueWorkflowID(account, shard int) string {
	return fmt.Sprintf("line-queue-%d-%d", account, shard)
}

// QueueShard picks the shard of a callbackId (stable, so a redelivery lands on the same shard).
func QueueShard(callbackID string, shards int) int {
	if shards <= 1 {
		return 0
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(callbackID))
	return int(h.Sum32() % uint32(shards))
}

// QueueItem is one recipient: the validated, rendered v1 input plus wait_for_delivery.
type QueueItem struct {
	CallbackID        string
	PortalID          int64
	HubSpotWorkflowID int64 `json:",omitempty"`
	ObjectID          int64
	LineUserID        string
	Messages          []json.RawMessage
	AnalyticsTag      string `json:",omitempty"`
	AggregationUnit   string `json:",omitempty"`
	Deadline          time.Time
	// WaitForDelivery: the action answered BLOCK and its callback is completed after the send.
	WaitForDelivery bool `json:",omitempty"`
}

// Size estimates the item's encoded size, to keep payloads well under Temporal's 2 MB.
func (it QueueItem) Size() int {
	n := 160 + len(it.CallbackID) + len(it.LineUserID) + len(it.AnalyticsTag) + len(it.AggregationUnit)
	for _, m := range it.Messages {
		n += len(m) + 8
	}
	return n
}

// QueueOptions tune a queue; the starter sets them from its settings at the queue's first
// start, and they are carried across continue-as-new (never read from the environment).
type QueueOptions struct {
	// BatchSize is recipients per LineBatch child (default 200).
	BatchSize int `json:",omitempty"`
	// MaxBatchBytes caps one batch's items (default 1 MiB).
	MaxBatchBytes int `json:",omitempty"`
	// MaxInFlight caps LineBatch children sending at once per shard (default 8).
	MaxInFlight int `json:",omitempty"`
	// SignalsPerRun triggers continue-as-new (default 1000, far under the 10,000 limit).
	SignalsPerRun int `json:",omitempty"`
	// MaxCarryBytes caps the pending items carried into the next run (default 1.5 MB).
	MaxCarryBytes int `json:",omitempty"`
	// IdleTimeout completes an empty queue after this long (default 1h); the next
	// SignalWithStart starts a new run.
	IdleTimeout time.Duration `json:",omitempty"`
	// HeartbeatTimeout of the batch activity (default 10s).
	HeartbeatTimeout time.Duration `json:",omitempty"`
	// FillWait is how long a partial batch waits for more recipients while other batches
	// are sending (default 500ms): fuller batches mean fewer child workflows and fuller
	// HubSpot calls. An idle queue sends at once.
	FillWait time.Duration `json:",omitempty"`
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 200
	}
	if o.BatchSize > 500 {
		o.BatchSize = 500
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 1 << 20
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 8
	}
	if o.SignalsPerRun <= 0 {
		o.SignalsPerRun = 1000
	}
	if o.MaxCarryBytes <= 0 {
		o.MaxCarryBytes = 1500 << 10
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = time.Hour
	}
	if o.HeartbeatTimeout <= 0 {
		o.HeartbeatTimeout = 10 * time.Second
	}
	if o.FillWait <= 0 {
		o.FillWait = 500 * time.Millisecond
	}
	return o
}

// QueueState is what one LineQueue run hands the next: pending recipients (bounded by the
// starter's backlog limit and MaxCarryBytes), batches in flight, counters and the pause flag.
type QueueState struct {
	Pending []QueueItem `json:",omitempty"`
	// InFlight maps a LineBatch workflow ID to its recipient count.
	InFlight map[string]int `json:",omitempty"`
	// Chain and NextBatch make batch workflow IDs unique for the queue's lifetime.
	Chain     string `json:",omitempty"`
	NextBatch int    `json:",omitempty"`
	Accepted  int64  `json:",omitempty"`
	Sent      int64  `json:",omitempty"`
	Failed    int64  `json:",omitempty"`
	Expired   int64  `json:",omitempty"`
	Cancelled int64  `json:",omitempty"`
	Paused    bool   `json:",omitempty"`
	// PauseReason is "operator" or line_monthly_limit.
	PauseReason string `json:",omitempty"`
	Runs        int    `json:",omitempty"`
}

// LineQueueInput starts (or continues) one queue shard.
type LineQueueInput struct {
	Account int
	Shard   int
	Options QueueOptions
	State   QueueState
}

// EnqueueSignal is one group commit of recipients.
type EnqueueSignal struct {
	Items []QueueItem
}

// BatchDoneSignal is what a LineBatch child tells its queue when it has finished.
type BatchDoneSignal struct {
	BatchID   string
	Sent      int `json:",omitempty"`
	Failed    int `json:",omitempty"`
	Expired   int `json:",omitempty"`
	Cancelled int `json:",omitempty"`
	// Deferred recipients were not attempted (monthly quota reached): they go back to pending.
	Deferred     []QueueItem `json:",omitempty"`
	MonthlyLimit bool        `json:",omitempty"`
}

// ControlSignal is the payload of pause (and, ignored, resume and cancel).
type ControlSignal struct {
	Reason string `json:",omitempty"`
}

// QueueStatus answers the status query.
type QueueStatus struct {
	Account         int
	Shard           int
	Pending         int
	InFlight        int
	InFlightBatches int
	Accepted        int64
	Sent            int64
	Failed          int64
	Expired         int64
	Cancelled       int64
	Paused          bool
	PauseReason     string `json:",omitempty"`
	Cancelling      bool   `json:",omitempty"`
	Run             int
}

// LineQueue gathers recipients of one account shard and sends them in LineBatch children.
func LineQueue(ctx workflow.Context, in LineQueueInput) (QueueStatus, error) {
	o := in.Options.withDefaults()
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
