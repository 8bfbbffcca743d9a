package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// argCommand is a subcommand that takes arguments (the others read only settings).
type argCommand struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

var argCommands = map[string]argCommand{
	"queue": {"operate Send LINE Message by Queue: queue pause|resume|cancel|status [--account N], queue find [--account N] <callbackId|objectId>", runQueue},
	"bench": {"benchmark: " + benchUsage, runBench},
	"chaos": {"fault suite (kills, LINE and HubSpot faults, redeliveries; counts every recipient): " + chaosUsage, runChaos},
}

const queueHelp = `hubline queue: operate the Send LINE Message by Queue workflows of one LINE account.

  hubline queue status [--account N]              pending, in-flight, sent, failed, paused per shard (JSON)
  hubline queue pause  [--account N] [--reason R] stop starting new batches on every shard, running or not
                                                  (batches already sending finish)
  hubline queue resume [--account N] [--ignore-quota]
                                                  resume (also after a monthly-limit or quota pause; a quota
                                                  pause is checked again unless --ignore-quota)
  hubline queue cancel [--account N]              pending recipients end FAIL_CONTINUE cancelled; the queue closes
  hubline queue find   [--account N] <callbackId|objectId>
                                                  which LineBatch workflows carried a callbackId's or a contact's sends

`

// queueUsages are the usage lines of the queue operations.
var queueUsages = map[string]string{
	"status": "queue status [--account N]",
	"pause":  "queue pause [--account N] [--reason R]",
	"resume": "queue resume [--account N] [--ignore-quota]",
	"cancel": "queue cancel [--account N]",
	"find":   "queue find [--account N] <callbackId|objectId>",
}

func runQueue(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	op, ok, err := operation("queue", queueHelp, queueUsages, args, stdout)
	if !ok {
		return err
	}
	opUsage := queueUsages[op]
	fs := flag.NewFlagSet("queue "+op, flag.ContinueOnError)
	account := fs.Int("account", 1, "LINE account number (1 or more)")
	reason := fs.String("reason", workflows.PauseReasonOperator, "pause: reason shown by status")
	ignoreQuota := fs.Bool("ignore-quota", false, "resume: send even if the backlog exceeds LINE's monthly quota left")
	if err := parseFlags(fs, args[1:], opUsage, stdout); err != nil {
		return err
	}
	if *account < 1 {
		// Accounts are numbered from 1: account 0 names no channel and would query shards no
		// worker runs.
		return fmt.Errorf("%w: --account %d: LINE accounts are numbered from 1", errUsage, *account)
	}
	cfg, err := config.FromEnv()
	if err != nil {
		return fmt.Errorf("invalid settings:\n%w", err)
	}
	log, err := logging.New(false, "warn")
	if err != nil {
		return err
	}
	dc, err := dataConverter(cfg, log)
	if err != nil {
		return err
	}
	c, err := dialWith(ctx, cfg, log, dc)
	if err != nil {
		return err
	}
	defer c.Close()
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")

	switch op {
	case "pause":
		// A pause starts the shards that are not running, paused, so a recipient queued
		// there later waits too: the pause holds for the whole account until resumed.
		for shard := 0; shard < cfg.Queue.Shards; shard++ {
			id := workflows.QueueWorkflowID(*account, shard)
			_, err := c.SignalWithStartWorkflow(ctx, id, workflows.SignalPause, workflows.ControlSignal{Reason: *reason},
				client.StartWorkflowOptions{
					ID: id, TaskQueue: workflows.TaskQueue,
					TypedSearchAttributes: temporal.NewSearchAttributes(
						workflows.SALineAccount.ValueSet(strconv.Itoa(*account)),
						workflows.SAActionType.ValueSet(workflows.ActionSendLineMessageQueue),
					),
				},
				workflows.LineQueueWorkflow, starter.QueueInput(*account, shard, queueOptions(cfg)))
			if err != nil {
				return fmt.Errorf("pause %s: %w", id, err)
			}
			fmt.Fprintf(stdout, "%s: paused\n", id)
		}
		return nil
	case "resume", "cancel":
		name := map[string]string{"resume": workflows.SignalResume, "cancel": workflows.SignalCancel}[op]
		for shard := 0; shard < cfg.Queue.Shards; shard++ {
			id := workflows.QueueWorkflowID(*account, shard)
			err := c.SignalWorkflow(ctx, id, "", name, workflows.ControlSignal{IgnoreQuota: *ignoreQuota})
			var nf *serviceerror.NotFound
			switch {
			case errors.As(err, &nf):
				fmt.Fprintf(stdout, "%s: not running\n", id)
			case err != nil:
				return fmt.Errorf("%s %s: %w", op, id, err)
			default:
				fmt.Fprintf(stdout, "%s: %s sent\n", id, op)
			}
		}
		return nil
	case "status":
		query := func(ctx context.Context, id string) (workflows.QueueStatus, error) {
			var st workflows.QueueStatus
			v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
			if err == nil {
				err = v.Get(&st)
			}
			return st, err
		}
		return enc.Encode(queueStatus(ctx, query, *account, cfg.Queue.Shards))
	case "find":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: queue find takes one callbackId or HubSpot object ID", errUsage)
		}
		hits, err := findBatches(ctx, c, dc, *account, cfg.Queue.Shards, fs.Arg(0))
		if err != nil {
			return err
		}
		if len(hits) == 0 {
			return fmt.Errorf("no LineBatch of account %d carried callbackId or object ID %s", *account, fs.Arg(0))
		}
		return enc.Encode(hits)
	}
	return fmt.Errorf("%w: unknown queue operation %q (pause, resume, cancel, status, find)", errUsage, op)
}

// queueStatusReport is what `queue status` prints.
type queueStatusReport struct {
	Account int
	// Total sums the shards; Paused: any shard is paused.
	Total struct {
		Pending, InFlight, InFlightBatches, OpenBatches                   int
		Accepted, Sent, Failed, Expired, Cancelled, Unknown, Deduplicated int64
		Paused                                                            bool
	}
	// Shards is [] rather than null when no shard runs, so scripts can iterate it.
	Shards []workflows.QueueStatus
	// Idle shards have no running queue workflow; Unavailable ones did not answer.
	Idle        []string `json:",omitempty"`
	Unavailable []string `json:",omitempty"`
}

// queueStatus asks each shard's queue workflow for its status (query) and sums them.
func queueStatus(ctx context.Context, query func(ctx context.Context, id string) (workflows.QueueStatus, error), account, shards int) queueStatusReport {
	out := queueStatusReport{Account: account, Shards: []workflows.QueueStatus{}}
	for shard := 0; shard < shards; shard++ {
		id := workflows.QueueWorkflowID(account, shard)
		st, err := query(ctx, id)
		var nf *serviceerror.NotFound
		switch {
		case errors.As(err, &nf):
			out.Idle = append(out.Idle, id) // nothing queued there yet, or idle long enough to finish
			continue
		case err != nil:
			out.Unavailable = append(out.Unavailable, id+": "+err.Error())
			continue
		}
		out.Shards = append(out.Shards, st)
		t := &out.Total
		t.Pending += st.Pending
		t.InFlight += st.InFlight
		t.InFlightBatches += st.InFlightBatches
		t.OpenBatches += st.OpenBatches
		t.Unknown += st.Unknown
		t.Deduplicated += st.Deduplicated
		t.Accepted += st.Accepted
		t.Sent += st.Sent
		t.Failed += st.Failed
		t.Expired += st.Expired
		t.Cancelled += st.Cancelled
		t.Paused = t.Paused || st.Paused
	}
	return out
}

// batchHit is one recipient of a LineBatch run that `queue find` matched.
type batchHit struct {
	BatchWorkflowID, RunID, Status string
	// Queue is the LineQueue shard the recipient went through.
	Queue      string
	CallbackID string
	ObjectID   int64
}

// findBatches lists the account's LineBatch runs (within the namespace's retention) and
// matches the callbackId or object ID against their memos. The memo is decoded with the
// same converter the worker wrote it with, so it works with HUBLINE_PAYLOAD_KEY set.
func findBatches(ctx context.Context, c client.Client, dc converter.DataConverter, account, shards int, key string) ([]batchHit, error) {
	objectID, numErr := strconv.ParseInt(key, 10, 64)
	var hits []batchHit
	var token []byte
	for {
		resp, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{
			Query:         fmt.Sprintf("WorkflowType = '%s' AND LineAccount = '%d'", workflows.LineBatchWorkflow, account),
			NextPageToken: token,
		})
		if err != nil {
			return nil, fmt.Errorf("list LineBatch workflows: %w", err)
		}
		for _, ex := range resp.Executions {
			memo := ex.GetMemo().GetFields()
			var ids []string
			var objects []int64
			if p := memo[workflows.MemoCallbackIDs]; p == nil || dc.FromPayload(p, &ids) != nil {
				continue
			}
			if p := memo[workflows.MemoObjectIDs]; p != nil && dc.FromPayload(p, &objects) != nil {
				objects = nil // batches started before object IDs were recorded
			}
			for i, id := range ids {
				var obj int64
				if i < len(objects) {
					obj = objects[i]
				}
				if id != key && (numErr != nil || obj != objectID) {
					continue
				}
				hits = append(hits, batchHit{
					BatchWorkflowID: ex.Execution.WorkflowId, RunID: ex.Execution.RunId, Status: ex.Status.String(),
					Queue: workflows.QueueWorkflowID(account, workflows.QueueShard(id, shards)), CallbackID: id, ObjectID: obj,
				})
			}
		}
		token = resp.NextPageToken
		if len(token) == 0 {
			return hits, nil
		}
	}
}
