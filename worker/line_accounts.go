package worker

import (
	"fmt"
	"sync"
	"time"

	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"

	"github.com/hubline/hubline/activities"
)

// LineSenders runs the send-unit workers (hubline-line-<n>) of accounts that appear while
// the worker runs: a stored account added with `hubline accounts add` gets its worker, at
// its push rate, without a restart. Accounts NewLine already serves are skipped.
type LineSenders struct {
	c           client.Client
	acts        *activities.Activities
	stopTimeout time.Duration

	mu      sync.Mutex
	running bool
	stopped bool
	ws      map[int]sdkworker.Worker
	skip    map[int]bool
	started []int
}

// NewLineSenders builds the runner; served are the accounts NewLine runs workers for.
func NewLineSenders(c client.Client, acts *activities.Activities, served []int, stopTimeout time.Duration) *LineSenders {
	s := &LineSenders{c: c, acts: acts, stopTimeout: stopTimeout, ws: map[int]sdkworker.Worker{}, skip: map[int]bool{}}
	for _, n := range served {
		s.skip[n] = true
	}
	return s
}

// Add serves account n: at once when running, else from Start. Adding an account twice is
// a no-op.
func (s *LineSenders) Add(n int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.skip[n] || s.ws[n] != nil || s.stopped {
		return nil
	}
	w := newSendUnitWorker(s.c, s.acts, n, s.stopTimeout)
	if s.running {
		if err := w.Start(); err != nil {
			return fmt.Errorf("start the send-unit worker of LINE account %d: %w", n, err)
		}
	}
	s.ws[n] = w
	s.started = append(s.started, n)
	return nil
}

// Accounts lists the accounts served here, in the order they were added.
func (s *LineSenders) Accounts() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.started...)
}

// Start starts the workers added so far; later ones start as they are added.
func (s *LineSenders) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, n := range s.started {
		if err := s.ws[n].Start(); err != nil {
			for _, m := range s.started[:i] {
				s.ws[m].Stop()
			}
			return fmt.Errorf("start the send-unit worker of LINE account %d: %w", n, err)
		}
	}
	s.running = true
	return nil
}

// Stop stops every worker at once; nothing starts afterwards.
func (s *LineSenders) Stop() {
	s.mu.Lock()
	var g Group
	if s.running {
		for _, w := range s.ws {
			g = append(g, w)
		}
	}
	s.running, s.stopped = false, true
	s.mu.Unlock()
	g.Stop()
}
