package workflows_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

// releasedHistories holds runs the released worker (89c522c, 2026-12-04) recorded from the
// released starter's inputs (testdata/inputs/89c522c): one per action, both with and without
// their optional inputs, and a queue batch. Recorded on a worktree of that commit with the
// helpers of starter/record_inputs_test.go; files are named <workflowID>_<runID prefix>.json.
const releasedHistories = "released_89c522c"

// TestReplayReleasedRuns: a run the released worker began finishes on this version's worker
// (rolling upgrade, old worker → new worker), for every workflow type it started.
func TestReplayReleasedRuns(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", releasedHistories, "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories in testdata/%s: %v", releasedHistories, err)
	}
	types := map[string]bool{}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(file)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			h, err := client.HistoryFromJSON(f, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			started := h.Events[0].GetWorkflowExecutionStartedEventAttributes()
			types[started.GetWorkflowType().GetName()] = true
			r := sdkworker.NewWorkflowReplayer()
			worker.Register(r)
			// Batch IDs derive from the workflow ID, so replay uses the recorded one.
			err = r.ReplayWorkflowHistoryWithOptions(nil, h, sdkworker.ReplayWorkflowHistoryOptions{
				OriginalExecution: workflow.Execution{ID: name[:strings.LastIndex(name, "_")], RunID: started.GetOriginalExecutionRunId()},
			})
			if err != nil {
				t.Fatalf("replay: %v", err)
			}
		})
	}
	for _, want := range []string{workflows.SendLineMessageWorkflow, workflows.SendLineMessageV2Workflow,
		workflows.SendDataWorkflow, workflows.LineBatchWorkflow} {
		if !types[want] {
			t.Errorf("no released %s run recorded in testdata/%s", want, releasedHistories)
		}
	}
}

// TestEveryRecordedHistoryIsReplayed: each history under testdata (a file, or a directory of
// them) is named by a replay test of this package, so a recording nobody replays cannot sit
// there giving false comfort. testdata/inputs holds inputs, not histories.
func TestEveryRecordedHistoryIsReplayed(t *testing.T) {
	tests, err := filepath.Glob("*_test.go")
	if err != nil {
		t.Fatal(err)
	}
	var src strings.Builder
	for _, f := range tests {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	err = filepath.WalkDir("testdata", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p == filepath.Join("testdata", "inputs") {
				return filepath.SkipDir
			}
			return nil
		}
		if filepath.Ext(p) != ".json" {
			return nil
		}
		rel, _ := filepath.Rel("testdata", p)
		named := filepath.ToSlash(rel)
		if dir := filepath.Dir(rel); dir != "." {
			named = filepath.ToSlash(dir) // replayed as a directory
		}
		if !strings.Contains(src.String(), `"`+named+`"`) && !strings.Contains(src.String(), `"testdata/`+named+`"`) {
			t.Errorf("testdata/%s: no replay test names %q", rel, named)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
