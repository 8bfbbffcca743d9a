// Package readiness answers /readyz: each dependency a process needs (Temporal, hubline's
// database) is checked at once, and a 503 names the missing ones, so an operator sees
// what to fix rather than only that something is wrong.
package readiness

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Timeout bounds each check; a load balancer's probe should not hang on a dead dependency.
const Timeout = 2 * time.Second

// Checks is the list of dependencies; the zero value is ready (nothing to check).
type Checks struct {
	// Log receives each failure at warn (nil: not logged).
	Log *zap.Logger

	mu     sync.Mutex
	names  []string
	checks []func(context.Context) error
}

// Add makes readiness depend on name: check returns nil while it is reachable.
func (c *Checks) Add(name string, check func(context.Context) error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.names = append(c.names, name)
	c.checks = append(c.checks, check)
}

// Missing runs every check in parallel and returns the names that failed, in the order
// they were added, with their errors.
func (c *Checks) Missing(ctx context.Context) ([]string, []error) {
	c.mu.Lock()
	names, checks := c.names, c.checks
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, Timeout)
	defer cancel()
	errs := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, check := range checks {
		wg.Go(func() { errs[i] = check(ctx) })
	}
	wg.Wait()
	var missing []string
	var failed []error
	for i, err := range errs {
		// One database may be opened by two parts of a process: name it once.
		if err != nil && !slices.Contains(missing, names[i]) {
			missing = append(missing, names[i])
			failed = append(failed, err)
		}
	}
	return missing, failed
}

// Answer is the /readyz body. A 503 also carries hubline's one error shape (error.code is
// temporal_unavailable when Temporal is among the missing, as before the list existed).
type Answer struct {
	Status  string   `json:"status"`
	Missing []string `json:"missing,omitempty"`
	Error   *Error   `json:"error,omitempty"`
}

// Error is the error shape of every hubline HTTP refusal.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ServeHTTP answers 200 {"status":"ready"} or 503 {"status":"unavailable","missing":[...]}.
func (c *Checks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	missing, errs := c.Missing(r.Context())
	if len(missing) == 0 {
		Write(w, http.StatusOK, Answer{Status: "ready"})
		return
	}
	var msgs []string
	for i, name := range missing {
		if c.Log != nil {
			c.Log.Warn("not ready: a dependency is missing", zap.String("dependency", name), zap.Error(errs[i]))
		}
		if name == "temporal" {
			// Temporal's errors name only its address; others (a database driver's) may
			// say more than a public endpoint should, so they stay in the log.
			msgs = append(msgs, "Temporal is not reachable: "+errs[i].Error())
		} else {
			msgs = append(msgs, name+" is not reachable (see the log)")
		}
	}
	code := missing[0] + "_unavailable"
	for _, m := range missing {
		if m == "temporal" {
			code = "temporal_unavailable"
		}
	}
	Write(w, http.StatusServiceUnavailable, Answer{Status: "unavailable", Missing: missing,
		Error: &Error{Code: code, Message: strings.Join(msgs, "; ")}})
}

// Write sends an answer as JSON.
func Write(w http.ResponseWriter, status int, a Answer) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(a)
}
