package metrics

import (
	"io"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestNamesListsOurMetrics(t *testing.T) {
	m := New()
	names := m.Names()
	for _, n := range []string{LinePushes, LinePushSeconds, HubSpotCalls, Callbacks, WebhookEvents, HTTPRefusals, "go_goroutines"} {
		if !slices.Contains(names, n) {
			t.Errorf("Names() lacks %s: %v", n, names)
		}
	}
}

func TestRecordedLabels(t *testing.T) {
	m := New()
	m.LinePush(2, "accepted", 30*time.Millisecond)
	m.HubSpotCall("complete_callback", HTTPOutcome(204))
	m.HubSpotCall("complete_callback", HTTPOutcome(429))
	m.Callback("SUCCESS", "completed")
	m.Callback("", "retry")
	m.Refusal("none", 404)
	m.WebhookEvent("follow", "recorded")
	for _, c := range []struct {
		got  float64
		want float64
		what string
	}{
		{value(t, m, LinePushes, "account", "2", "outcome", "accepted"), 1, "push"},
		{value(t, m, HubSpotCalls, "endpoint", "complete_callback", "outcome", "ok"), 1, "hubspot ok"},
		{value(t, m, HubSpotCalls, "endpoint", "complete_callback", "outcome", "rate_limited"), 1, "hubspot 429"},
		{value(t, m, Callbacks, "state", "SUCCESS", "outcome", "completed"), 1, "callback"},
		{value(t, m, Callbacks, "state", "none", "outcome", "retry"), 1, "callback without a state"},
		{value(t, m, HTTPRefusals, "route", "none", "code", "404"), 1, "refusal"},
		{value(t, m, WebhookEvents, "type", "follow", "outcome", "recorded"), 1, "webhook event"},
	} {
		if c.got != c.want {
			t.Errorf("%s: %v, want %v", c.what, c.got, c.want)
		}
	}
	if n := value(t, m, LinePushSeconds, "account", "2"); n != 1 {
		t.Errorf("latency observations: %v, want 1", n)
	}
}

// TestNilRecordsNothing: components built without metrics (unit tests, CLIs) call them anyway.
func TestNilRecordsNothing(t *testing.T) {
	var m *Metrics
	m.LinePush(1, "accepted", time.Second)
	m.HubSpotCall("x", "ok")
	m.Callback("SUCCESS", "completed")
	m.Refusal("none", 404)
	m.WebhookEvent("follow", "ok")
}

// TestTemporalHandlerReportsIntoTheRegistry: SDK metrics land in this registry (not the
// global one) under Prometheus names, within the reporting interval.
func TestTemporalHandlerReportsIntoTheRegistry(t *testing.T) {
	m := New()
	h, closer := m.Temporal(zap.NewNop())
	h.WithTags(map[string]string{"namespace": "default"}).Counter("temporal_request").Inc(1)
	h.Timer("temporal_request_latency").Record(20 * time.Millisecond)
	if err := closer.Close(); err != nil { // flushes
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{`temporal_request_total{namespace="default"} 1`, "temporal_request_latency_seconds_bucket"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s:\n%s", want, body)
		}
	}
}

// value is a counter's value, or a histogram's observation count, for the labels (name,
// value pairs); 0 when the series does not exist.
func value(t *testing.T, m *Metrics, name string, labels ...string) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	series:
		for _, s := range f.GetMetric() {
			if len(s.GetLabel()) != len(want) {
				continue
			}
			for _, l := range s.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if h := s.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			return s.GetCounter().GetValue()
		}
	}
	return 0
}
