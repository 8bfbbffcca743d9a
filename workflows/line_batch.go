package workflows

import (
	"encoding/json"
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// LineBatchInput is one batch of a queue.
type LineBatchInput struct {
	// QueueID is the queue workflow to signal when done.
	QueueID string
	Account int
	Items   []QueueItem
	// Cancelled batches send nothing: each recipient ends FAIL_CONTINUE cancelled.
	Cancelled        bool          `json:",omitempty"`
	HeartbeatTimeout time.Duration `json:",omitempty"`
	// Protocol 1 (queues of queue-v1): on LINE's monthly limit the batch keeps its
	// unsent recipients and waits for its queue's resume or cancel signal; 0 hands them
	// back in batch-done, as released queues expect.
	Protocol int `json:",omitempty"`
	// Recover names a batch that ended abnormally: this one reads its recipients, and
	// what LINE confirmed for them, from that run's history, and finishes them.
	Recover      string `json:",omitempty"`
	RecoverRunID string `json:",omitempty"`
}

// LineBatchResult lists each recipient's output fields (index-aligned with the input).
type LineBatchResult struct {
	OutputFields []map[string]string
	Done         BatchDoneSignal
	// CallbackError and TimelineError are set when those writes failed for good.
	CallbackError string `json:",omitempty"`
	TimelineError string `json:",omitempty"`
}

// LineBatch sends one batch through the rate-limited batch activity, tells its queue when
// the LINE sends are over, then completes the callbacks of wait_for_delivery recipients
// and writes timeline events (both batched).
func LineBatch(ctx workflow.Context, in LineBatchInput) (LineBatchResult, error) {
	if workflow.GetVersion(ctx, versionBatch, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return lineBatchV0(ctx, in)
	}
	return lineBatchV1(ctx, in)
}

func lineBatchV1(ctx workflow.Context, in LineBatchInput) (LineBatchResult, error) {
	log := workflow.GetLogger(ctx)
	batchID := workflow.GetInfo(ctx).WorkflowExecution.ID
	var a *activities.Activities
	items := in.Items
	var settled map[string]activities.BatchItemResult
	recovered := in.Recover != ""
	if recovered {
		var load activities.LoadLineBatchOutput
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: 2 * time.Minute, ScheduleToCloseTimeout: 24 * time.Hour,
			RetryPolicy: &temporal.RetryPolicy{MaximumInterval: time.Minute, NonRetryableErrorTypes: []string{activities.ErrBatchUnreadable}},
		}), a.LoadLineBatch, activities.LoadLineBatchInput{WorkflowID: in.Recover, RunID: in.RecoverRunID}).Get(ctx, &load)
		if err != nil {
			// Nothing left to read: the recipients cannot be named, let alone finished.
			log.Error("recovery could not read the batch it recovers", "batch", in.Recover, "error", err)
			done := BatchDoneSignal{BatchID: batchID}
			signalQueue(ctx, in.QueueID, SignalBatchDone, done)
			return LineBatchResult{Done: done}, nil
		}
		items = make([]QueueItem, len(load.Items))
		for i, raw := range load.Items {
			if err := json.Unmarshal(raw, &items[i]); err != nil {
				log.Error("recovered recipient unreadable", "batch", in.Recover, "index", i, "error", err)
			}
		}
		settled = load.Settled
		in.Cancelled = in.Cancelled || load.Cancelled
		ids := make([]string, len(items))
		objects := make([]int64, len(items))
		for i, it := range items {
			ids[i], objects[i] = it.CallbackID, it.ObjectID
		}
		if err := workflow.UpsertMemo(ctx, map[string]interface{}{MemoCallbackIDs: ids, MemoObjectIDs: objects, "recovers": in.Recover}); err != nil {
			log.Warn("memo not updated", "error", err)
		}
	}

	now := workflow.Now(ctx)
	out := make([]map[string]string, len(items))
	// The same callbackId twice (a redelivery) is one push with one retry key, never two
	// concurrent pushes: later copies take the first one's outcome.
	firstOf := map[string]int{}
	dupOf := make([]int, len(items))
	var pending []int
	for i, it := range items {
		if j, ok := firstOf[it.CallbackID]; ok {
			dupOf[i] = j
			continue
		}
		firstOf[it.CallbackID], dupOf[i] = i, -1
		if r, ok := settled[RetryKey(it.CallbackID)]; ok {
			out[i] = batchOutput(r)
			continue
		}
		switch {
		case in.Cancelled:
			out[i] = Failure(CodeCancelled, "an operator cancelled the queue before this message was sent")
		case !now.Before(it.Deadline) && recovered:
			out[i] = Failure(CodeDeliveryUnknown, "the action's block expiration passed while the outcome of an interrupted send was unknown; it is not sent late")
		case !now.Before(it.Deadline):
			out[i] = Failure(CodeExpired, "the action's block expiration passed before the message could be sent; it is not sent late")
		default:
			pending = append(pending, i)
		}
	}

	done := BatchDoneSignal{BatchID: batchID}
	maybe := map[int]bool{}
	for len(pending) > 0 {
		deferred := sendBatch(ctx, in, items, pending, recovered, maybe, out)
		if len(deferred) == 0 {
			break
		}
		if in.Protocol == 0 {
			// A queue before queue-v1 takes them back.
			for _, i := range deferred {
				done.Deferred = append(done.Deferred, items[i])
				out[i] = nil
			}
			done.MonthlyLimit = true
			break
		}
		// LINE's monthly limit: hold the recipients here, durably, until the queue resumes
		// (an operator's decision) or cancels, or their deadline passes.
		latest := time.Time{}
		for _, i := range deferred {
			if items[i].Deadline.After(latest) {
				latest = items[i].Deadline
			}
		}
		log.Warn("LINE monthly limit reached: batch waits for the queue to resume", "recipients", len(deferred))
		signalQueue(ctx, in.QueueID, SignalBatchBlocked, BatchBlockedSignal{BatchID: batchID})
		resumed, cancelled := false, false
		tctx, stopTimer := workflow.WithCancel(ctx)
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(workflow.GetSignalChannel(ctx, SignalResume), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); resumed = true })
		sel.AddReceive(workflow.GetSignalChannel(ctx, SignalCancel), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, nil); cancelled = true })
		sel.AddFuture(workflow.NewTimer(tctx, latest.Sub(workflow.Now(ctx))), func(workflow.Future) {})
		sel.Select(ctx)
		stopTimer()
		pending = nil
		for _, i := range deferred {
			switch {
			case cancelled:
				out[i] = Failure(CodeCancelled, "an operator cancelled the queue while LINE's monthly limit held this message")
			case resumed:
				pending = append(pending, i)
			default:
				out[i] = Failure(CodeLineMonthlyLimit, "LINE's monthly message limit was reached and the queue was not resumed before the action's block expiration")
			}
		}
	}
	for i, j := range dupOf {
		if j >= 0 {
			out[i] = out[j]
		}
	}

	var cbs []activities.QueueCallback
	var evs []activities.TimelineInput
	reported := map[string]bool{}
	for i, it := range items {
		if out[i] == nil {
			continue // handed back (deferred)
		}
		switch out[i][FieldExecutionState] {
		case StateSuccess:
			done.Sent++
		default:
			switch out[i][FieldErrorCode] {
			case CodeExpired:
				done.Expired++
			case CodeCancelled:
				done.Cancelled++
			case CodeDeliveryUnknown:
				done.Unknown++
				done.Failed++
			default:
				done.Failed++
			}
		}
		if reported[it.CallbackID] {
			continue
		}
		reported[it.CallbackID] = true
		if it.WaitForDelivery {
			cbs = append(cbs, activities.QueueCallback{PortalID: it.PortalID, CallbackID: it.CallbackID, OutputFields: out[i]})
		}
		evs = append(evs, queueTimelineEvent(it, out[i], in.Account, batchID, now))
	}
	// The sending slot is freed now; HubSpot reporting can take longer at its own pace.
	signalQueue(ctx, in.QueueID, SignalBatchDone, done)

	res := LineBatchResult{OutputFields: out, Done: done}
	res.Done.Deferred = nil
	res.CallbackError, res.TimelineError = reportBatch(ctx, items, cbs, evs)
	return res, nil
}

// sendBatch pushes the recipients at idx through SendLineBatch, fills their outputs and
// returns those deferred by LINE's monthly limit. Since batch-units the pushes go out as
// send units (1/20 s of the account's pace each) on the account's own task queue, all at
// once: the server's rate limit on that queue, not this batch, sets the pace.
func sendBatch(ctx workflow.Context, in LineBatchInput, items []QueueItem, idx []int, recovered bool, maybe map[int]bool, out []map[string]string) []int {
	pushes := make([]activities.BatchPush, len(idx))
	latest := time.Time{}
	for j, i := range idx {
		it := items[i]
		pushes[j] = activities.BatchPush{
			To: it.LineUserID, Messages: it.Messages, AggregationUnit: it.AggregationUnit,
			RetryKey: RetryKey(it.CallbackID), Deadline: it.Deadline, MaybeAttempted: recovered || maybe[i],
		}
		if it.Deadline.After(latest) {
			latest = it.Deadline
		}
	}
	window := latest.Sub(workflow.Now(ctx))
	if window > maxRetryWindow {
		window = maxRetryWindow
	}
	if window < time.Second {
		window = time.Second
	}
	hb := in.HeartbeatTimeout
	if hb <= 0 {
		hb = 10 * time.Second
	}
	opts := workflow.ActivityOptions{
		TaskQueue:              LineTaskQueue,
		ScheduleToCloseTimeout: window,
		StartToCloseTimeout:    30 * time.Minute,
		HeartbeatTimeout:       hb,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval:        time.Second,
			BackoffCoefficient:     2,
			MaximumInterval:        time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrUnknownAccount},
		},
	}
	var a *activities.Activities
	unit := len(idx)
	if workflow.GetVersion(ctx, versionBatchUnits, workflow.DefaultVersion, 1) >= 1 {
		// The unit's size comes from the workers' LINE_PUSH_RATE, recorded here once.
		lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{ScheduleToCloseTimeout: time.Minute})
		if err := workflow.ExecuteLocalActivity(lctx, a.LineSendUnit, in.Account).Get(ctx, &unit); err != nil || unit < 1 {
			unit = activities.MaxSendUnitPushes
		}
		opts.TaskQueue = LineAccountTaskQueue(in.Account)
	}
	actx := workflow.WithActivityOptions(ctx, opts)
	var futures []workflow.Future
	for lo := 0; lo < len(idx); lo += unit {
		hi := min(lo+unit, len(idx))
		futures = append(futures, workflow.ExecuteActivity(actx, a.SendLineBatch, activities.LineBatchInput{Account: in.Account, Pushes: pushes[lo:hi]}))
	}
	var deferred []int
	for u, f := range futures {
		lo := u * unit
		hi := min(lo+unit, len(idx))
		deferred = append(deferred, settleUnit(ctx, f, items, idx[lo:hi], pushes[lo:hi], maybe, out)...)
	}
	return deferred
}

// settleUnit fills the outputs of one send activity's recipients and returns those
// deferred by LINE's monthly limit.
func settleUnit(ctx workflow.Context, f workflow.Future, items []QueueItem, idx []int, pushes []activities.BatchPush, maybe map[int]bool, out []map[string]string) []int {
	var res activities.LineBatchOutput
	err := f.Get(ctx, &res)
	if err != nil {
		// Out of time or unknown account: keep what the last heartbeat says was settled.
		workflow.GetLogger(ctx).Error("LINE batch activity failed", "error", err)
		// Out of time: the last heartbeat; retries exhausted: the last attempt's own results.
		var te *temporal.TimeoutError
		var ae *temporal.ApplicationError
		var last activities.LineBatchOutput
		switch {
		case errors.As(err, &te) && te.HasLastHeartbeatDetails():
			if te.LastHeartbeatDetails(&last) == nil && len(last.Results) == len(pushes) {
				res = last
			}
		case errors.As(err, &ae) && ae.HasDetails():
			if ae.Details(&last) == nil && len(last.Results) == len(pushes) {
				res = last
			}
		}
	}
	var te *temporal.TimeoutError
	timedOut := errors.As(err, &te)
	now := workflow.Now(ctx)
	var deferred []int
	for j, i := range idx {
		var r activities.BatchItemResult
		if j < len(res.Results) {
			r = res.Results[j]
		}
		switch {
		case r.Status == activities.BatchDeferred:
			deferred = append(deferred, i)
			maybe[i] = maybe[i] || r.Attempted
		case r.Status != "":
			out[i] = batchOutput(r)
		case err != nil && (timedOut || r.Attempted || pushes[j].MaybeAttempted || !now.Before(items[i].Deadline)):
			// The attempts ran out (the deadline, or LINE's 24-hour retry-key window, ended
			// them) while a push may have reached LINE: it is not pushed again.
			out[i] = Failure(CodeDeliveryUnknown, "LINE's answer to a push was not received in time; it is not pushed again")
		case err != nil:
			out[i] = failureFromError(err)
		default:
			out[i] = Failure(CodeLineUnavailable, "LINE did not accept the message")
		}
	}
	return deferred
}

// batchOutput maps a settled batch item to its action's output fields.
func batchOutput(r activities.BatchItemResult) map[string]string {
	switch r.Status {
	case activities.BatchSent:
		return Success(map[string]string{FieldLineRequestID: r.RequestID})
	case activities.BatchUnknown:
		return Failure(CodeDeliveryUnknown, r.Message)
	default:
		return Failure(r.Code, r.Message)
	}
}

func queueTimelineEvent(it QueueItem, out map[string]string, account int, batchID string, now time.Time) activities.TimelineInput {
	return activities.TimelineInput{
		PortalID: it.PortalID, EventID: "hubline-" + it.CallbackID, ObjectID: it.ObjectID, Timestamp: now,
		Tokens: map[string]string{
			"action": ActionSendLineMessageQueue, "status": out[FieldExecutionState],
			"error_code": out[FieldErrorCode], "line_request_id": out[FieldLineRequestID],
			"line_account": strconv.Itoa(account), "analytics_tag": it.AnalyticsTag,
			"message_count": strconv.Itoa(len(it.Messages)),
		},
		ExtraData: map[string]any{"messages": it.Messages, "batch_workflow_id": batchID},
	}
}

// reportBatch completes callbacks and writes timeline events, batched and concurrently, so
// a failing timeline never holds the callbacks. It returns what failed for good.
func reportBatch(ctx workflow.Context, items []QueueItem, cbs []activities.QueueCallback, evs []activities.TimelineInput) (cbErr, tlErr string) {
	log := workflow.GetLogger(ctx)
	var a *activities.Activities
	latest := time.Time{}
	for _, it := range items {
		if it.Deadline.After(latest) {
			latest = it.Deadline
		}
	}
	var cbF, tlF workflow.Future
	if len(cbs) > 0 {
		window := latest.Sub(workflow.Now(ctx))
		if window < 10*time.Minute {
			window = 10 * time.Minute
		}
		cbF = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ScheduleToCloseTimeout: window, StartToCloseTimeout: 5 * time.Minute, RetryPolicy: hubspotRetry,
		}), a.QueueCompleteCallbacks, activities.CompleteCallbacksInput{Items: cbs})
	}
	if len(evs) > 0 {
		tlF = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			ScheduleToCloseTimeout: 24 * time.Hour, StartToCloseTimeout: 5 * time.Minute, RetryPolicy: hubspotRetry,
		}), a.QueueTimelineEvents, activities.TimelineEventsInput{Events: evs})
	}
	if cbF != nil {
		if err := cbF.Get(ctx, nil); err != nil {
			log.Error("HubSpot callbacks could not be completed", "error", err)
			cbErr = err.Error()
		}
	}
	if tlF != nil {
		if err := tlF.Get(ctx, nil); err != nil {
			log.Error("timeline events could not be written", "error", err)
			tlErr = err.Error()
		}
	}
	return cbErr, tlErr
}

// signalQueue tells the queue workflow (whichever run is current) about this batch.
func signalQueue(ctx workflow.Context, queueID, name string, arg any) {
	if err := workflow.SignalExternalWorkflow(ctx, queueID, "", name, arg).Get(ctx, nil); err != nil {
		// The queue was cancelled and has closed: nothing waits for this batch any more.
		workflow.GetLogger(ctx).Warn("could not signal the queue", "queue", queueID, "signal", name, "error", err)
	}
}
