package worker

import (
	"errors"
	"sync"
	"testing"
	"time"

	sdkworker "go.temporal.io/sdk/worker"
)

// fakeWorker records Start and Stop; the rest of sdkworker.Worker is never called.
type fakeWorker struct {
	sdkworker.Worker
	startErr error
	onStop   func()
	started  bool
	stopped  bool
}

func (f *fakeWorker) Start() error {
	f.started = f.startErr == nil
	return f.startErr
}

func (f *fakeWorker) Stop() {
	if f.onStop != nil {
		f.onStop()
	}
	f.stopped = true
}

// TestStartStopsTogether: each worker's Stop waits for its running activities, so stopping
// them one after the other would take one shutdown timeout per worker. Each fake Stop here
// waits until the other one has begun: that only happens if they run at the same time.
func TestStartStopsTogether(t *testing.T) {
	var entered sync.WaitGroup
	entered.Add(2)
	together := make(chan bool, 2)
	stopping := func() {
		entered.Done()
		done := make(chan struct{})
		go func() { entered.Wait(); close(done) }()
		select {
		case <-done:
			together <- true
		case <-time.After(5 * time.Second): // a guard against a hang, not a speed check
			together <- false
		}
	}
	a, b := &fakeWorker{onStop: stopping}, &fakeWorker{onStop: stopping}
	stop, err := Start(a, b)
	if err != nil {
		t.Fatal(err)
	}
	stop()
	stop() // a second call is a no-op
	if !<-together || !<-together {
		t.Fatal("the workers were stopped one after the other")
	}
	if !a.stopped || !b.stopped {
		t.Fatal("not every worker was stopped")
	}
}

func TestStartFailureStopsTheStarted(t *testing.T) {
	a, b := &fakeWorker{}, &fakeWorker{startErr: errors.New("no such namespace")}
	if _, err := Start(a, b); err == nil || !errors.Is(err, b.startErr) {
		t.Fatalf("err = %v", err)
	}
	if !a.started || !a.stopped || b.stopped {
		t.Fatalf("a started %v stopped %v; b stopped %v", a.started, a.stopped, b.stopped)
	}
}
