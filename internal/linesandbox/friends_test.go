package linesandbox

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// received is one webhook request the receiver got.
type received struct {
	path, signature, contentType string
	body                         []byte
}

// receiver is a stand-in for hubline's /line/webhook/<n>: it records each request.
type receiver struct {
	mu   sync.Mutex
	got  []received
	code int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.got = append(rc.got, received{r.URL.Path, r.Header.Get("x-line-signature"), r.Header.Get("Content-Type"), b})
	code := rc.code
	rc.mu.Unlock()
	w.WriteHeader(code)
	_, _ = w.Write([]byte(`{}`))
}

func (rc *receiver) last(t *testing.T) received {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) == 0 {
		t.Fatal("no webhook received")
	}
	return rc.got[len(rc.got)-1]
}

func signedWith(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

var ulidRE = regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{26}$`)

type sentEvent struct {
	Destination string `json:"destination"`
	Events      []struct {
		Type      string `json:"type"`
		Mode      string `json:"mode"`
		Timestamp int64  `json:"timestamp"`
		Source    struct {
			Type   string `json:"type"`
			UserID string `json:"userId"`
		} `json:"source"`
		WebhookEventID  string `json:"webhookEventId"`
		DeliveryContext struct {
			IsRedelivery *bool `json:"isRedelivery"`
		} `json:"deliveryContext"`
		ReplyToken *string `json:"replyToken"`
		Follow     *struct {
			IsUnblocked *bool `json:"isUnblocked"`
		} `json:"follow"`
		Message *struct {
			Type string `json:"type"`
			ID   string `json:"id"`
			Text string `json:"text"`
		} `json:"message"`
	} `json:"events"`
}

// checkWebhook verifies the signature with account 1's secret, LINE's shape, and returns
// the single event.
func checkWebhook(t *testing.T, got received, wantType string, redelivery bool) sentEvent {
	t.Helper()
	if got.path != "/line/webhook/1" || !strings.HasPrefix(got.contentType, "application/json") {
		t.Errorf("sent to %s as %q", got.path, got.contentType)
	}
	if got.signature != signedWith("secret-1", got.body) || got.signature == signedWith("secret-2", got.body) {
		t.Errorf("x-line-signature %q does not verify with account 1's channel secret", got.signature)
	}
	var ev sentEvent
	if err := json.Unmarshal(got.body, &ev); err != nil || len(ev.Events) != 1 {
		t.Fatalf("body %s: %v", got.body, err)
	}
	e := ev.Events[0]
	if !userIDRE.MatchString(ev.Destination) || e.Type != wantType || e.Mode != "active" || e.Source.Type != "user" ||
		!userIDRE.MatchString(e.Source.UserID) || !ulidRE.MatchString(e.WebhookEventID) ||
		e.DeliveryContext.IsRedelivery == nil || *e.DeliveryContext.IsRedelivery != redelivery {
		t.Errorf("not LINE's shape: %s", got.body)
	}
	if d := time.Since(time.UnixMilli(e.Timestamp)); d < 0 || d > time.Minute {
		t.Errorf("timestamp %d is not now in milliseconds", e.Timestamp)
	}
	if hasReply := e.ReplyToken != nil && *e.ReplyToken != ""; hasReply != (wantType != "unfollow") {
		t.Errorf("%s event: replyToken %v", wantType, e.ReplyToken)
	}
	return ev
}

func newFriendsBox(t *testing.T) (*Server, *receiver) {
	t.Helper()
	rc := &receiver{code: http.StatusOK}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	s := New(Options{Tokens: map[string]string{"tok-1": "account 1", "tok-2": "account 2"}})
	s.UseWebhooks(Webhooks{BaseURL: srv.URL, Accounts: map[int]WebhookAccount{
		1: {Label: "account 1", ChannelSecret: "secret-1"}, 2: {Label: "account 2", ChannelSecret: "secret-2"}}})
	return s, rc
}

func TestFriendWebhooks(t *testing.T) {
	s, rc := newFriendsBox(t)
	ctx := context.Background()

	rec, err := s.Act(ctx, FriendAction{Account: 1, Action: "follow", DisplayName: "Aiko", Language: "ja"})
	if err != nil || rec.Status != http.StatusOK {
		t.Fatalf("follow: %+v, %v", rec, err)
	}
	ev := checkWebhook(t, rc.last(t), "follow", false)
	user := ev.Events[0].Source.UserID
	if f := ev.Events[0].Follow; f == nil || f.IsUnblocked == nil || *f.IsUnblocked {
		t.Errorf("first follow: follow %+v, want isUnblocked false", f)
	}
	if rec.UserID != user || rec.WebhookEventID != ev.Events[0].WebhookEventID {
		t.Errorf("record %+v does not match the event sent", rec)
	}
	// The profile is served to the account's token, and only to it.
	if r := do(t, s, "GET", "/v2/bot/profile/"+user, "tok-1", "-", ""); r.status != 200 || r.body["displayName"] != "Aiko" {
		t.Errorf("profile for account 1: %d %s", r.status, r.raw)
	}
	if r := do(t, s, "GET", "/v2/bot/profile/"+user, "tok-2", "-", ""); r.status != 404 {
		t.Errorf("profile for account 2: %d, want 404", r.status)
	}

	if _, err = s.Act(ctx, FriendAction{Account: 1, Action: "message", UserID: user, Text: "こんにちは"}); err != nil {
		t.Fatal(err)
	}
	ev = checkWebhook(t, rc.last(t), "message", false)
	msg := ev.Events[0]
	if m := msg.Message; m == nil || m.Type != "text" || m.Text != "こんにちは" || m.ID == "" {
		t.Errorf("message: %+v", m)
	}

	// Redelivery: the same event, the same webhookEventId, marked as a redelivery.
	if _, err = s.Redeliver(ctx, msg.WebhookEventID); err != nil {
		t.Fatal(err)
	}
	again := checkWebhook(t, rc.last(t), "message", true).Events[0]
	if again.WebhookEventID != msg.WebhookEventID || again.Timestamp != msg.Timestamp || again.Message.ID != msg.Message.ID {
		t.Errorf("redelivery %+v differs from %+v", again, msg)
	}

	if _, err = s.Act(ctx, FriendAction{Account: 1, Action: "unfollow", UserID: user}); err != nil {
		t.Fatal(err)
	}
	checkWebhook(t, rc.last(t), "unfollow", false)
	if r := do(t, s, "GET", "/v2/bot/profile/"+user, "tok-1", "-", ""); r.status != 404 {
		t.Errorf("profile after a block: %d, want 404", r.status)
	}
	if _, err = s.Act(ctx, FriendAction{Account: 1, Action: "follow", UserID: user}); err != nil {
		t.Fatal(err)
	}
	ev = checkWebhook(t, rc.last(t), "follow", false)
	if f := ev.Events[0].Follow; f == nil || f.IsUnblocked == nil || !*f.IsUnblocked {
		t.Errorf("follow after a block: %+v, want isUnblocked true", f)
	}
	if fs := s.Friends(); len(fs) != 1 || !fs[0].Following || fs[0].DisplayName != "Aiko" {
		t.Errorf("friends: %+v", fs)
	}
	if n := len(s.FriendEvents()); n != 5 {
		t.Errorf("%d events recorded, want 5", n)
	}
}

func TestFriendsEndpoint(t *testing.T) {
	s, rc := newFriendsBox(t)
	post := func(path, body string, hdr map[string]string) resp {
		t.Helper()
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		for k, v := range hdr {
			r.Header.Set(k, v)
		}
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		out := resp{status: w.Code, header: w.Header(), raw: w.Body.String()}
		_ = json.Unmarshal(w.Body.Bytes(), &out.body)
		return out
	}
	r := post("/sandbox/friends", `{"account":1,"action":"follow","displayName":"Ken"}`, nil)
	if r.status != 200 || r.body["type"] != "follow" || r.body["status"] != float64(200) || !userIDRE.MatchString(r.body["userId"].(string)) {
		t.Fatalf("follow: %d %s", r.status, r.raw)
	}
	user := r.body["userId"].(string)
	r = post("/sandbox/friends/redeliver", `{"webhookEventId":"`+r.body["webhookEventId"].(string)+`"}`, nil)
	if r.status != 200 || r.body["isRedelivery"] != true {
		t.Errorf("redeliver: %d %s", r.status, r.raw)
	}
	checkWebhook(t, rc.last(t), "follow", true)

	for _, c := range []struct{ body, msg string }{
		{`{"account":9,"action":"follow"}`, "one of the sandbox's accounts (1, 2)"},
		{`{"account":1,"action":"message","userId":"` + user2 + `","text":"hi"}`, "follow first"},
		{`{"account":1,"action":"message","userId":"` + user + `","text":"  "}`, "text must be"},
		{`{"account":1,"action":"unfollow","userId":"U123"}`, "userId must be"},
		{`{"account":1,"action":"wave"}`, "action must be"},
		{`{"account":1,"action":"follow","extra":1}`, "JSON object"},
	} {
		if r := post("/sandbox/friends", c.body, nil); r.status != 400 || !strings.Contains(r.raw, c.msg) {
			t.Errorf("%s: %d %s, want 400 %q", c.body, r.status, r.raw, c.msg)
		}
	}
	if r := post("/sandbox/friends/redeliver", `{"webhookEventId":"01NOPE"}`, nil); r.status != 400 {
		t.Errorf("redeliver of an unknown event: %d", r.status)
	}
	before := len(rc.got)
	if r := post("/sandbox/friends", `{"account":1,"action":"follow"}`, map[string]string{"Sec-Fetch-Site": "cross-site"}); r.status != 403 {
		t.Errorf("cross-site: %d", r.status)
	}
	form := url.Values{"account": {"1"}, "action": {"message"}, "userId": {user}, "text": {"from the page"}}
	if r := post("/sandbox/friends", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Sec-Fetch-Site": "same-origin"}); r.status != 303 || r.header.Get("Location") != "friends" {
		t.Errorf("form: %d %v", r.status, r.header)
	}
	if len(rc.got) != before+1 {
		t.Errorf("%d webhooks after the cross-site and form requests, want %d", len(rc.got), before+1)
	}

	// The receiver down: the friend still acted; the answer says the delivery failed.
	s.UseWebhooks(Webhooks{BaseURL: "http://127.0.0.1:1", Accounts: map[int]WebhookAccount{1: {Label: "account 1", ChannelSecret: "secret-1"}}})
	if r := post("/sandbox/friends", `{"account":1,"action":"unfollow","userId":"`+user+`"}`, nil); r.status != http.StatusBadGateway || r.body["status"] != float64(0) {
		t.Errorf("receiver down: %d %s", r.status, r.raw)
	}
	if fs := s.Friends(); len(fs) != 1 || fs[0].Following {
		t.Errorf("friends after a failed delivery: %+v", fs)
	}
}

func TestFriendsPageEscapes(t *testing.T) {
	s, _ := newFriendsBox(t)
	ctx := context.Background()
	rec, err := s.Act(ctx, FriendAction{Account: 1, Action: "follow", DisplayName: `<script>alert("name")</script>`})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Act(ctx, FriendAction{Account: 1, Action: "message", UserID: rec.UserID, Text: `<img src=x onerror=alert(1)>`}); err != nil {
		t.Fatal(err)
	}
	r := do(t, s, "GET", "/sandbox/friends", "", "-", "")
	if r.status != 200 || strings.Contains(r.raw, "<script>alert") || strings.Contains(r.raw, "<img src=x") ||
		!strings.Contains(r.raw, "&lt;script&gt;") || !strings.Contains(r.raw, "友だち") || !strings.Contains(r.raw, rec.WebhookEventID) {
		t.Errorf("page: %d\n%s", r.status, r.raw)
	}
	r = do(t, s, "GET", "/sandbox/friends?format=json", "", "-", "")
	if r.status != 200 || r.body["friends"] == nil || r.body["events"] == nil {
		t.Errorf("json: %d %s", r.status, r.raw)
	}
}

func TestULID(t *testing.T) {
	at := time.UnixMilli(1767225600123)
	a, b := newULID(at), newULID(at)
	if !ulidRE.MatchString(a) || a == b {
		t.Fatalf("%q, %q", a, b)
	}
	// The first 10 characters are the milliseconds, most significant first.
	const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	var ms int64
	for _, c := range a[:10] {
		ms = ms<<5 | int64(strings.IndexRune(alphabet, c))
	}
	if ms != at.UnixMilli() {
		t.Errorf("time part %d, want %d", ms, at.UnixMilli())
	}
}
