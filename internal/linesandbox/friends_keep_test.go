package linesandbox

import (
	"context"
	"fmt"
	"net/http/httptest"
	"testing"
)

// TestRedeliverKeep: Redeliver finds an event as long as it is among the last Keep webhooks
// sent (200 by default), so a long run can redeliver its early events.
func TestRedeliverKeep(t *testing.T) {
	rc := &receiver{code: 200}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	for _, tc := range []struct {
		keep, sends int
		found       bool
	}{
		{0, 200, true},
		{0, 201, false},
		{3, 3, true},
		{3, 4, false},
		{300, 250, true},
	} {
		t.Run(fmt.Sprintf("keep %d, %d sent", tc.keep, tc.sends), func(t *testing.T) {
			s := New(Options{Tokens: map[string]string{"tok-1": "account 1"}})
			s.UseWebhooks(Webhooks{BaseURL: srv.URL, Keep: tc.keep,
				Accounts: map[int]WebhookAccount{1: {Label: "account 1", ChannelSecret: "secret-1"}}})
			var first string
			for i := 0; i < tc.sends; i++ {
				ev, err := s.Act(context.Background(), FriendAction{Account: 1, Action: "follow"})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = ev.WebhookEventID
				}
			}
			ev, err := s.Redeliver(context.Background(), first)
			if found := err == nil; found != tc.found {
				t.Fatalf("redelivery of the first event: found %v, want %v (%v)", found, tc.found, err)
			}
			if tc.found && (ev.WebhookEventID != first || !ev.Redelivery || ev.Status != 200) {
				t.Errorf("redelivered %+v", ev)
			}
		})
	}
}
