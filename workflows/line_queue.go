package workflows

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// LineAccountTaskQueue is account n's send-unit task queue, "hubline-line-<n>".
func LineAccountTaskQueue(account int) string { return LineTaskQueue + "-" + strconv.Itoa(account) }

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

// QueueOptions tune a queue. The starter sets them from its settings at the queue's first
// start; the first run resolves the defaults into them (Fixed) and every later run gets
// them through continue-as-new, so a new default in code never changes a running queue.
type QueueOptions struct {
	// BatchSize is recipients per LineBatch child (default 200, at most 500).
	BatchSize int `json:",omitempty"`
	// MaxBatchBytes caps one batch's items (default 1 MiB).
	MaxBatchBytes int `json:",omitempty"`
	// MaxInFlight caps LineBatch children sending to LINE at once per shard (default 8).
	MaxInFlight int `json:",omitempty"`
	// SignalsPerRun is the signals and updates after which a run continues as new (default
	// 1000, under Temporal's 2,000 updates and 10,000 signals per run).
	SignalsPerRun int `json:",omitempty"`
	// MaxCarryBytes was the pending bytes a released run could carry; runs started before
	// admission control read it (see MaxBacklogBytes).
	MaxCarryBytes int `json:",omitempty"`
	// IdleTimeout completes an empty, unpaused queue after this long (default 1h); the next
	// enqueue starts a new run.
	IdleTimeout time.Duration `json:",omitempty"`
	// HeartbeatTimeout of the batch activity (default 10s).
	HeartbeatTimeout time.Duration `json:",omitempty"`
	// FillWait is how long a partial batch waits for more recipients while other batches
	// are sending (default 500ms): fuller batches mean fewer child workflows and fuller
	// HubSpot calls. An idle queue sends at once.
	FillWait time.Duration `json:",omitempty"`

	// MaxBacklog is the most recipients waiting for a batch (the starter's
	// HUBLINE_QUEUE_BACKLOG, default 2500). The queue itself refuses what does not fit, so
	// any number of starters share one bound.
	MaxBacklog int `json:",omitempty"`
	// MaxBacklogBytes bounds the waiting recipients' size (default and most 1 MiB), so the
	// state carried through continue-as-new always fits Temporal's 2 MB payload limit.
	MaxBacklogBytes int `json:",omitempty"`
	// MaxOpenBatches bounds batches open at once, sending or still reporting to HubSpot
	// (default 4 × MaxInFlight, at most 200): it holds the queue to HubSpot's pace too.
	MaxOpenBatches int `json:",omitempty"`
	// HistoryBytesPerRun continues as new once the history is this large (default 8 MiB,
	// far under the 50 MB limit).
	HistoryBytesPerRun int `json:",omitempty"`
	// QuotaRecheck is the least time between two reads of LINE's monthly quota (default 1m).
	QuotaRecheck time.Duration `json:",omitempty"`
	// Fixed: the defaults were resolved by a run of this queue.
	Fixed bool `json:",omitempty"`
}

// Bounds of the queue options (Temporal's limits, with a margin).
const (
	maxBatchSize       = 500
	maxBacklogBytes    = 1 << 20
	maxOpenBatches     = 200
	maxSignalsPerRun   = 1800
	maxHistoryBytesRun = 32 << 20
)

// Resolved fills in the defaults and clamps every value to what Temporal's limits allow.
// Runs call it once, at the queue's first start; the starter and the CLI use it to learn
// the limits a new queue will have.
func (o QueueOptions) Resolved() QueueOptions {
	if o.Fixed {
		return o
	}
	def := func(v *int, d, max int) {
		if *v <= 0 {
			*v = d
		}
		if *v > max {
			*v = max
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&o.BatchSize, 200, maxBatchSize)
	def(&o.MaxBatchBytes, 1<<20, 1<<20)
	def(&o.MaxInFlight, 8, maxOpenBatches)
	def(&o.SignalsPerRun, 1000, maxSignalsPerRun)
	def(&o.MaxBacklog, 2500, 1000000)
	def(&o.MaxBacklogBytes, maxBacklogBytes, maxBacklogBytes)
	def(&o.MaxOpenBatches, 4*o.MaxInFlight, maxOpenBatches)
	if o.MaxOpenBatches < o.MaxInFlight {
		o.MaxOpenBatches = o.MaxInFlight
	}
	def(&o.HistoryBytesPerRun, 8<<20, maxHistoryBytesRun)
	defDur(&o.IdleTimeout, time.Hour)
	defDur(&o.HeartbeatTimeout, 10*time.Second)
	defDur(&o.FillWait, 500*time.Millisecond)
	defDur(&o.QuotaRecheck, time.Minute)
	o.Fixed = true
	return o
}

// withDefaultsV0 is the defaulting of runs started before admission control. Frozen.
func (o QueueOptions) withDefaultsV0() QueueOptions {
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

// OpenBatch is one LineBatch a queue started and has not yet seen close.
type OpenBatch struct {
	// N is its recipient count.
	N     int
	RunID string `json:",omitempty"`
	// Sending: it holds one of MaxInFlight sending slots (until it reports batch-done).
	Sending bool `json:",omitempty"`
	// Reported: its counts reached the queue (batch-done), so a recovery does not add them again.
	Reported bool `json:",omitempty"`
	// Blocked: it waits on LINE's monthly limit for the queue's resume or cancel.
	Blocked bool `json:",omitempty"`
	// Legacy batches were started before batch-v1: they return deferred recipients.
	Legacy bool `json:",omitempty"`
	// Recovers is the batch whose recipients this one finishes (that batch ended abnormally).
	Recovers string `json:",omitempty"`
}

// QueueState is what one LineQueue run hands the next: pending recipients (bounded by
// MaxBacklog and MaxBacklogBytes), open batches, counters and the pause flag.
type QueueState struct {
	Pending []QueueItem `json:",omitempty"`
	// InFlight maps a LineBatch workflow ID to its recipient count (runs before queue-v1).
	InFlight map[string]int `json:",omitempty"`
	// Open lists the batches not yet closed (queue-v1).
	Open map[string]OpenBatch `json:",omitempty"`
	// Chain and NextBatch make batch workflow IDs unique for the queue's lifetime.
	Chain     string `json:",omitempty"`
	NextBatch int    `json:",omitempty"`
	Accepted  int64  `json:",omitempty"`
	Sent      int64  `json:",omitempty"`
	Failed    int64  `json:",omitempty"`
	Expired   int64  `json:",omitempty"`
	Cancelled int64  `json:",omitempty"`
	// Unknown counts recipients ended delivery_unknown (also counted in Failed).
	Unknown int64 `json:",omitempty"`
	// Deduplicated counts accepted requests whose callbackId was already waiting (so
	// Accepted = Sent + Failed + Expired + Cancelled + Deduplicated once all is settled).
	Deduplicated int64 `json:",omitempty"`
	Paused       bool  `json:",omitempty"`
	// PauseReason is "operator", line_monthly_limit or line_quota_insufficient.
	PauseReason string `json:",omitempty"`
	Runs        int    `json:",omitempty"`
	// Quota is LINE's monthly quota as last read; QuotaCheck asks the next run to read it.
	Quota      *QuotaReading `json:",omitempty"`
	QuotaCheck bool          `json:",omitempty"`
	// IgnoreQuota: an operator resumed with --ignore-quota; the backlog is not held to it.
	IgnoreQuota bool `json:",omitempty"`
	// Cancelling: an operator cancelled the queue; it refuses new recipients and closes once
	// its open batches have. Carried across continue-as-new, so a cancel never turns into a
	// pause when the run continues before its batches close.
	Cancelling bool `json:",omitempty"`
}

// QuotaReading is one read of an account's monthly quota.
type QuotaReading struct {
	Limited   bool
	Remaining int64
	// SentAt is the queue's Sent count when it was read, so Remaining - (Sent - SentAt)
	// estimates what is left now.
	SentAt int64
	At     time.Time
}

// LineQueueInput starts (or continues) one queue shard.
type LineQueueInput struct {
	Account int
	Shard   int
	Options QueueOptions
	State   QueueState
}

// EnqueueSignal is one group commit of recipients (the enqueue update's argument, and the
// enqueue signal's of starters released before admission control).
type EnqueueSignal struct {
	Items []QueueItem
}

// EnqueueResult answers the enqueue update: the first Admitted items are queued (a
// callbackId already waiting counts as admitted); the rest did not fit and get a 429.
type EnqueueResult struct {
	Admitted     int
	Pending      int
	PendingBytes int
	Paused       bool `json:",omitempty"`
}

// Enqueue refusals (the update's application error types).
const (
	ErrQueueFull       = "queue_full"
	ErrQueueCancelling = "queue_cancelling"
)

// BatchDoneSignal is what a LineBatch child tells its queue when its LINE sends are over
// (it still reports to HubSpot after that): the queue frees its sending slot.
type BatchDoneSignal struct {
	BatchID   string
	Sent      int `json:",omitempty"`
	Failed    int `json:",omitempty"`
	Expired   int `json:",omitempty"`
	Cancelled int `json:",omitempty"`
	Unknown   int `json:",omitempty"`
	// Deferred recipients were not attempted (monthly quota reached): batches of queues
	// released before queue-v1 return them to pending; newer batches keep them and wait.
	Deferred     []QueueItem `json:",omitempty"`
	MonthlyLimit bool        `json:",omitempty"`
}

// BatchBlockedSignal: a batch hit LINE's monthly limit and holds its unsent recipients
// until its queue signals resume (or cancel).
type BatchBlockedSignal struct {
	BatchID string
}

// ControlSignal is the payload of pause and resume (cancel ignores it).
type ControlSignal struct {
	Reason string `json:",omitempty"`
	// IgnoreQuota (resume): send even if the backlog exceeds the monthly quota left.
	IgnoreQuota bool `json:",omitempty"`
}

// QueueStatus answers the status query.
type QueueStatus struct {
	Account         int
	Shard           int
	Pending         int
	PendingBytes    int `json:",omitempty"`
	InFlight        int
	InFlightBatches int
	// OpenBatches counts batches not yet closed (sending or reporting to HubSpot).
	OpenBatches  int `json:",omitempty"`
	Accepted     int64
	Sent         int64
	Failed       int64
	Expired      int64
	Cancelled    int64
	Unknown      int64 `json:",omitempty"`
	Deduplicated int64 `json:",omitempty"`
	Paused       bool
	PauseReason  string `json:",omitempty"`
	Cancelling   bool   `json:",omitempty"`
	// QuotaRemaining is LINE's monthly quota left at the last read (absent when unlimited or unread).
	QuotaRemaining *int64 `json:",omitempty"`
	Run            int
}

// Queue signal and update names added with queue-v1.
const (
	// UpdateEnqueue admits recipients (Update-with-Start from the starter).
	UpdateEnqueue = "enqueue"
	// SignalBatchBlocked: a batch waits on LINE's monthly limit.
	SignalBatchBlocked = "batch-blocked"
	// PauseReasonQuota: the backlog is larger than the monthly quota LINE says is left.
	PauseReasonQuota = "line_quota_insufficient"
)

// Version of LineQueue and LineBatch: queue-v1 added admission control, batches tracked
// until they close (recovered when they end abnormally) and resolved options.
const (
	versionQueue = "queue-v1"
	versionBatch = "batch-v1"
	// versionBatchUnits: a batch sends through send units on its account's task queue
	// (one pace per deployment) instead of one activity on hubline-line.
	versionBatchUnits = "batch-units"
)

// LineQueue gathers recipients of one account shard and sends them in LineBatch children.
func LineQueue(ctx workflow.Context, in LineQueueInput) (QueueStatus, error) {
	if workflow.GetVersion(ctx, versionQueue, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return lineQueueV0(ctx, in)
	}
	q := newQueueRun(ctx, in)
	return q.run()
}

// queueRun is one run of LineQueue (queue-v1). Its methods run on the workflow's
// coroutines, one at a time, so they share state without locks.
type queueRun struct {
	ctx     workflow.Context
	in      LineQueueInput
	o       QueueOptions
	st      QueueState
	log     log.Logger
	queueID string

	pendingBytes int
	pendingIDs   map[string]bool
	signals      int
	// wake lets update handlers end the main loop's Select.
	wake workflow.Channel

	// Per-run handles of the open batches: child futures (started in this run) or watch
	// activities (carried from an earlier run, or closed abnormally).
	starting map[string]*startWait
	children map[string]workflow.ChildWorkflowFuture
	watches  map[string]workflow.Future
	// sends are signals to batches (resume, cancel) not yet confirmed.
	sends []workflow.Future
}

type startWait struct {
	items []QueueItem
	f     workflow.Future
}

func newQueueRun(ctx workflow.Context, in LineQueueInput) *queueRun {
	q := &queueRun{
		ctx: ctx, in: in, o: in.Options.Resolved(), st: in.State, log: workflow.GetLogger(ctx),
		queueID:    workflow.GetInfo(ctx).WorkflowExecution.ID,
		pendingIDs: map[string]bool{}, wake: workflow.NewBufferedChannel(ctx, 1),
		starting: map[string]*startWait{}, children: map[string]workflow.ChildWorkflowFuture{},
		watches: map[string]workflow.Future{},
	}
	if q.st.Open == nil {
		q.st.Open = map[string]OpenBatch{}
	}
	// Batches of a run before queue-v1: tracked like any other, their end seen by a watch.
	for id, n := range q.st.InFlight {
		q.st.Open[id] = OpenBatch{N: n, Sending: true, Legacy: true}
	}
	q.st.InFlight = nil
	if q.st.Chain == "" {
		q.st.Chain = workflow.GetInfo(ctx).WorkflowExecution.RunID
		if len(q.st.Chain) > 8 {
			q.st.Chain = q.st.Chain[:8]
		}
		q.st.QuotaCheck = true // a new queue reads the quota before its first send
	}
	q.st.Runs++
	for _, it := range q.st.Pending {
		q.pendingBytes += it.Size()
		q.pendingIDs[it.CallbackID] = true
	}
	return q
}

func (q *queueRun) status() QueueStatus {
	st := q.st
	s := QueueStatus{
		Account: q.in.Account, Shard: q.in.Shard, Pending: len(st.Pending), PendingBytes: q.pendingBytes,
		OpenBatches: len(st.Open), Accepted: st.Accepted, Sent: st.Sent, Failed: st.Failed, Expired: st.Expired,
		Cancelled: st.Cancelled, Unknown: st.Unknown, Deduplicated: st.Deduplicated, Paused: st.Paused, PauseReason: st.PauseReason,
		Cancelling: q.st.Cancelling, Run: st.Runs,
	}
	for _, b := range st.Open {
		if !b.Reported {
			s.InFlight += b.N
			s.InFlightBatches++
		}
	}
	if st.Quota != nil && st.Quota.Limited {
		left := q.quotaLeft()
		s.QuotaRemaining = &left
	}
	return s
}

func (q *queueRun) quotaLeft() int64 {
	r := q.st.Quota
	left := r.Remaining - (q.st.Sent - r.SentAt)
	if left < 0 {
		left = 0
	}
	return left
}

// admissible counts the leading items that fit the backlog (already-waiting callbackIds
// always fit: they are not added twice).
func (q *queueRun) admissible(items []QueueItem) int {
	n, bytes, seen := len(q.st.Pending), q.pendingBytes, map[string]bool{}
	for i, it := range items {
		if q.pendingIDs[it.CallbackID] || seen[it.CallbackID] {
			continue
		}
		sz := it.Size()
		if n+1 > q.o.MaxBacklog || bytes+sz > q.o.MaxBacklogBytes {
			return i
		}
		n, bytes = n+1, bytes+sz
		seen[it.CallbackID] = true
	}
	return len(items)
}

// add queues items, skipping callbackIds already waiting.
func (q *queueRun) add(items []QueueItem) {
	for _, it := range items {
		if q.pendingIDs[it.CallbackID] {
			q.st.Deduplicated++
			continue
		}
		q.pendingIDs[it.CallbackID] = true
		q.pendingBytes += it.Size()
		q.st.Pending = append(q.st.Pending, it)
	}
	q.st.Accepted += int64(len(items))
}

func (q *queueRun) setHandlers() error {
	if err := workflow.SetQueryHandler(q.ctx, QueryStatus, func() (QueueStatus, error) { return q.status(), nil }); err != nil {
		return err
	}
	return workflow.SetUpdateHandlerWithOptions(q.ctx, UpdateEnqueue,
		func(ctx workflow.Context, e EnqueueSignal) (EnqueueResult, error) {
			n := q.admissible(e.Items)
			q.add(e.Items[:n])
			q.signals++
			q.wake.SendAsync(true)
			return EnqueueResult{Admitted: n, Pending: len(q.st.Pending), PendingBytes: q.pendingBytes, Paused: q.st.Paused}, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, e EnqueueSignal) error {
			// A refused update leaves no trace in the history: a full queue costs nothing.
			switch {
			case q.st.Cancelling:
				return temporal.NewApplicationError("the queue is being cancelled", ErrQueueCancelling)
			case len(e.Items) == 0:
				return temporal.NewApplicationError("no recipients", ErrQueueFull)
			case q.admissible(e.Items) == 0:
				return temporal.NewApplicationError(fmt.Sprintf("queue full: %d recipients, %d bytes waiting", len(q.st.Pending), q.pendingBytes), ErrQueueFull)
			}
			return nil
		}})
}

func (q *queueRun) run() (QueueStatus, error) {
	if err := q.setHandlers(); err != nil {
		return QueueStatus{}, err
	}
	ctx := q.ctx
	enqCh := workflow.GetSignalChannel(ctx, SignalEnqueue)
	doneCh := workflow.GetSignalChannel(ctx, SignalBatchDone)
	blockedCh := workflow.GetSignalChannel(ctx, SignalBatchBlocked)
	pauseCh := workflow.GetSignalChannel(ctx, SignalPause)
	resumeCh := workflow.GetSignalChannel(ctx, SignalResume)
	cancelCh := workflow.GetSignalChannel(ctx, SignalCancel)
	recv := map[workflow.ReceiveChannel]func(workflow.ReceiveChannel, bool){
		enqCh: func(c workflow.ReceiveChannel, more bool) {
			var e EnqueueSignal
			if c.ReceiveAsync(&e) {
				q.signals++
				q.add(e.Items) // a starter released before admission control: taken as is
			}
		},
		doneCh: func(c workflow.ReceiveChannel, more bool) {
			var d BatchDoneSignal
			if c.ReceiveAsync(&d) {
				q.signals++
				q.onDone(d)
			}
		},
		blockedCh: func(c workflow.ReceiveChannel, more bool) {
			var b BatchBlockedSignal
			if c.ReceiveAsync(&b) {
				q.signals++
				q.onBlocked(b.BatchID)
			}
		},
		pauseCh: func(c workflow.ReceiveChannel, more bool) {
			var p ControlSignal
			if c.ReceiveAsync(&p) {
				q.signals++
				q.pause(p.Reason)
			}
		},
		resumeCh: func(c workflow.ReceiveChannel, more bool) {
			var r ControlSignal
			if c.ReceiveAsync(&r) {
				q.signals++
				q.resume(r)
			}
		},
		cancelCh: func(c workflow.ReceiveChannel, more bool) {
			if c.ReceiveAsync(nil) {
				q.signals++
				q.cancel()
			}
		},
	}
	order := []workflow.ReceiveChannel{enqCh, doneCh, blockedCh, pauseCh, resumeCh, cancelCh}
	drain := func() {
		for more := true; more; {
			more = false
			for _, c := range order {
				for c.Len() > 0 {
					recv[c](c, true)
					more = true
				}
			}
		}
	}
	for _, id := range sortedKeys(q.st.Open) {
		q.watch(id)
	}
	var fillTimer workflow.Future
	fillDue := false
	for {
		drain()
		if q.st.Cancelling {
			for len(q.st.Pending) > 0 {
				q.startBatch(q.takeBatch(), true)
			}
		}
		if q.st.QuotaCheck && !q.st.Cancelling {
			q.checkQuota()
			drain()
		}
		for !q.st.Cancelling && !q.st.Paused && len(q.st.Pending) > 0 && q.sending() < q.o.MaxInFlight && len(q.st.Open) < q.o.MaxOpenBatches {
			if len(q.st.Pending) < q.o.BatchSize && q.sending() > 0 && !fillDue {
				// Others are sending: let this batch fill up for a moment.
				if fillTimer == nil {
					fillTimer = workflow.NewTimer(ctx, q.o.FillWait)
				}
				break
			}
			q.startBatch(q.takeBatch(), false)
			fillDue = false
			q.maybeRecheckQuota()
		}
		if q.st.Cancelling && len(q.st.Open) == 0 && len(q.st.Pending) == 0 {
			q.log.Info("queue cancelled")
			return q.status(), nil
		}
		if q.shouldContinueAsNew() {
			if err := q.continueAsNew(drain); err != nil {
				return QueueStatus{}, err
			}
			continue // a signal arrived while settling: serve it first
		}

		idle := len(q.st.Pending) == 0 && len(q.st.Open) == 0 && !q.st.Paused && !q.st.Cancelling
		idleFired := false
		sel := workflow.NewSelector(ctx)
		for _, c := range order {
			sel.AddReceive(c, recv[c])
		}
		sel.AddReceive(q.wake, func(c workflow.ReceiveChannel, _ bool) { c.ReceiveAsync(nil) })
		// Map order is random: futures are added in ID order so replay picks the same one.
		for _, id := range sortedKeys(q.starting) {
			sel.AddFuture(q.starting[id].f, func(f workflow.Future) { q.onStarted(id, f) })
		}
		for _, id := range sortedKeys(q.children) {
			sel.AddFuture(q.children[id], func(f workflow.Future) { q.onChildClosed(id, f) })
		}
		for _, id := range sortedKeys(q.watches) {
			sel.AddFuture(q.watches[id], func(f workflow.Future) { q.onWatched(id, f) })
		}
		if fillTimer != nil {
			sel.AddFuture(fillTimer, func(workflow.Future) { fillTimer, fillDue = nil, true })
		}
		var cancelTimer workflow.CancelFunc
		if idle {
			tctx, cancel := workflow.WithCancel(ctx)
			cancelTimer = cancel
			sel.AddFuture(workflow.NewTimer(tctx, q.o.IdleTimeout), func(f workflow.Future) {
				idleFired = f.Get(ctx, nil) == nil
			})
		}
		sel.Select(ctx)
		if idleFired {
			drain()
			if len(q.st.Pending) == 0 && len(q.st.Open) == 0 && !q.st.Paused && !q.st.Cancelling {
				if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
					return QueueStatus{}, err
				}
				q.log.Info("queue idle: completing")
				return q.status(), nil
			}
		} else if cancelTimer != nil {
			cancelTimer()
		}
	}
}

func (q *queueRun) sending() int {
	n := 0
	for _, b := range q.st.Open {
		if b.Sending {
			n++
		}
	}
	return n
}

func (q *queueRun) shouldContinueAsNew() bool {
	info := workflow.GetInfo(q.ctx)
	return q.signals >= q.o.SignalsPerRun || info.GetContinueAsNewSuggested() ||
		info.GetCurrentHistorySize() >= q.o.HistoryBytesPerRun
}

// continueAsNew always happens once asked: admission keeps the pending recipients under
// MaxBacklogBytes and the open batches under MaxOpenBatches, so the state always fits.
// It first settles what this run must see to the end: child starts (a failed start puts
// its recipients back) and signals to batches. It returns nil only if a signal arrived
// meanwhile, to be served before trying again.
func (q *queueRun) continueAsNew(drain func()) error {
	ctx := q.ctx
	for _, id := range sortedKeys(q.starting) {
		q.onStarted(id, q.starting[id].f)
	}
	for _, f := range q.sends {
		_ = f.Get(ctx, nil)
	}
	q.sends = nil
	if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
		return err
	}
	before := q.signals
	drain()
	if q.signals != before || len(q.starting) > 0 {
		return nil
	}
	q.log.Info("continuing as new", "signals", q.signals, "pending", len(q.st.Pending), "open_batches", len(q.st.Open),
		"history_bytes", workflow.GetInfo(ctx).GetCurrentHistorySize())
	return workflow.NewContinueAsNewError(ctx, LineQueueWorkflow, LineQueueInput{
		Account: q.in.Account, Shard: q.in.Shard, Options: q.o, State: q.st,
	})
}

func (q *queueRun) takeBatch() []QueueItem {
	n, bytes := 0, 0
	for n < len(q.st.Pending) && n < q.o.BatchSize {
		sz := q.st.Pending[n].Size()
		if n > 0 && bytes+sz > q.o.MaxBatchBytes {
			break
		}
		bytes += sz
		n++
	}
	items := append([]QueueItem(nil), q.st.Pending[:n]...)
	q.st.Pending = q.st.Pending[n:]
	if len(q.st.Pending) == 0 {
		q.st.Pending = nil
	}
	q.pendingBytes -= bytes
	for _, it := range items {
		delete(q.pendingIDs, it.CallbackID)
	}
	return items
}

func (q *queueRun) batchOptions(id string, items []QueueItem) workflow.Context {
	memo := map[string]interface{}{}
	if items != nil {
		ids := make([]string, len(items))
		objects := make([]int64, len(items))
		for i, it := range items {
			ids[i], objects[i] = it.CallbackID, it.ObjectID
		}
		memo = map[string]interface{}{MemoCallbackIDs: ids, MemoObjectIDs: objects}
	}
	return workflow.WithChildOptions(q.ctx, workflow.ChildWorkflowOptions{
		WorkflowID: id,
		TaskQueue:  TaskQueue,
		// Children outlive the queue's continue-as-new; the next run watches them.
		ParentClosePolicy:     enumspb.PARENT_CLOSE_POLICY_ABANDON,
		WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		Memo:                  memo,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			SALineAccount.ValueSet(strconv.Itoa(q.in.Account)),
			SAActionType.ValueSet(ActionSendLineMessageQueue),
		),
	})
}

func (q *queueRun) nextBatchID() string {
	id := fmt.Sprintf("%s-%s-%d", q.queueID, q.st.Chain, q.st.NextBatch)
	q.st.NextBatch++
	return id
}

// startBatch hands items to a new LineBatch child; cancelled batches end them unsent.
func (q *queueRun) startBatch(items []QueueItem, cancelled bool) {
	id := q.nextBatchID()
	f := workflow.ExecuteChildWorkflow(q.batchOptions(id, items), LineBatchWorkflow, LineBatchInput{
		QueueID: q.queueID, Account: q.in.Account, Items: items, Cancelled: cancelled,
		HeartbeatTimeout: q.o.HeartbeatTimeout, Protocol: 1,
	})
	q.st.Open[id] = OpenBatch{N: len(items), Sending: true}
	q.starting[id] = &startWait{items: items, f: f.GetChildWorkflowExecution()}
	q.children[id] = f
}

// startRecovery starts a batch that finishes the recipients of one that ended abnormally:
// it reads them, and what LINE already confirmed, from that batch's history.
func (q *queueRun) startRecovery(dead string, b OpenBatch) {
	id := q.nextBatchID()
	f := workflow.ExecuteChildWorkflow(q.batchOptions(id, nil), LineBatchWorkflow, LineBatchInput{
		QueueID: q.queueID, Account: q.in.Account, HeartbeatTimeout: q.o.HeartbeatTimeout, Protocol: 1,
		Recover: dead, RecoverRunID: b.RunID,
	})
	q.log.Warn("LineBatch ended without finishing: its recipients are recovered by a new batch", "batch", dead, "recovery", id)
	q.st.Open[id] = OpenBatch{N: b.N, Sending: !b.Reported, Reported: b.Reported, Recovers: dead}
	q.starting[id] = &startWait{f: f.GetChildWorkflowExecution()}
	q.children[id] = f
}

func (q *queueRun) onStarted(id string, f workflow.Future) {
	s := q.starting[id]
	delete(q.starting, id)
	var ex workflow.Execution
	if err := f.Get(q.ctx, &ex); err != nil {
		b := q.st.Open[id]
		delete(q.st.Open, id)
		delete(q.children, id)
		if s.items == nil {
			// A recovery that could not start (its ID taken): watch the one that has it.
			q.log.Error("recovery batch did not start; watching its ID", "batch", id, "error", err)
			q.st.Open[id] = b
			q.watch(id)
			return
		}
		q.log.Error("LineBatch start failed; its recipients go back to pending", "batch", id, "error", err)
		q.st.Pending = append(append([]QueueItem{}, s.items...), q.st.Pending...)
		for _, it := range s.items {
			q.pendingIDs[it.CallbackID] = true
			q.pendingBytes += it.Size()
		}
		return
	}
	if b, ok := q.st.Open[id]; ok {
		b.RunID = ex.RunID
		q.st.Open[id] = b
	}
}

func (q *queueRun) onChildClosed(id string, f workflow.Future) {
	delete(q.children, id)
	if _, starting := q.starting[id]; starting {
		q.onStarted(id, q.starting[id].f)
	}
	b, ok := q.st.Open[id]
	if !ok {
		return // its start failed: handled in onStarted
	}
	var res LineBatchResult
	if err := f.Get(q.ctx, &res); err != nil {
		// Failed, terminated, timed out or reset: a watch tells a reset (a new run goes on)
		// from an end, and reads the run to recover.
		q.log.Warn("LineBatch closed abnormally", "batch", id, "error", err)
		q.watch(id)
		return
	}
	q.closed(id, b, &res.Done)
}

// watch starts an activity that waits for a batch this run did not start (or that closed
// abnormally) to close.
func (q *queueRun) watch(id string) {
	b := q.st.Open[id]
	var a *activities.Activities
	actx := workflow.WithActivityOptions(q.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 48 * time.Hour,
		HeartbeatTimeout:    30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: 30 * time.Second},
	})
	q.watches[id] = workflow.ExecuteActivity(actx, a.AwaitLineBatch, activities.AwaitLineBatchInput{WorkflowID: id, RunID: b.RunID})
}

func (q *queueRun) onWatched(id string, f workflow.Future) {
	delete(q.watches, id)
	b, ok := q.st.Open[id]
	if !ok {
		return
	}
	var out activities.AwaitLineBatchOutput
	if err := f.Get(q.ctx, &out); err != nil {
		q.log.Error("watching a LineBatch failed; watching again", "batch", id, "error", err)
		q.watch(id)
		return
	}
	if !out.Completed {
		delete(q.st.Open, id)
		b.RunID = out.RunID
		q.startRecovery(id, b)
		return
	}
	var done BatchDoneSignal
	if len(out.Done) > 0 {
		if err := json.Unmarshal(out.Done, &done); err != nil {
			q.log.Error("LineBatch result unreadable", "batch", id, "error", err)
		}
	}
	q.closed(id, b, &done)
}

// closed forgets a batch that completed; its counts are added here unless batch-done did.
func (q *queueRun) closed(id string, b OpenBatch, d *BatchDoneSignal) {
	delete(q.st.Open, id)
	if !b.Reported && d != nil {
		q.count(*d)
	}
}

func (q *queueRun) count(d BatchDoneSignal) {
	q.st.Sent += int64(d.Sent)
	q.st.Failed += int64(d.Failed)
	q.st.Expired += int64(d.Expired)
	q.st.Cancelled += int64(d.Cancelled)
	q.st.Unknown += int64(d.Unknown)
}

func (q *queueRun) onDone(d BatchDoneSignal) {
	b, ok := q.st.Open[d.BatchID]
	if !ok {
		q.log.Warn("batch-done from an unknown batch ignored", "batch", d.BatchID)
		return
	}
	if !b.Reported {
		q.count(d)
	}
	b.Reported, b.Sending, b.Blocked = true, false, false
	q.st.Open[d.BatchID] = b
	if len(d.Deferred) > 0 {
		// Only batches of queues before queue-v1 hand recipients back.
		q.st.Pending = append(append([]QueueItem{}, d.Deferred...), q.st.Pending...)
		for _, it := range d.Deferred {
			q.pendingIDs[it.CallbackID] = true
			q.pendingBytes += it.Size()
		}
	}
	if d.MonthlyLimit {
		q.pause(CodeLineMonthlyLimit)
	}
}

func (q *queueRun) onBlocked(id string) {
	b, ok := q.st.Open[id]
	if !ok {
		return
	}
	b.Blocked = true
	q.st.Open[id] = b
	if q.st.Cancelling {
		q.signalBatch(id, SignalCancel)
		return
	}
	q.pause(CodeLineMonthlyLimit)
}

func (q *queueRun) pause(reason string) {
	if reason == "" {
		reason = PauseReasonOperator
	}
	if !q.st.Paused || q.st.PauseReason != reason {
		q.log.Warn("queue paused", "reason", reason)
	}
	q.st.Paused, q.st.PauseReason = true, reason
}

func (q *queueRun) resume(r ControlSignal) {
	q.st.Paused, q.st.PauseReason = false, ""
	q.st.IgnoreQuota = r.IgnoreQuota
	q.st.QuotaCheck = !r.IgnoreQuota
	for _, id := range sortedKeys(q.st.Open) {
		if b := q.st.Open[id]; b.Blocked {
			b.Blocked = false
			q.st.Open[id] = b
			q.signalBatch(id, SignalResume)
		}
	}
}

func (q *queueRun) cancel() {
	q.st.Cancelling = true
	for _, id := range sortedKeys(q.st.Open) {
		if q.st.Open[id].Blocked {
			q.signalBatch(id, SignalCancel)
		}
	}
}

func (q *queueRun) signalBatch(id, name string) {
	q.sends = append(q.sends, workflow.SignalExternalWorkflow(q.ctx, id, "", name, nil))
}

// backlog is what is still to be sent: waiting plus handed to batches not yet reported.
func (q *queueRun) backlog() int64 {
	n := int64(len(q.st.Pending))
	for _, b := range q.st.Open {
		if !b.Reported {
			n += int64(b.N)
		}
	}
	return n
}

// maybeRecheckQuota asks for a quota read when the backlog has outgrown the quota left.
func (q *queueRun) maybeRecheckQuota() {
	r := q.st.Quota
	if q.st.IgnoreQuota || r == nil || !r.Limited || q.backlog() <= q.quotaLeft() {
		return
	}
	if workflow.Now(q.ctx).Sub(r.At) >= q.o.QuotaRecheck {
		q.st.QuotaCheck = true
	}
}

// checkQuota reads LINE's monthly quota and pauses the queue when its backlog cannot fit.
// A failed read does not hold the queue: LINE's own 429 still pauses it.
func (q *queueRun) checkQuota() {
	q.st.QuotaCheck = false
	var a *activities.Activities
	actx := workflow.WithActivityOptions(q.ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 15 * time.Second, ScheduleToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{activities.ErrUnknownAccount}},
	})
	var out activities.LineQuotaOutput
	if err := workflow.ExecuteActivity(actx, a.LineQuota, activities.LineQuotaInput{Account: q.in.Account}).Get(q.ctx, &out); err != nil {
		q.log.Warn("LINE quota could not be read; sending on", "error", err)
		return
	}
	q.st.Quota = &QuotaReading{Limited: out.Limited, Remaining: out.Remaining, SentAt: q.st.Sent, At: workflow.Now(q.ctx)}
	if out.Limited && !q.st.IgnoreQuota && q.backlog() > out.Remaining && !q.st.Paused {
		q.log.Warn("LINE monthly quota left is smaller than the backlog: queue paused until an operator resumes it",
			"backlog", q.backlog(), "quota_remaining", out.Remaining)
		q.pause(PauseReasonQuota)
	}
}

// sortedKeys lists a map's keys in order: workflow code must not depend on map order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
