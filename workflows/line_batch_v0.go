package workflows

import (
	"errors"
	"strconv"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/activities"
)

// lineBatchV0 is LineBatch as released before the "batch-v1" version (its default
// branch), kept so recorded and running batches replay. Frozen: change nothing below.
func lineBatchV0(ctx workflow.Context, in LineBatchInput) (LineBatchResult, error) {
	log := workflow.GetLogger(ctx)
	now := workflow.Now(ctx)
	out := make([]map[string]string, len(in.Items))
	done := BatchDoneSignal{BatchID: workflow.GetInfo(ctx).WorkflowExecution.ID}

	var pushes []activities.BatchPush
	var idx []int
	var latest time.Time
	for i, it := range in.Items {
		switch {
		case in.Cancelled:
			out[i] = Failure(CodeCancelled, "an operator cancelled the queue before this message was sent")
		case !now.Before(it.Deadline):
			out[i] = Failure(CodeExpired, "the action's block expiration passed before the message could be sent; it is not sent late")
		default:
			pushes = append(pushes, activities.BatchPush{
				To: it.LineUserID, Messages: it.Messages, AggregationUnit: it.AggregationUnit,
				RetryKey: RetryKey(it.CallbackID), Deadline: it.Deadline,
			})
			idx = append(idx, i)
			if it.Deadline.After(latest) {
				latest = it.Deadline
			}
		}
	}

	deferred := map[int]bool{}
	if len(pushes) > 0 {
		window := latest.Sub(now)
		if window > maxRetryWindow {
			window = maxRetryWindow
		}
		hb := in.HeartbeatTimeout
		if hb <= 0 {
			hb = 10 * time.Second
		}
		var a *activities.Activities
		actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
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
		})
		var res activities.LineBatchOutput
		err := workflow.ExecuteActivity(actx, a.SendLineBatch, activities.LineBatchInput{Account: in.Account, Pushes: pushes}).Get(ctx, &res)
		if err != nil {
			// Out of time or unknown account: keep what the last heartbeat says was sent.
			log.Error("LINE batch activity failed", "error", err)
			var te *temporal.TimeoutError
			if errors.As(err, &te) && te.HasLastHeartbeatDetails() {
				var hbOut activities.LineBatchOutput
				if te.LastHeartbeatDetails(&hbOut) == nil && len(hbOut.Results) == len(pushes) {
					res = hbOut
				}
			}
		}
		if res.MonthlyLimit {
			done.MonthlyLimit = true
		}
		for j, i := range idx {
			var r activities.BatchItemResult
			if j < len(res.Results) {
				r = res.Results[j]
			}
			switch r.Status {
			case activities.BatchSent:
				out[i] = Success(map[string]string{FieldLineRequestID: r.RequestID})
			case activities.BatchFailed, activities.BatchExpired:
				out[i] = Failure(r.Code, r.Message)
			case activities.BatchDeferred:
				deferred[i] = true
				done.Deferred = append(done.Deferred, in.Items[i])
			default:
				if err != nil {
					out[i] = failureFromError(err)
				} else {
					out[i] = Failure(CodeLineUnavailable, "LINE did not accept the message")
				}
			}
		}
	}

	// Report to HubSpot: callbacks (wait_for_delivery only) and timeline events, batched
	// and concurrently, so a failing timeline never holds the callbacks.
	var cbs []activities.QueueCallback
	var evs []activities.TimelineInput
	batchID := workflow.GetInfo(ctx).WorkflowExecution.ID
	for i, it := range in.Items {
		if deferred[i] {
			continue
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
			default:
				done.Failed++
			}
		}
		if it.WaitForDelivery {
			cbs = append(cbs, activities.QueueCallback{PortalID: it.PortalID, CallbackID: it.CallbackID, OutputFields: out[i]})
		}
		evs = append(evs, activities.TimelineInput{
			PortalID: it.PortalID, EventID: "hubline-" + it.CallbackID, ObjectID: it.ObjectID, Timestamp: now,
			Tokens: map[string]string{
				"action": ActionSendLineMessageQueue, "status": out[i][FieldExecutionState],
				"error_code": out[i][FieldErrorCode], "line_request_id": out[i][FieldLineRequestID],
				"line_account": strconv.Itoa(in.Account), "analytics_tag": it.AnalyticsTag,
				"message_count": strconv.Itoa(len(it.Messages)),
			},
			ExtraData: map[string]any{"messages": it.Messages, "batch_workflow_id": batchID},
		})
	}
	res := LineBatchResult{OutputFields: out}
	var a *activities.Activities
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
			res.CallbackError = err.Error()
		}
	}
	if tlF != nil {
		if err := tlF.Get(ctx, nil); err != nil {
			log.Error("timeline events could not be written", "error", err)
			res.TimelineError = err.Error()
		}
	}

	res.Done = done
	res.Done.Deferred = nil
	if err := workflow.SignalExternalWorkflow(ctx, in.QueueID, "", SignalBatchDone, done).Get(ctx, nil); err != nil {
		// The queue was cancelled and has closed: nothing waits for this batch any more.
		log.Warn("could not report to the queue", "queue", in.QueueID, "error", err)
	}
	return res, nil
}
