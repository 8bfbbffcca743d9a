package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.temporal.io/sdk/client"
)

// TestWorkerHealthRefusals: /readyz fails when Temporal is unreachable and once shutdown began;
// the process-level test (TestWorkerAndStarterProcesses) checks the ready answer.
func TestWorkerHealthRefusals(t *testing.T) {
	unreachable, err := client.NewLazyClient(client.Options{HostPort: freeAddr(t)}) // nothing listens there
	if err != nil {
		t.Fatal(err)
	}
	defer unreachable.Close()
	stopped, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name    string
		running context.Context
		path    string
		status  int
		code    string
	}{
		{"alive", context.Background(), "/healthz", 200, ""},
		{"temporal unreachable", context.Background(), "/readyz", 503, "temporal_unavailable"},
		{"shutting down", stopped, "/readyz", 503, "shutting_down"},
		{"unknown path", context.Background(), "/metrics", 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			workerHealth(tc.running, unreachable).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.path, nil))
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			var body struct{ Error struct{ Code string } }
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error.Code != tc.code {
				t.Fatalf("body %s (%v), want error code %q", rec.Body.String(), err, tc.code)
			}
		})
	}
}
