package readiness

import (
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestServeHTTP(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error {
		return errors.New("dial tcp 10.0.0.5:5432: password authentication failed")
	}
	hangs := func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
	for _, c := range []struct {
		name    string
		checks  map[string][]func(context.Context) error
		order   []string
		status  int
		missing []string
		code    string
	}{
		{"nothing to check", nil, nil, 200, nil, ""},
		{"all up", map[string][]func(context.Context) error{"temporal": {ok}, "database": {ok}}, []string{"temporal", "database"}, 200, nil, ""},
		{"database down", map[string][]func(context.Context) error{"temporal": {ok}, "database": {down}}, []string{"temporal", "database"}, 503, []string{"database"}, "database_unavailable"},
		{"both down, database twice", map[string][]func(context.Context) error{"temporal": {hangs}, "database": {down, down}}, []string{"temporal", "database"}, 503, []string{"temporal", "database"}, "temporal_unavailable"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var r Checks
			for _, name := range c.order {
				for _, f := range c.checks[name] {
					r.Add(name, f)
				}
			}
			start := time.Now()
			rec := httptest.NewRecorder()
			r.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if time.Since(start) > Timeout+time.Second {
				t.Errorf("took %v: a hanging check must be cut at %v", time.Since(start), Timeout)
			}
			var a Answer
			if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil || rec.Code != c.status {
				t.Fatalf("%d %s (%v)", rec.Code, rec.Body.String(), err)
			}
			if !slices.Equal(a.Missing, c.missing) {
				t.Errorf("missing %v, want %v", a.Missing, c.missing)
			}
			if c.status == 200 && a.Status != "ready" || c.status == 503 && (a.Status != "unavailable" || a.Error == nil || a.Error.Code != c.code) {
				t.Errorf("answer %s", rec.Body.String())
			}
			if strings.Contains(rec.Body.String(), "password") {
				t.Errorf("a database error's text reached the answer: %s", rec.Body.String())
			}
		})
	}
}
