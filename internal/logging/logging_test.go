package logging

import (
	"errors"
	"fmt"
	"testing"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

func TestTemporalAdapterKeepsFieldsAndWith(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	l := Temporal(zap.New(core))
	l.Info("started", "WorkflowID", "hubspot-1", "Attempt", 2)
	l.(log.WithLogger).With("Namespace", "default").Warn("later")
	if logs.Len() != 2 {
		t.Fatalf("want 2 entries, got %d", logs.Len())
	}
	if logs.All()[1].ContextMap()["Namespace"] != "default" {
		t.Fatalf("With lost its fields: %v", logs.All()[1].ContextMap())
	}
	got := logs.All()[0].ContextMap()
	if got["WorkflowID"] != "hubspot-1" || got["Attempt"] != int64(2) {
		t.Fatalf("fields lost: %v", got)
	}
}

func TestUserIDIsShortened(t *testing.T) {
	f := UserID("U4af4980629aaaaaaaaaaaaaaaaaaaaaa")
	if f.String != "U4af4…" {
		t.Fatalf("got %q", f.String)
	}
}

// The SDK logs every failed activity attempt at ERROR; a retry the activity asked for is
// expected and logged at INFO, while real failures stay at ERROR.
func TestTemporalAdapterLogsExpectedRetriesBelowError(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		err  error
		want zapcore.Level
	}{
		{"retryable application error", "Activity error.", temporal.NewApplicationError("LINE answered 500", "line_unavailable"), zap.InfoLevel},
		{"wrapped retryable", "Activity error.", fmt.Errorf("push: %w", temporal.NewApplicationError("429", "line_rate_limited")), zap.InfoLevel},
		{"non-retryable", "Activity error.", temporal.NewNonRetryableApplicationError("bad token", "line_auth", nil), zap.ErrorLevel},
		{"unclassified error", "Activity error.", errors.New("nil pointer"), zap.ErrorLevel},
		{"canceled", "Activity error.", temporal.NewCanceledError(), zap.ErrorLevel},
		{"other SDK error", "Workflow panic", temporal.NewApplicationError("x", "y"), zap.ErrorLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zap.DebugLevel)
			Temporal(zap.New(core)).Error(tt.msg, "WorkflowID", "hubspot-1", "Attempt", 2, "Error", tt.err)
			if logs.Len() != 1 || logs.All()[0].Level != tt.want {
				t.Fatalf("got %v, want one entry at %v", logs.All(), tt.want)
			}
			if got := logs.All()[0].ContextMap()["WorkflowID"]; got != "hubspot-1" {
				t.Fatalf("fields lost: %v", logs.All()[0].ContextMap())
			}
		})
	}
}
