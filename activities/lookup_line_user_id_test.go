package activities

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestContactBatcherSharesBatchReads(t *testing.T) {
	var mu sync.Mutex
	var calls [][]string
	b := newContactBatcher(func(ctx context.Context, portal int64, ids, props []string) (map[string]map[string]string, error) {
		mu.Lock()
		calls = append(calls, ids)
		mu.Unlock()
		out := map[string]map[string]string{}
		for _, id := range ids {
			out[id] = map[string]string{props[0]: "U-" + id}
		}
		return out, nil
	}, 100*time.Millisecond)

	var wg sync.WaitGroup
	errs := make(chan error, 250)
	for i := range 250 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint(i)
			p, err := b.get(context.Background(), 1, id, "line_user_id")
			if err == nil && p["line_user_id"] != "U-"+id {
				err = fmt.Errorf("contact %s got %v", id, p)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(calls) != 3 {
		t.Fatalf("%d batch reads, want 3 (100+100+50)", len(calls))
	}
	for _, c := range calls {
		if len(c) > maxBatch {
			t.Fatalf("batch of %d", len(c))
		}
	}
	// Another portal or property never shares a batch; a later lookup opens a new one.
	if _, err := b.get(context.Background(), 2, "1", "line_user_id"); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 4 {
		t.Fatalf("%d reads", len(calls))
	}
}
