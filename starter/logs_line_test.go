package starter_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/workflows"
)

const (
	canaryChannelSecret = "CANARY-line-channel-secret-3f7b"
	canaryForwardSecret = "CANARY-forward-secret-a61c"
	canaryDisplayName   = "CANARY-display-name-77e0"
)

// TestLogsOfLineWebhookHoldNoSecrets posts LINE webhooks (follow, message, unfollow; bad,
// missing and forged signatures, unknown accounts, bad JSON) through the real starter and
// the LineEvent workflow on the worker, with HubSpot answering 429 and 401 and the forward
// receiver 500, and proves no channel secret or token, message text, display name, reply
// token or full user ID reaches the one logger.
func TestLogsOfLineWebhookHoldNoSecrets(t *testing.T) {
	logs := captureLogs(t)
	var fails atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if fails.Add(1) == 1 {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(recv.Close)
	env := testenv.New(t, testenv.Options{
		Logger: logs.Log, LineTokens: map[int]string{1: canaryLineToken}, LineChannelSecrets: map[int]string{1: canaryChannelSecret},
		HubSpot: hubspotsandbox.Options{AccessToken: canaryHubSpotToken}, SendDataAllow: "127.0.0.1/32",
		LineEventForwards: map[int]activities.LineEventForward{1: {URL: recv.URL + "/events?key=" + canaryURLSecret, Secret: canaryForwardSecret}},
	})
	env.LINE.AddFriend("account 1", linesandbox.Friend{UserID: canaryUserID, DisplayName: canaryDisplayName, PictureURL: "https://profile.line-scdn.net/" + canaryProperty, Language: "ja"})

	ev := func(typ, id string, at int64) lineEv {
		return lineEv{Type: typ, ID: id, At: at, UserID: canaryUserID, Text: canaryText}
	}
	// delivered posts signed events and waits for their LineEvent runs (failed: ended in error).
	delivered := func(failed bool, evs ...lineEv) func(t *testing.T) {
		return func(t *testing.T) {
			body := webhookBody(t, evs...)
			if r := postLine(t, env, "1", lineSign(canaryChannelSecret, body), body); r.Status != http.StatusOK {
				t.Fatalf("webhook answer: %d %s", r.Status, r.Raw)
			}
			for _, e := range evs {
				var res workflows.LineEventResult
				if err := env.Result(workflows.LineEventWorkflowID(e.ID), &res); (err != nil) != failed {
					t.Fatalf("LineEvent %s: %v, want failed %v", e.ID, err, failed)
				}
			}
		}
	}
	refused := func(account, sig string, body []byte, status int) func(t *testing.T) {
		return func(t *testing.T) {
			if r := postLine(t, env, account, sig, body); r.Status != status {
				t.Fatalf("answer %d %s, want %d", r.Status, r.Raw, status)
			}
		}
	}
	forged := webhookBody(t, ev("message", "LOGFORGED", 1_700_000_000_000))
	cases := []struct {
		name  string
		setup func()
		run   func(t *testing.T)
	}{
		{"follow, HubSpot 429 first", func() { env.HubSpot.FailNext(contactsPath, http.StatusTooManyRequests, 1) },
			delivered(false, ev("follow", "LOGFOLLOW", 1_700_000_000_000))},
		{"message forwarded after a 500", nil, func(t *testing.T) {
			delivered(false, ev("message", "LOGMSG", 1_700_000_100_000))(t)
			if fails.Load() < 2 {
				t.Fatalf("forward receiver called %d times, want a 500 then a success", fails.Load())
			}
		}},
		{"message, HubSpot 401", func() { env.HubSpot.FailNext(contactsPath, http.StatusUnauthorized, 1) },
			delivered(true, ev("message", "LOGMSG401", 1_700_000_200_000))},
		{"unfollow", nil, delivered(false, ev("unfollow", "LOGUNFOLLOW", 1_700_000_300_000))},
		{"no signature", nil, refused("1", "", forged, http.StatusUnauthorized)},
		{"wrong secret", nil, refused("1", lineSign("not-the-secret", forged), forged, http.StatusUnauthorized)},
		{"unknown account", nil, refused("9", lineSign(canaryChannelSecret, forged), forged, http.StatusUnauthorized)},
		{"bad JSON", nil, func(t *testing.T) {
			bad := []byte(`{"events":[{"source":{"userId":"` + canaryUserID + `"},"message":{"text":"` + canaryText + `"`)
			refused("1", lineSign(canaryChannelSecret, bad), bad, http.StatusBadRequest)(t)
		}},
	}
	secrets := canaries{
		"channel secret": canaryChannelSecret, "channel access token": canaryLineToken, "HubSpot access token": canaryHubSpotToken,
		"forward secret": canaryForwardSecret, "forward URL query": canaryURLSecret, "message text": canaryText,
		"display name": canaryDisplayName, "picture URL": canaryProperty, "reply token": "reply-LOG",
		"LINE user ID": canaryUserID[1:], "LINE user ID's middle": canaryUserMiddle,
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.setup != nil {
				c.setup()
			}
			c.run(t)
			logs.assertNoCanaries(t, secrets)
		})
	}
	logs.assertLogged(t, `"hubspot request"`, `"Started Worker"`, `"LineEvent"`)
}
