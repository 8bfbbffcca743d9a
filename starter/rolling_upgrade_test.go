package starter_test

// Rolling upgrades: while a deployment rolls, starters and workers of the released version
// (89c522c, 2026-12-04) and of this one run side by side. The inputs each side sends are
// recorded in workflows/testdata/inputs/<release>/<kind>/<name>.json (TestRecordInputs), and
// checked here in both directions.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	taskqueuepb "go.temporal.io/api/taskqueue/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

const (
	inputsDir      = "../workflows/testdata/inputs"
	releasedInputs = "89c522c"    // what the released starter and worker sent
	thisInputs     = "2026-12-07" // what this version's starter and worker send
)

// todaysArgType is the type this version's worker decodes a recorded call's argument into:
// the registered workflow function's, the activity method's or the signal/update handler's.
func todaysArgType(t *testing.T, key string) (reflect.Type, bool) {
	t.Helper()
	kind, name, _ := strings.Cut(key, "/")
	switch kind {
	case "workflow":
		fn, ok := map[string]any{
			workflows.SendLineMessageWorkflow:   workflows.SendLineMessage,
			workflows.SendLineMessageV2Workflow: workflows.SendLineMessageV2,
			workflows.SendDataWorkflow:          workflows.SendData,
			workflows.SetLineRichMenuWorkflow:   workflows.SetLineRichMenu,
			workflows.LineEventWorkflow:         workflows.LineEvent,
			workflows.LineQueueWorkflow:         workflows.LineQueue,
			workflows.LineBatchWorkflow:         workflows.LineBatch,
		}[name]
		if !ok {
			return nil, false
		}
		return reflect.TypeOf(fn).In(1), true // (workflow.Context, input)
	case "activity":
		for _, recv := range []any{&activities.Activities{}, &activities.LineEvents{}} {
			if m, ok := reflect.TypeOf(recv).MethodByName(name); ok && m.Type.NumIn() == 3 {
				return m.Type.In(2), true // (receiver, context.Context, input)
			}
		}
		return nil, false
	case "signal", "update":
		typ, ok := map[string]any{
			"update/" + workflows.LineQueueWorkflow + "." + workflows.UpdateEnqueue:   workflows.EnqueueSignal{},
			"signal/" + workflows.LineQueueWorkflow + "." + workflows.SignalEnqueue:   workflows.EnqueueSignal{},
			"signal/" + workflows.LineQueueWorkflow + "." + workflows.SignalBatchDone: workflows.BatchDoneSignal{},
		}[key]
		if !ok {
			return nil, false
		}
		return reflect.TypeOf(typ), true
	}
	return nil, false
}

// loadInputs reads one release's recorded inputs, keyed "<kind>/<name>".
func loadInputs(t *testing.T, release string) recordedInputs {
	t.Helper()
	root := filepath.Join(inputsDir, release)
	out := recordedInputs{}
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var calls [][]json.RawMessage
		if err := json.Unmarshal(b, &calls); err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rel, _ := filepath.Rel(root, p)
		out[strings.TrimSuffix(filepath.ToSlash(rel), ".json")] = calls
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no recorded inputs in %s", root)
	}
	return out
}

// decodeStrict decodes raw into a new value of typ, refusing fields typ does not have: a
// renamed or removed field is an error, not a silently dropped value.
func decodeStrict(raw json.RawMessage, typ reflect.Type) (any, error) {
	v := reflect.New(typ)
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v.Interface()); err != nil {
		return nil, err
	}
	return v.Elem().Interface(), nil
}

// keptAll reports the first value of recorded that the decoded-and-encoded form lost or
// changed ("" when everything survived). Fields the encoding adds (new, optional) are fine.
func keptAll(recorded, reencoded any, path string) string {
	switch r := recorded.(type) {
	case map[string]any:
		e, ok := reencoded.(map[string]any)
		if !ok {
			return path
		}
		for k, rv := range r {
			ev, ok := e[k]
			if !ok {
				if isZeroJSON(rv) {
					continue // a zero value the type now omits
				}
				return path + "." + k
			}
			if p := keptAll(rv, ev, path+"."+k); p != "" {
				return p
			}
		}
		return ""
	case []any:
		e, ok := reencoded.([]any)
		if !ok || len(e) != len(r) {
			return path
		}
		for i := range r {
			if p := keptAll(r[i], e[i], fmt.Sprintf("%s[%d]", path, i)); p != "" {
				return p
			}
		}
		return ""
	default:
		if !reflect.DeepEqual(recorded, reencoded) {
			return path
		}
		return ""
	}
}

func isZeroJSON(v any) bool {
	switch v := v.(type) {
	case nil:
		return true
	case string:
		return v == ""
	case float64:
		return v == 0
	case bool:
		return !v
	case map[string]any:
		return len(v) == 0
	case []any:
		return len(v) == 0
	}
	return false
}

func jsonValue(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReleasedInputsDecodeIntoTodaysTypes (old starter or old worker → new worker): every
// workflow input, activity input, signal and update the released version sent decodes into
// what this version's worker takes, with nothing lost; a workflow, activity or signal the
// released version used is still there.
func TestReleasedInputsDecodeIntoTodaysTypes(t *testing.T) {
	old := loadInputs(t, releasedInputs)
	for _, key := range sortedKeys(old) {
		t.Run(key, func(t *testing.T) {
			typ, ok := todaysArgType(t, key)
			if !ok {
				t.Fatalf("%s: the released version calls it, this version's worker has no such workflow, activity or handler", key)
			}
			for i, call := range old[key] {
				if len(call) != 1 { // every hubline workflow, activity and handler takes one argument
					t.Fatalf("call %d has %d arguments", i, len(call))
				}
				v, err := decodeStrict(call[0], typ)
				if err != nil {
					t.Fatalf("call %d does not decode into %v: %v\n%s", i, typ, err, call[0])
				}
				again, err := json.Marshal(v)
				if err != nil {
					t.Fatal(err)
				}
				if p := keptAll(jsonValue(t, call[0]), jsonValue(t, again), ""); p != "" {
					t.Fatalf("call %d: %s is lost or changed by %v\nrecorded: %s\nnow:      %s", i, p, typ, call[0], again)
				}
			}
		})
	}
}

// The released version's starter-facing input types, frozen from 89c522c (git show
// 89c522c:workflows/...): what a released worker decodes a new starter's input into.
type (
	releasedSendLineMessageInput struct {
		CallbackID        string
		PortalID          int64
		HubSpotWorkflowID int64
		ObjectID          int64
		ActionType        string
		Account           int
		LineUserID        string
		Messages          []json.RawMessage
		AnalyticsTag      string
		AggregationUnit   string
		Deadline          time.Time
	}
	releasedSendLineMessageV2Input struct {
		releasedSendLineMessageInput
		UserIDProperty string
	}
	releasedSendDataInput struct {
		CallbackID        string
		PortalID          int64
		HubSpotWorkflowID int64
		ObjectID          int64
		ActionType        string
		WebhookURL        string
		Body              []byte
		ContentType       string
		Secret            string `json:",omitempty"`
		MaxAttempts       int
		Deadline          time.Time
	}
	releasedQueueItem struct {
		CallbackID        string
		PortalID          int64
		HubSpotWorkflowID int64 `json:",omitempty"`
		ObjectID          int64
		LineUserID        string
		Messages          []json.RawMessage
		AnalyticsTag      string `json:",omitempty"`
		AggregationUnit   string `json:",omitempty"`
		Deadline          time.Time
		WaitForDelivery   bool `json:",omitempty"`
	}
	releasedEnqueueSignal struct {
		Items []releasedQueueItem
	}
	releasedQueueOptions struct {
		BatchSize          int           `json:",omitempty"`
		MaxBatchBytes      int           `json:",omitempty"`
		MaxInFlight        int           `json:",omitempty"`
		SignalsPerRun      int           `json:",omitempty"`
		MaxCarryBytes      int           `json:",omitempty"`
		IdleTimeout        time.Duration `json:",omitempty"`
		HeartbeatTimeout   time.Duration `json:",omitempty"`
		FillWait           time.Duration `json:",omitempty"`
		MaxBacklog         int           `json:",omitempty"`
		MaxBacklogBytes    int           `json:",omitempty"`
		MaxOpenBatches     int           `json:",omitempty"`
		HistoryBytesPerRun int           `json:",omitempty"`
		QuotaRecheck       time.Duration `json:",omitempty"`
		Fixed              bool          `json:",omitempty"`
	}
	releasedLineQueueInput struct {
		Account int
		Shard   int
		Options releasedQueueOptions
		// State is empty when a starter starts a queue (QueueState is the queue's own, carried
		// by continue-as-new).
		State map[string]json.RawMessage
	}
)

// releasedInput is what a released worker needs from a starter's input: its frozen type, and
// the fields it cannot work without (an empty one would change what it does, silently).
type releasedInput struct {
	typ     any
	missing func(v any) []string
}

func needField(cond bool, name string, out *[]string) {
	if !cond {
		*out = append(*out, name)
	}
}

func missingV1(in releasedSendLineMessageInput, lineUserID bool) []string {
	var m []string
	needField(in.CallbackID != "", "CallbackID", &m)
	needField(in.PortalID != 0, "PortalID", &m)
	needField(in.ObjectID != 0, "ObjectID", &m)
	needField(in.ActionType != "", "ActionType", &m)
	needField(in.Account >= 1, "Account", &m)
	needField(!lineUserID || in.LineUserID != "", "LineUserID", &m)
	needField(len(in.Messages) > 0, "Messages", &m)
	needField(!in.Deadline.IsZero(), "Deadline", &m)
	return m
}

var releasedStarterInputs = map[string]releasedInput{
	"workflow/" + workflows.SendLineMessageWorkflow: {releasedSendLineMessageInput{}, func(v any) []string {
		return missingV1(v.(releasedSendLineMessageInput), true)
	}},
	"workflow/" + workflows.SendLineMessageV2Workflow: {releasedSendLineMessageV2Input{}, func(v any) []string {
		in := v.(releasedSendLineMessageV2Input)
		m := missingV1(in.releasedSendLineMessageInput, false)
		// Without the ID, the released worker looks it up in this property.
		needField(in.LineUserID != "" || in.UserIDProperty != "", "LineUserID or UserIDProperty", &m)
		return m
	}},
	"workflow/" + workflows.SendDataWorkflow: {releasedSendDataInput{}, func(v any) []string {
		in, m := v.(releasedSendDataInput), []string(nil)
		needField(in.CallbackID != "", "CallbackID", &m)
		needField(in.PortalID != 0, "PortalID", &m)
		needField(in.ActionType != "", "ActionType", &m)
		needField(in.WebhookURL != "", "WebhookURL", &m)
		needField(len(in.Body) > 0, "Body", &m)
		needField(in.ContentType != "", "ContentType", &m)
		needField(in.MaxAttempts > 0, "MaxAttempts", &m) // the released worker has no default
		needField(!in.Deadline.IsZero(), "Deadline", &m)
		return m
	}},
	"workflow/" + workflows.LineQueueWorkflow: {releasedLineQueueInput{}, func(v any) []string {
		in, m := v.(releasedLineQueueInput), []string(nil)
		needField(in.Account >= 1, "Account", &m)
		needField(len(in.State) == 0, "State (empty from a starter)", &m)
		return m
	}},
	"update/" + workflows.LineQueueWorkflow + "." + workflows.UpdateEnqueue: {releasedEnqueueSignal{}, func(v any) []string {
		in, m := v.(releasedEnqueueSignal), []string(nil)
		needField(len(in.Items) > 0, "Items", &m)
		for i, it := range in.Items {
			p := fmt.Sprintf("Items[%d].", i)
			needField(it.CallbackID != "", p+"CallbackID", &m)
			needField(it.PortalID != 0, p+"PortalID", &m)
			needField(it.LineUserID != "", p+"LineUserID", &m)
			needField(len(it.Messages) > 0, p+"Messages", &m)
			needField(!it.Deadline.IsZero(), p+"Deadline", &m)
		}
		return m
	}},
}

// newInThisRelease are workflows and activities the released worker does not have. Their
// runs fail workflow tasks on a released worker (retried until an upgraded worker takes them;
// docs/operations.md#rolling-upgrades), so they are only started for actions and events that
// released starters never offered.
var newInThisRelease = map[string]string{
	"workflow/" + workflows.SetLineRichMenuWorkflow: "Set LINE Rich Menu action (new route)",
	"activity/SetLineRichMenu":                      "Set LINE Rich Menu action (new route)",
}

// opaqueFields hold maps or LINE's own message objects: their keys are data, not fields.
var opaqueFields = map[string]bool{"Messages": true, "OutputFields": true, "Tokens": true, "Properties": true}

// fieldPaths lists the object field paths of a JSON value ("Items[].CallbackID").
func fieldPaths(v any, prefix string, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			p := prefix + "." + k
			out[p] = true
			if !opaqueFields[k] {
				fieldPaths(x, p, out)
			}
		}
	case []any:
		for _, x := range v {
			fieldPaths(x, prefix+"[]", out)
		}
	}
}

// checkOnReleasedWorker checks one version's recorded inputs against what a released worker
// takes: a starter's inputs decode strictly into the frozen types with every needed field
// set; every other call (activities, signals, children that this version's workflow code
// schedules and a released worker may run) has no field the released version never sent.
func checkOnReleasedWorker(t *testing.T, now recordedInputs) {
	t.Helper()
	old := loadInputs(t, releasedInputs)
	for _, key := range sortedKeys(now) {
		t.Run(key, func(t *testing.T) {
			if why, ok := newInThisRelease[key]; ok {
				if _, released := old[key]; released {
					t.Fatalf("%s is listed as new (%s) but the released version sent it", key, why)
				}
				return
			}
			oldCalls, ok := old[key]
			if !ok {
				t.Fatalf("%s: the released worker has no such workflow, activity or handler and it is not in newInThisRelease", key)
			}
			if ri, ok := releasedStarterInputs[key]; ok {
				for i, call := range now[key] {
					v, err := decodeStrict(call[0], reflect.TypeOf(ri.typ))
					if err != nil {
						t.Fatalf("call %d: a released worker cannot take it (%v); a new field must be optional and listed with why the released worker may ignore it\n%s", i, err, call[0])
					}
					if m := ri.missing(v); len(m) > 0 {
						t.Fatalf("call %d: a released worker needs %v\n%s", i, m, call[0])
					}
					again, _ := json.Marshal(v)
					if p := keptAll(jsonValue(t, call[0]), jsonValue(t, again), ""); p != "" {
						t.Fatalf("call %d: %s is lost on a released worker\n%s", i, p, call[0])
					}
				}
				return
			}
			known := map[string]bool{}
			for _, c := range oldCalls {
				fieldPaths(jsonValue(t, c[0]), "", known)
			}
			for i, call := range now[key] {
				paths := map[string]bool{}
				fieldPaths(jsonValue(t, call[0]), "", paths)
				for p := range paths {
					if !known[p] {
						t.Errorf("call %d: field %s is new; a released worker would ignore it\n%s", i, p, call[0])
					}
				}
			}
		})
	}
}

// TestThisVersionsRecordedInputsOnReleasedWorker checks the committed recording.
func TestThisVersionsRecordedInputsOnReleasedWorker(t *testing.T) {
	checkOnReleasedWorker(t, loadInputs(t, thisInputs))
}

// TestNewStarterAndWorkerInputsOnReleasedWorker (new starter or new worker → old worker):
// this version's starter and worker run every action; what they send is checked against the
// released types. With HUBLINE_RECORD_INPUTS=<dir> the inputs are also written there (to
// refresh workflows/testdata/inputs/<this release>).
func TestNewStarterAndWorkerInputsOnReleasedWorker(t *testing.T) {
	env := testenv.New(t, testenv.Options{SendDataAllow: "127.0.0.1/32"})
	startLineWorker(t, env)
	menu := env.LINE.CreateRichMenu(sandboxAccount1, "members")
	rec := recordInputs(t, env, recordRequest{richMenuRoute, testenv.Action("rec-rich-menu", map[string]string{
		"line_user_id": testenv.UserID, "rich_menu_id": menu,
	}, nil)})
	if dir := os.Getenv("HUBLINE_RECORD_INPUTS"); dir != "" {
		writeInputs(t, dir, rec)
	}
	checkOnReleasedWorker(t, rec)
}

func startLineWorker(t *testing.T, env *testenv.Env) {
	t.Helper()
	env.Activities.LinePushRate = map[int]int{1: 100}
	lw := worker.NewLine(env.Client, env.Activities, []int{1}, 2*time.Second)
	if err := lw.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lw.Stop)
}

// TestReleasedInputsRunOnNewWorker (old starter → new worker): the released starter's
// recorded inputs, started as it started them, complete on this version's worker: delivered
// once, HubSpot's callback completed with SUCCESS, DeliveryStatus delivered. The queue's
// recorded start input and enqueue update admit and deliver a recipient too.
func TestReleasedInputsRunOnNewWorker(t *testing.T) {
	env := testenv.New(t, testenv.Options{SendDataAllow: "127.0.0.1/32"})
	startLineWorker(t, env)
	env.HubSpot.SetContact("1002", map[string]string{"line_user_id": testenv.UserID, "firstname": "Ken"})
	var received []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		received = append(received, r.URL.RequestURI())
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(recv.Close)
	old := loadInputs(t, releasedInputs)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// patch makes a recorded input runnable today: its own callbackId, a deadline ahead, and
	// the receiver of this test (the recorded one has closed). Nothing else changes.
	patch := func(t *testing.T, raw json.RawMessage, cb string) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		m["CallbackID"] = cb
		m["Deadline"] = time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano)
		if u, ok := m["WebhookURL"].(string); ok {
			pu, err := url.Parse(u)
			if err != nil {
				t.Fatal(err)
			}
			r, _ := url.Parse(recv.URL)
			pu.Host = r.Host
			m["WebhookURL"] = pu.String()
		}
		return m
	}
	callback := func(t *testing.T, cb string) map[string]string {
		t.Helper()
		var out map[string]string
		testenv.Eventually(t, "callback "+cb, time.Minute, func() bool {
			for _, c := range env.HubSpot.Callbacks() {
				if c.ID == cb {
					out = c.OutputFields
					return true
				}
			}
			return false
		})
		return out
	}

	ran := 0
	for _, wt := range []string{workflows.SendLineMessageWorkflow, workflows.SendLineMessageV2Workflow, workflows.SendDataWorkflow} {
		calls := old["workflow/"+wt]
		if len(calls) == 0 {
			t.Fatalf("no recorded %s input", wt)
		}
		for i, call := range calls {
			cb := fmt.Sprintf("old-%s-%d", wt, i)
			t.Run(cb, func(t *testing.T) {
				before := env.LINE.DeliveredTo(testenv.UserID)
				in := patch(t, call[0], cb)
				run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
					ID: "hubspot-" + cb, TaskQueue: workflows.InteractiveTaskQueue,
				}, wt, in)
				if err != nil {
					t.Fatal(err)
				}
				var res workflows.ActionResult
				if err := run.Get(ctx, &res); err != nil {
					t.Fatal(err)
				}
				if res.OutputFields[workflows.FieldExecutionState] != workflows.StateSuccess || res.DeliveryStatus != workflows.DeliveryDelivered {
					t.Fatalf("result %+v, want SUCCESS and delivered", res)
				}
				if got := callback(t, cb)[workflows.FieldExecutionState]; got != workflows.StateSuccess {
					t.Fatalf("HubSpot callback %q, want SUCCESS", got)
				}
				if wt != workflows.SendDataWorkflow {
					// DeliveredTo counts messages: all of the push, once.
					if got, want := env.LINE.DeliveredTo(testenv.UserID)-before, len(in["Messages"].([]any)); got != want {
						t.Fatalf("%d LINE messages delivered, want %d", got, want)
					}
				}
				ran++
			})
		}
	}
	if len(received) != len(old["workflow/"+workflows.SendDataWorkflow]) {
		t.Errorf("receiver got %v, want one request per recorded Send Data input", received)
	}

	// The queue: a released starter's Update-with-Start, its start input and its update.
	t.Run("queue", func(t *testing.T) {
		start := old["workflow/"+workflows.LineQueueWorkflow][0][0]
		enq := jsonValue(t, old["update/"+workflows.LineQueueWorkflow+"."+workflows.UpdateEnqueue][0][0]).(map[string]any)
		items := enq["Items"].([]any)
		raw, _ := json.Marshal(items[0])
		items[0] = patch(t, raw, "old-queue-0")
		before := env.LINE.DeliveredTo(testenv.UserID)
		op := env.Client.NewWithStartWorkflowOperation(client.StartWorkflowOptions{
			ID: workflows.QueueWorkflowID(1, 0), TaskQueue: workflows.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.LineQueueWorkflow, json.RawMessage(start))
		h, err := env.Client.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{
			StartWorkflowOperation: op,
			UpdateOptions: client.UpdateWorkflowOptions{
				UpdateName: workflows.UpdateEnqueue, Args: []any{enq}, WaitForStage: client.WorkflowUpdateStageCompleted,
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.EnqueueResult
		if err := h.Get(ctx, &res); err != nil || res.Admitted != 1 {
			t.Fatalf("enqueue: %+v %v", res, err)
		}
		if got := callback(t, "old-queue-0")[workflows.FieldExecutionState]; got != workflows.StateSuccess {
			t.Fatalf("HubSpot callback %q, want SUCCESS", got)
		}
		if got := env.LINE.DeliveredTo(testenv.UserID) - before; got != 1 {
			t.Fatalf("%d LINE messages delivered, want 1", got)
		}
	})
	if ran == 0 {
		t.Fatal("nothing ran")
	}

	// Starters released before 2026-12-04 started every action on hubline; this worker still
	// polls it.
	t.Run("on hubline", func(t *testing.T) {
		cb := "old-on-hubline"
		run, err := env.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: "hubspot-" + cb, TaskQueue: workflows.TaskQueue},
			workflows.SendLineMessageWorkflow, patch(t, old["workflow/"+workflows.SendLineMessageWorkflow][0][0], cb))
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.ActionResult
		if err := run.Get(ctx, &res); err != nil || res.OutputFields[workflows.FieldExecutionState] != workflows.StateSuccess {
			t.Fatalf("result %+v %v, want SUCCESS", res, err)
		}
	})
}

// TestNewStarterBeforeUpgradedWorkers pins what the README's upgrade order guards against: a
// starter of this version starts per-execution actions on hubline-interactive, which workers
// released before 2026-12-04 do not poll (they poll hubline only). The action is accepted
// (BLOCK) and its run waits, sending nothing, until an upgraded worker starts; then it runs
// once. Nothing is lost, but it is late, hence "workers first" and the pre-flight check of
// docs/operations.md (pollers on hubline-interactive).
func TestNewStarterBeforeUpgradedWorkers(t *testing.T) {
	env := testenv.New(t, testenv.Options{NoWorker: true})
	// A worker as released before 2026-12-04: every workflow and activity, on hubline alone.
	w := sdkworker.New(env.Client, workflows.TaskQueue, sdkworker.Options{})
	worker.Register(w)
	w.RegisterActivity(env.Activities)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)

	a := env.Post(route, hello("before-upgrade"))
	if a.Status != 200 || a.OutputFields[workflows.FieldExecutionState] != "BLOCK" {
		t.Fatalf("answer %d %s", a.Status, a.Raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	tq := &workflowservice.DescribeTaskQueueRequest{Namespace: env.Temporal.GetDefaultNamespace(),
		TaskQueue: &taskqueuepb.TaskQueue{Name: workflows.InteractiveTaskQueue, Kind: enumspb.TASK_QUEUE_KIND_NORMAL}}
	if d, err := env.Client.WorkflowService().DescribeTaskQueue(ctx, tq); err != nil || len(d.GetPollers()) != 0 {
		t.Fatalf("pollers on %s before the upgrade: %v %v", workflows.InteractiveTaskQueue, d.GetPollers(), err)
	}
	time.Sleep(2 * time.Second)
	d, err := env.Client.DescribeWorkflowExecution(ctx, "hubspot-before-upgrade", "")
	if err != nil {
		t.Fatal(err)
	}
	if st := d.GetWorkflowExecutionInfo().GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || d.GetPendingWorkflowTask() == nil ||
		d.GetPendingWorkflowTask().GetState() != enumspb.PENDING_WORKFLOW_TASK_STATE_SCHEDULED || env.LINE.DeliveredTo(testenv.UserID) != 0 {
		t.Fatalf("before an upgraded worker: status %v, workflow task %v, %d delivered; want a run waiting for its first task",
			st, d.GetPendingWorkflowTask(), env.LINE.DeliveredTo(testenv.UserID))
	}

	env.StartWorker()
	var res workflows.ActionResult
	if err := env.Result("hubspot-before-upgrade", &res); err != nil || res.OutputFields[workflows.FieldExecutionState] != workflows.StateSuccess {
		t.Fatalf("after the upgrade: %+v %v", res, err)
	}
	if n := env.LINE.DeliveredTo(testenv.UserID); n != 1 {
		t.Fatalf("%d delivered, want 1", n)
	}
	if d, err := env.Client.WorkflowService().DescribeTaskQueue(ctx, tq); err != nil || len(d.GetPollers()) == 0 {
		t.Fatalf("no pollers on %s after the upgrade: %v", workflows.InteractiveTaskQueue, err)
	}
}

func sortedKeys(m recordedInputs) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
