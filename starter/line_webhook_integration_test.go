package starter_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/internal/webhook"
	"github.com/hubline/hubline/workflows"
)

const lineSecret = "line-channel-secret-1"

// lineEnv is hubline with account 1's channel secret, and the user a friend of account 1
// in the LINE sandbox.
func lineEnv(t *testing.T, o testenv.Options) *testenv.Env {
	t.Helper()
	if o.LineChannelSecrets == nil {
		o.LineChannelSecrets = map[int]string{1: lineSecret}
	}
	env := testenv.New(t, o)
	env.LINE.AddFriend("account 1", linesandbox.Friend{UserID: testenv.UserID, DisplayName: "Aiko", PictureURL: "https://profile.line-scdn.net/aiko", Language: "ja"})
	return env
}

type lineEv struct {
	Type, ID string
	At       int64 // Unix ms
	UserID   string
	Text     string
}

func (e lineEv) JSON() map[string]any {
	user := e.UserID
	if user == "" {
		user = testenv.UserID
	}
	m := map[string]any{
		"type": e.Type, "mode": "active", "timestamp": e.At, "webhookEventId": e.ID,
		"source":          map[string]any{"type": "user", "userId": user},
		"deliveryContext": map[string]any{"isRedelivery": false},
	}
	switch e.Type {
	case "follow":
		m["replyToken"] = "reply-" + e.ID
		m["follow"] = map[string]any{"isUnblocked": false}
	case "message":
		m["replyToken"] = "reply-" + e.ID
		m["message"] = map[string]any{"id": "1", "type": "text", "text": e.Text}
	}
	return m
}

func webhookBody(t *testing.T, evs ...lineEv) []byte {
	t.Helper()
	list := []map[string]any{}
	for _, e := range evs {
		list = append(list, e.JSON())
	}
	b, err := json.Marshal(map[string]any{"destination": "Ubot", "events": list})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func lineSign(secret string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// postLine posts a webhook to /line/webhook/<account>; sig "" sends no signature header.
func postLine(t *testing.T, env *testenv.Env, account string, sig string, body []byte) testenv.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, env.Starter.URL+"/line/webhook/"+account, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set("x-line-signature", sig)
	}
	return testenv.Do(t, req)
}

func deliver(t *testing.T, env *testenv.Env, evs ...lineEv) {
	t.Helper()
	body := webhookBody(t, evs...)
	if r := postLine(t, env, "1", lineSign(lineSecret, body), body); r.Status != http.StatusOK {
		t.Fatalf("webhook answer: %d %s", r.Status, r.Raw)
	}
}

func lineResult(t *testing.T, env *testenv.Env, eventID string) workflows.LineEventResult {
	t.Helper()
	var res workflows.LineEventResult
	if err := env.Result(workflows.LineEventWorkflowID(eventID), &res); err != nil {
		t.Fatalf("LineEvent %s: %v", eventID, err)
	}
	return res
}

// contactsOf lists the sandbox contacts whose line_user_id is the user's.
func contactsOf(env *testenv.Env, userID string) []hubspotsandbox.ContactRecord {
	var out []hubspotsandbox.ContactRecord
	for _, c := range env.HubSpot.Contacts() {
		if c.Properties["line_user_id"] == userID {
			out = append(out, c)
		}
	}
	return out
}

func oneContact(t *testing.T, env *testenv.Env) hubspotsandbox.ContactRecord {
	t.Helper()
	cs := contactsOf(env, testenv.UserID)
	if len(cs) != 1 {
		t.Fatalf("want one contact for the LINE user, got %d: %+v", len(cs), cs)
	}
	return cs[0]
}

func record(t *testing.T, env *testenv.Env, eventID, file string) {
	t.Helper()
	if os.Getenv("HUBLINE_RECORD_HISTORIES") == "1" {
		if err := env.WriteHistory(workflows.LineEventWorkflowID(eventID), "", filepath.Join("..", "workflows", "testdata", file)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLineFollowCreatesContactThenUpdates(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	deliver(t, env, lineEv{Type: "follow", ID: "01FOLLOW1", At: 1_700_000_000_000})
	res := lineResult(t, env, "01FOLLOW1")
	if res.Contact != activities.LineOutcomeCreated || res.ContactID == "" {
		t.Fatalf("result: %+v", res)
	}
	record(t, env, "01FOLLOW1", "line_event_follow.json")
	c := oneContact(t, env)
	want := map[string]string{
		"line_user_id": testenv.UserID, "line_follow_status": "following", "line_display_name": "Aiko", "firstname": "Aiko",
		"line_picture_url": "https://profile.line-scdn.net/aiko", "line_language": "ja", "line_followed_at": "1700000000000",
	}
	for k, v := range want {
		if c.Properties[k] != v {
			t.Errorf("%s = %q, want %q", k, c.Properties[k], v)
		}
	}
	if id, err := env.Store.LineContact(context.Background(), 0, 1, testenv.UserID); err != nil || id != c.ID {
		t.Fatalf("mapping: %q %v, want %s", id, err, c.ID)
	}

	// A later follow (unblocked) updates the same contact; firstname is the contact's own now.
	env.HubSpot.SetContact(c.ID, mergeProps(c.Properties, map[string]string{"firstname": "Aiko (edited)"}))
	env.LINE.AddFriend("account 1", linesandbox.Friend{UserID: testenv.UserID, DisplayName: "Aiko2"})
	deliver(t, env, lineEv{Type: "follow", ID: "01FOLLOW2", At: 1_700_000_100_000})
	if res := lineResult(t, env, "01FOLLOW2"); res.Contact != activities.LineOutcomeUpdated || res.ContactID != c.ID {
		t.Fatalf("second follow: %+v", res)
	}
	c = oneContact(t, env)
	if c.Properties["firstname"] != "Aiko (edited)" || c.Properties["line_display_name"] != "Aiko2" {
		t.Fatalf("after the second follow: %v", c.Properties)
	}
}

func mergeProps(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// A contact that already holds the LINE user ID (set by hand or an import) is used, not a
// new one, and per-account properties carry the account's suffix.
func TestLineFollowFindsExistingContactForAccount2(t *testing.T) {
	env := lineEnv(t, testenv.Options{Accounts: map[int]bool{1: false, 2: false}, LineChannelSecrets: map[int]string{1: lineSecret, 2: "secret-2"}})
	env.LINE.AddFriend("account 2", linesandbox.Friend{UserID: testenv.UserID, DisplayName: "Ken"})
	env.HubSpot.SetContact("777", map[string]string{"line_user_id_2": testenv.UserID, "firstname": "Kenji"})
	body := webhookBody(t, lineEv{Type: "follow", ID: "01F2", At: 1_700_000_000_000})
	if r := postLine(t, env, "2", lineSign("secret-2", body), body); r.Status != http.StatusOK {
		t.Fatalf("answer: %d %s", r.Status, r.Raw)
	}
	if res := lineResult(t, env, "01F2"); res.Contact != activities.LineOutcomeUpdated || res.ContactID != "777" {
		t.Fatalf("result: %+v", res)
	}
	var found map[string]string
	for _, c := range env.HubSpot.Contacts() {
		if c.ID == "777" {
			found = c.Properties
		}
	}
	if len(env.HubSpot.Contacts()) != 1 || found["firstname"] != "Kenji" || found["line_follow_status_2"] != "following" || found["line_display_name_2"] != "Ken" {
		t.Fatalf("contacts: %+v", env.HubSpot.Contacts())
	}
}

func TestLineFollowOfNonFriendCreatesNothing(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	env.LINE.BlockFriend("account 1", testenv.UserID)
	deliver(t, env, lineEv{Type: "follow", ID: "01NF", At: 1_700_000_000_000})
	if res := lineResult(t, env, "01NF"); res.Contact != activities.LineOutcomeNotFriend {
		t.Fatalf("result: %+v", res)
	}
	if n := len(env.HubSpot.Contacts()); n != 0 {
		t.Fatalf("%d contacts", n)
	}
}

func TestLineUnfollowBlocksAndLateFollowDoesNotUndoIt(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	deliver(t, env, lineEv{Type: "follow", ID: "01A", At: 1_700_000_000_000})
	lineResult(t, env, "01A")
	deliver(t, env, lineEv{Type: "unfollow", ID: "01C", At: 1_700_000_300_000})
	if res := lineResult(t, env, "01C"); res.Contact != activities.LineOutcomeUpdated {
		t.Fatalf("unfollow: %+v", res)
	}
	record(t, env, "01C", "line_event_unfollow.json")
	if s := oneContact(t, env).Properties["line_follow_status"]; s != "blocked" {
		t.Fatalf("status %q after unfollow", s)
	}
	// A follow from before the unfollow, delivered late, changes nothing.
	deliver(t, env, lineEv{Type: "follow", ID: "01B", At: 1_700_000_200_000})
	if res := lineResult(t, env, "01B"); res.Contact != activities.LineOutcomeStale {
		t.Fatalf("late follow: %+v", res)
	}
	if s := oneContact(t, env).Properties["line_follow_status"]; s != "blocked" {
		t.Fatalf("status %q after the late follow", s)
	}
}

func TestLineMessageRecordsInteractionAndForwardsSigned(t *testing.T) {
	type got struct {
		body []byte
		sig  string
		key  string
	}
	recv := make(chan got, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		recv <- got{b, r.Header.Get(webhook.SignatureHeader), r.Header.Get("Idempotency-Key")}
	}))
	t.Cleanup(srv.Close)
	env := lineEnv(t, testenv.Options{
		SendDataAllow:     "127.0.0.1/32",
		LineEventForwards: map[int]activities.LineEventForward{1: {URL: srv.URL + "/events", Secret: "fwd-secret"}},
	})
	deliver(t, env, lineEv{Type: "follow", ID: "01F", At: 1_700_000_000_000})
	lineResult(t, env, "01F")
	deliver(t, env, lineEv{Type: "message", ID: "01M", At: 1_700_000_500_000, Text: "こんにちは"})
	res := lineResult(t, env, "01M")
	if res.Contact != activities.LineOutcomeUpdated || !res.Forwarded {
		t.Fatalf("result: %+v", res)
	}
	record(t, env, "01M", "line_event_message.json")
	if v := oneContact(t, env).Properties["line_last_interaction_at"]; v != "1700000500000" {
		t.Fatalf("line_last_interaction_at = %q", v)
	}
	select {
	case g := <-recv:
		if g.key != activities.LineEventIdempotencyKey("01M") {
			t.Fatalf("Idempotency-Key %q", g.key)
		}
		if err := webhook.VerifyV2("fwd-secret", g.sig, g.key, g.body, time.Now(), 5*time.Minute); err != nil {
			t.Fatalf("forward signature: %v", err)
		}
		var ev map[string]any
		if err := json.Unmarshal(g.body, &ev); err != nil || ev["webhookEventId"] != "01M" || ev["message"].(map[string]any)["text"] != "こんにちは" {
			t.Fatalf("forwarded body: %s", g.body)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing forwarded")
	}
	if len(recv) != 0 {
		t.Fatal("forwarded more than once")
	}
	// Follow and unfollow are not forwarded; an unknown type is accepted and ignored.
	deliver(t, env, lineEv{Type: "brandNewEvent", ID: "01U", At: 1_700_000_600_000})
	if res := lineResult(t, env, "01U"); !res.Ignored {
		t.Fatalf("unknown type: %+v", res)
	}
}

func TestLineRedeliveryRunsOnce(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	ev := lineEv{Type: "follow", ID: "01R", At: 1_700_000_000_000}
	deliver(t, env, ev)
	lineResult(t, env, "01R")
	writes := env.HubSpot.ContactWrites()
	deliver(t, env, ev) // LINE's redelivery: same webhookEventId, after the run closed
	deliver(t, env, ev)
	time.Sleep(500 * time.Millisecond)
	if w := env.HubSpot.ContactWrites(); w != 1 || writes != 1 {
		t.Fatalf("contact writes: %d then %d, want 1", writes, w)
	}
	ctx := context.Background()
	it, err := env.Client.ListWorkflow(ctx, listRequest(env, workflows.LineEventWorkflowID("01R")))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(it.Executions); n != 1 {
		t.Fatalf("%d runs of the event's workflow", n)
	}
}

// Two follows of one user race (HubSpot's search does not show new contacts yet): the
// mapping in hubline's database decides, and one contact exists.
func TestLineTwoFollowsRaceOneContact(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	env.HubSpot.SetContactSearchLag(time.Hour)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			deliver(t, env, lineEv{Type: "follow", ID: fmt.Sprintf("01RACE%d", i), At: 1_700_000_000_000 + int64(i)})
		}()
	}
	wg.Wait()
	for i := range 4 {
		lineResult(t, env, fmt.Sprintf("01RACE%d", i))
	}
	oneContact(t, env)
}

// A create that took effect but whose answer was lost: the retry waits, searches, finds
// the contact and does not create a second.
func TestLineFollowLostCreateAnswerOneContact(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	// The index shows the contact 1.5 s after its creation: later than the retry's backoff
	// (1 s), sooner than backoff and settle (testenv's 1 s).
	env.HubSpot.SetContactSearchLag(1500 * time.Millisecond)
	env.HubSpot.FailNextContactCreates(http.StatusBadGateway, 1)
	deliver(t, env, lineEv{Type: "follow", ID: "01LOST", At: 1_700_000_000_000})
	if res := lineResult(t, env, "01LOST"); res.Contact != activities.LineOutcomeUpdated {
		t.Fatalf("result: %+v", res)
	}
	oneContact(t, env)
}

func TestLineFollowHubSpot429ThenSuccess(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	env.HubSpot.FailNext("/crm/v3/objects/contacts", http.StatusTooManyRequests, 1)
	deliver(t, env, lineEv{Type: "follow", ID: "01RL", At: 1_700_000_000_000})
	if res := lineResult(t, env, "01RL"); res.Contact != activities.LineOutcomeCreated {
		t.Fatalf("result: %+v", res)
	}
	oneContact(t, env)
}

func asNotFound(err error, nf **serviceerror.NotFound) bool { return errors.As(err, nf) }

func listRequest(env *testenv.Env, workflowID string) *workflowservice.ListWorkflowExecutionsRequest {
	return &workflowservice.ListWorkflowExecutionsRequest{
		Namespace: env.Temporal.GetDefaultNamespace(), Query: "WorkflowId = '" + workflowID + "'",
	}
}

func TestLineWebhookRefusals(t *testing.T) {
	env := lineEnv(t, testenv.Options{Accounts: map[int]bool{1: false, 2: false}})
	body := webhookBody(t, lineEv{Type: "follow", ID: "01BAD", At: 1_700_000_000_000})
	for _, c := range []struct {
		name, account, sig string
	}{
		{"no signature", "1", ""},
		{"wrong secret", "1", lineSign("other", body)},
		{"not base64", "1", "%%%"},
		{"unknown account", "9", lineSign(lineSecret, body)},
		{"account without a secret", "2", lineSign(lineSecret, body)},
		{"not an account number", "x", lineSign(lineSecret, body)},
	} {
		r := postLine(t, env, c.account, c.sig, body)
		if r.Status != http.StatusUnauthorized || !strings.Contains(r.Raw, `"code":"invalid_signature"`) {
			t.Errorf("%s: %d %s", c.name, r.Status, r.Raw)
		}
	}
	// A tampered body with the original's signature.
	sig := lineSign(lineSecret, body)
	if r := postLine(t, env, "1", sig, bytes.Replace(body, []byte("01BAD"), []byte("01BAE"), 1)); r.Status != http.StatusUnauthorized {
		t.Errorf("tampered body: %d %s", r.Status, r.Raw)
	}
	ctx := context.Background()
	for _, id := range []string{"01BAD", "01BAE"} {
		_, err := env.Client.DescribeWorkflowExecution(ctx, workflows.LineEventWorkflowID(id), "")
		var nf *serviceerror.NotFound
		if !asNotFound(err, &nf) {
			t.Errorf("a refused webhook started %s: %v", id, err)
		}
	}
	// LINE's verify button: no events.
	empty := []byte(`{"destination":"Ubot","events":[]}`)
	if r := postLine(t, env, "1", lineSign(lineSecret, empty), empty); r.Status != http.StatusOK {
		t.Errorf("verify: %d %s", r.Status, r.Raw)
	}
	big := bytes.Repeat([]byte(" "), 2<<20)
	if r := postLine(t, env, "1", lineSign(lineSecret, big), big); r.Status != http.StatusRequestEntityTooLarge {
		t.Errorf("large body: %d %s", r.Status, r.Raw)
	}
	bad := []byte(`{"events":`)
	if r := postLine(t, env, "1", lineSign(lineSecret, bad), bad); r.Status != http.StatusBadRequest {
		t.Errorf("bad JSON: %d %s", r.Status, r.Raw)
	}
	// Group events and events without an ID are accepted and ignored.
	odd := []byte(`{"destination":"Ubot","events":[{"type":"message","timestamp":1,"webhookEventId":"01GRP","source":{"type":"group","groupId":"C1","userId":"` + testenv.UserID + `"}},{"type":"follow","timestamp":1,"source":{"type":"user","userId":"` + testenv.UserID + `"}}]}`)
	if r := postLine(t, env, "1", lineSign(lineSecret, odd), odd); r.Status != http.StatusOK {
		t.Errorf("ignored events: %d %s", r.Status, r.Raw)
	}
	_, err := env.Client.DescribeWorkflowExecution(ctx, workflows.LineEventWorkflowID("01GRP"), "")
	var nf *serviceerror.NotFound
	if !asNotFound(err, &nf) {
		t.Errorf("a group event started a workflow: %v", err)
	}
}

// TestLineUnfollowRightAfterALostCreateBlocks: a follow's create takes effect but its answer is
// lost, and the user unfollows before HubSpot's search shows the new contact. The unfollow must
// not decide "no contact" (that would make the follow's retry stale and leave the contact
// "following"): it looks again once the search has settled, and the contact ends blocked.
func TestLineUnfollowRightAfterALostCreateBlocks(t *testing.T) {
	env := lineEnv(t, testenv.Options{})
	env.HubSpot.SetContactSearchLag(1500 * time.Millisecond)
	env.HubSpot.FailNextContactCreates(http.StatusBadGateway, 1)
	deliver(t, env, lineEv{Type: "follow", ID: "01RACEF", At: 1_700_000_000_000})
	testenv.Eventually(t, "the follow's create took effect", 30*time.Second, func() bool {
		return len(contactsOf(env, testenv.UserID)) == 1
	})
	deliver(t, env, lineEv{Type: "unfollow", ID: "01RACEU", At: 1_700_000_300_000})
	lineResult(t, env, "01RACEU")
	lineResult(t, env, "01RACEF")
	if s := oneContact(t, env).Properties["line_follow_status"]; s != "blocked" {
		t.Fatalf("status %q: the unfollow was lost behind the follow's lost create", s)
	}
}
