package starter

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/workflows"
)

// InputWaitForDelivery is the queue action's extra input: "true" (default) answers BLOCK
// and completes the callback after the send; "false" answers SUCCESS once queued.
const InputWaitForDelivery = "wait_for_delivery"

// CodeInvalidWaitForDelivery rejects a wait_for_delivery that is not true or false.
const CodeInvalidWaitForDelivery = "invalid_wait_for_delivery"

// QueueOptions configure Send LINE Message by Queue in the starter.
type QueueOptions struct {
	// Shards per LINE account (HUBLINE_QUEUE_SHARDS, default 1).
	Shards int
	// Backlog is the most recipients a shard may hold waiting for a batch before the
	// starter answers 429 (HUBLINE_QUEUE_BACKLOG, default 2500). Recipients already in a
	// batch are not counted: MaxInFlight × BatchSize bounds those, and counting them made
	// callers back off while LINE had capacity to spare.
	Backlog int
	// Linger is how long a group commit waits for more requests (default 2ms).
	Linger time.Duration
	// CommitsInFlight is how many group commits of one shard may be in flight (default 1:
	// an update waits for the queue's workflow task, so while one is in flight the next
	// group gathers everything that arrived, and fewer, fuller updates cost the server less;
	// measured against 2 and 4 with `hubline bench queue`).
	CommitsInFlight int
	// MaxGroup and MaxGroupBytes bound one group commit (default 256 and 512 KiB).
	MaxGroup      int
	MaxGroupBytes int
	// Workflow tunes the queue workflows at their first start.
	Workflow workflows.QueueOptions
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.Shards <= 0 {
		o.Shards = 1
	}
	if o.Backlog <= 0 {
		o.Backlog = 2500
	}
	if o.Linger <= 0 {
		o.Linger = 2 * time.Millisecond
	}
	if o.CommitsInFlight <= 0 {
		o.CommitsInFlight = 1
	}
	if o.MaxGroup <= 0 {
		o.MaxGroup = 256
	}
	if o.MaxGroupBytes <= 0 {
		o.MaxGroupBytes = 512 << 10
	}
	return o
}

// queueSet holds one group committer per (account, shard), created on first use.
type queueSet struct {
	mu sync.Mutex
	m  map[[2]int]*committer
	// stopped: Serve returned; committers made from now on refuse at once.
	stopped bool
}

// stopQueues ends every committer's goroutine once the HTTP server has drained, so a
// starter shut down leaves none behind (tests and programs that embed it start many).
func (s *Server) stopQueues() {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	if s.queues.stopped {
		return
	}
	s.queues.stopped = true
	for _, q := range s.queues.m {
		close(q.stop)
	}
}

func (s *Server) committer(account, shard int) *committer {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	if s.queues.m == nil {
		s.queues.m = map[[2]int]*committer{}
	}
	k := [2]int{account, shard}
	q := s.queues.m[k]
	if q == nil {
		q = &committer{s: s, account: account, shard: shard, id: workflows.QueueWorkflowID(account, shard),
			reqs: make(chan *enqueueReq, 4096), stop: make(chan struct{})}
		if s.queues.stopped {
			close(q.stop) // a request outliving the drain: refused, and no goroutine started
			return q
		}
		s.queues.m[k] = q
		go q.run()
	}
	return q
}

type enqueueReq struct {
	item workflows.QueueItem
	size int
	done chan error
}

// errQueueFull: the queue workflow refused the recipient (its backlog is full); HubSpot
// is answered 429 and retries.
var errQueueFull = errors.New("queue full")

// errQueueStopped: the starter is shutting down; HubSpot is answered 503 and retries.
var errQueueStopped = errors.New("the starter is shutting down")

// committer gathers concurrent requests for one queue shard into one SignalWithStart:
// each request is answered only after the signal carrying it was accepted by Temporal.
type committer struct {
	s              *Server
	account, shard int
	id             string
	reqs           chan *enqueueReq
	stop           chan struct{} // closed by stopQueues

	mu         sync.Mutex
	backlog    int // pending at the last status query
	since      int // recipients enqueued since that query
	lastQuery  time.Time
	querying   bool
	queryValid bool
}

func (q *committer) enqueue(ctx context.Context, it workflows.QueueItem) error {
	r := &enqueueReq{item: it, size: it.Size(), done: make(chan error, 1)}
	select {
	case <-q.stop:
		return errQueueStopped
	default:
	}
	select {
	case q.reqs <- r:
	case <-q.stop:
		return errQueueStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		// The signal may still carry it; HubSpot retries and the retry key dedupes the send.
		return ctx.Err()
	}
}

func (q *committer) run() {
	o := q.s.opts.Queue
	// A few commits may be in flight at once; while all are busy, requests wait in q.reqs and
	// the next group takes them all, so groups grow with the load instead of the latency.
	slots := make(chan struct{}, o.CommitsInFlight)
	for {
		var first *enqueueReq
		select {
		case first = <-q.reqs:
		case <-q.stop:
			return
		}
		slots <- struct{}{}
		group := []*enqueueReq{first}
		bytes := first.size
		t := time.NewTimer(o.Linger)
	gather:
		for len(group) < o.MaxGroup && bytes < o.MaxGroupBytes {
			select {
			case r := <-q.reqs:
				group = append(group, r)
				bytes += r.size
			case <-t.C:
				break gather
			}
		}
		t.Stop()
		go func(group []*enqueueReq) {
			admitted, err := q.commit(group)
			for i, r := range group {
				switch {
				case err != nil:
					r.done <- err
				case i >= admitted:
					r.done <- errQueueFull
				default:
					r.done <- nil
				}
			}
			<-slots
		}(group)
	}
}

// commit hands a group to the queue workflow through Update-with-Start: the workflow
// admits what fits its backlog (the first `admitted` items) and refuses the rest, so the
// bound holds however many starters share a queue. An admitted recipient is in the
// workflow's history before its request is answered.
func (q *committer) commit(group []*enqueueReq) (admitted int, err error) {
	items := make([]workflows.QueueItem, len(group))
	for i, r := range group {
		items[i] = r.item
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := q.s.opts.Temporal
	startOpts := client.StartWorkflowOptions{
		ID: q.id, TaskQueue: workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SALineAccount.ValueSet(strconv.Itoa(q.account)),
			workflows.SAActionType.ValueSet(workflows.ActionSendLineMessageQueue),
		),
	}
	input := QueueInput(q.account, q.shard, q.s.opts.Queue)
	// A with-start operation is single-use: each try builds its own.
	start := c.NewWithStartWorkflowOperation(startOpts, workflows.LineQueueWorkflow, input)
	var h client.WorkflowUpdateHandle
	var res workflows.EnqueueResult
	for try := 0; ; try++ {
		h, err = c.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: start,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName: workflows.UpdateEnqueue, Args: []any{workflows.EnqueueSignal{Items: items}},
				WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		if err == nil {
			err = h.Get(ctx, &res)
		}
		// The workflow task that saw the update failed (typically a continue-as-new that
		// raced a new event): nothing was admitted, so it is safe to offer it again.
		var nr *serviceerror.WorkflowNotReady
		if !errors.As(err, &nr) || try >= 20 || ctx.Err() != nil {
			break
		}
		start = c.NewWithStartWorkflowOperation(startOpts, workflows.LineQueueWorkflow, input)
		time.Sleep(time.Duration(10*(try+1)) * time.Millisecond)
	}
	q.s.queueGroups.Observe(float64(len(items)))
	var ae *temporal.ApplicationError
	if errors.As(err, &ae) && (ae.Type() == workflows.ErrQueueFull || ae.Type() == workflows.ErrQueueCancelling) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	q.mu.Lock()
	// The answer is the freshest count there is.
	q.backlog, q.since, q.lastQuery, q.queryValid = res.Pending, 0, time.Now(), true
	q.mu.Unlock()
	return res.Admitted, nil
}

// QueueInput is the input a queue shard starts with (the starter and `hubline queue
// pause` start queues alike).
func QueueInput(account, shard int, o QueueOptions) workflows.LineQueueInput {
	o = o.withDefaults()
	w := o.Workflow
	if w.MaxBacklog <= 0 {
		w.MaxBacklog = o.Backlog
	}
	return workflows.LineQueueInput{Account: account, Shard: shard, Options: w}
}

// estimate is the shard's backlog: the last queried pending count plus what this
// starter enqueued since. It refreshes the query in the background at most twice a second;
// while the query fails (e.g. no worker), the estimate only grows, so the cap still holds.
func (q *committer) estimate() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.querying && time.Since(q.lastQuery) > 500*time.Millisecond {
		q.querying = true
		q.lastQuery = time.Now()
		go q.refresh()
	}
	return q.backlog + q.since
}

func (q *committer) refresh() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	q.mu.Lock()
	since := q.since
	q.mu.Unlock()
	var st workflows.QueueStatus
	v, err := q.s.opts.Temporal.QueryWorkflow(ctx, q.id, "", workflows.QueryStatus)
	if err == nil {
		err = v.Get(&st)
	}
	var nf *serviceerror.NotFound
	q.mu.Lock()
	defer q.mu.Unlock()
	q.querying = false
	q.lastQuery = time.Now()
	switch {
	case err == nil:
		q.backlog = st.Pending
		q.since -= since
	case errors.As(err, &nf):
		q.backlog = 0
		q.since -= since
	default:
		q.s.log.Debug("queue status query failed", zap.String("queue", q.id), zap.Error(err))
	}
}

func (s *Server) sendLineMessageQueue(c *gin.Context) {
	action := workflows.ActionSendLineMessageQueue
	r, ok := s.decodeAction(c)
	if !ok {
		return
	}
	in, err := s.lineMessageInput(r, action)
	if err != nil {
		s.reject(c, action, r, err)
		return
	}
	wait := true
	switch v := strings.ToLower(r.input(InputWaitForDelivery)); v {
	case "", "true":
	case "false":
		wait = false
	default:
		s.reject(c, action, r, &inputError{CodeInvalidWaitForDelivery, "wait_for_delivery must be true or false"})
		return
	}
	o := s.opts.Queue
	shard := workflows.QueueShard(r.CallbackID, o.Shards)
	q := s.committer(in.Account, shard)
	if backlog := q.estimate(); backlog >= o.Backlog {
		s.requests.WithLabelValues(action, "backlog_full").Inc()
		// HubSpot retries a 429 honouring Retry-After.
		c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(backlog-o.Backlog)))
		abortError(c, http.StatusTooManyRequests, "queue_full",
			fmt.Sprintf("LINE account %d's queue is full; retry later", in.Account))
		return
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), 10*time.Second)
	defer cancel()
	err = q.enqueue(ctx, workflows.QueueItem{
		CallbackID: in.CallbackID, PortalID: in.PortalID, HubSpotWorkflowID: in.HubSpotWorkflowID, ObjectID: in.ObjectID,
		LineUserID: in.LineUserID, Messages: in.Messages, AnalyticsTag: in.AnalyticsTag, AggregationUnit: in.AggregationUnit,
		Deadline: in.Deadline, WaitForDelivery: wait,
	})
	if errors.Is(err, errQueueFull) {
		s.requests.WithLabelValues(action, "backlog_full").Inc()
		c.Header("Retry-After", "1")
		abortError(c, http.StatusTooManyRequests, "queue_full",
			fmt.Sprintf("LINE account %d's queue is full; retry later", in.Account))
		return
	}
	if err != nil {
		s.log.Error("could not enqueue", zap.String("action", action), zap.String("callback_id", r.CallbackID), zap.Error(err))
		s.requests.WithLabelValues(action, "temporal_error").Inc()
		s.temporalFailed(c, err, "could not queue the message; HubSpot will retry")
		return
	}
	s.requests.WithLabelValues(action, "queued").Inc()
	if !wait {
		c.JSON(http.StatusOK, outputs(map[string]string{workflows.FieldExecutionState: workflows.StateSuccess}))
		return
	}
	c.JSON(http.StatusOK, outputs(map[string]string{
		workflows.FieldExecutionState:     workflows.StateBlock,
		workflows.FieldExpirationDuration: s.opts.BlockExpirationISO,
	}))
}

// retryAfterSeconds suggests a wait in proportion to how far the backlog is over its cap
// (1 s per 1,500 recipients, LINE_PUSH_RATE's default), at least 1 s.
func retryAfterSeconds(over int) int {
	s := int(math.Ceil(float64(over) / 1500))
	if s < 1 {
		s = 1
	}
	if s > 60 {
		s = 60
	}
	return s
}
