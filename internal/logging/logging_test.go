package logging

import (
	"testing"

	"go.temporal.io/sdk/log"

	"go.uber.org/zap"
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
