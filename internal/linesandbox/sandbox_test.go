package linesandbox

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
)

const (
	user1 = "U0123456789abcdef0123456789abcdef"
	user2 = "Ufedcba9876543210fedcba9876543210"
	tok   = "token-a"
)

type resp struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do calls the handler directly; retryKey "-" means no header.
func do(t testing.TB, s *Server, method, path, token, retryKey, body string) resp {
	t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if retryKey != "-" {
		r.Header["X-Line-Retry-Key"] = []string{retryKey}
	}
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	out := resp{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		_ = json.Unmarshal(w.Body.Bytes(), &out.body)
	}
	return out
}

func pushBody(to string, texts ...string) string {
	msgs := make([]string, len(texts))
	for i, t := range texts {
		b, _ := json.Marshal(t)
		msgs[i] = `{"type":"text","text":` + string(b) + `}`
	}
	return `{"to":"` + to + `","messages":[` + strings.Join(msgs, ",") + `],"notificationDisabled":false,"customAggregationUnits":null}`
}

func push(t testing.TB, s *Server, key string, to string, texts ...string) resp {
	t.Helper()
	return do(t, s, "POST", "/v2/bot/message/push", tok, key, pushBody(to, texts...))
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func newTest(o Options) (*Server, *fakeClock) {
	s := New(o)
	c := &fakeClock{t: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	s.now = c.now
	return s, c
}

func TestAuth(t *testing.T) {
	s := New(Options{Tokens: map[string]string{"good": "acct1"}})
	tests := []struct {
		name, header string
		want         int
	}{
		{"missing", "", 401},
		{"wrong scheme", "Basic good", 401},
		{"unknown token", "Bearer bad", 401},
		{"empty bearer", "Bearer ", 401},
		{"good", "Bearer good", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v2/bot/message/push", strings.NewReader(pushBody(user1, "hi")))
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			if tc.want == 401 && !strings.Contains(w.Body.String(), `"message":"Authentication failed`) {
				t.Errorf("body %s", w.Body)
			}
			if _, err := uuid.Parse(w.Header().Get("X-Line-Request-Id")); err != nil {
				t.Errorf("x-line-request-id %q is not a UUID", w.Header().Get("X-Line-Request-Id"))
			}
		})
	}
	if d := s.Deliveries(); len(d) != 1 || d[0].Account != "acct1" {
		t.Errorf("deliveries = %+v", d)
	}

	any := New(Options{})
	if r := do(t, any, "POST", "/v2/bot/message/push", "whatever", "-", pushBody(user1, "x")); r.status != 200 {
		t.Errorf("empty token map should accept any token, got %d", r.status)
	}
	if r := do(t, any, "POST", "/v2/bot/message/push", "", "-", pushBody(user1, "x")); r.status != 401 {
		t.Errorf("no token should be 401, got %d", r.status)
	}
	if d := any.Deliveries(); d[0].Account != "default" {
		t.Errorf("account = %q", d[0].Account)
	}
}

func TestValidation(t *testing.T) {
	long := strings.Repeat("a", 5000)
	emoji := strings.Repeat("😀", 2500)
	many := make([]string, 501)
	for i := range many {
		many[i] = `"` + user1 + `"`
	}
	tests := []struct {
		name, path, body string
		want             int
		property         string
	}{
		{"ok", "push", pushBody(user1, "hi"), 200, ""},
		{"ok 5 messages", "push", pushBody(user1, "1", "2", "3", "4", "5"), 200, ""},
		{"ok text at limit", "push", pushBody(user1, long), 200, ""},
		{"ok emoji at limit", "push", pushBody(user1, emoji), 200, ""},
		{"ok unit", "push", `{"to":"` + user1 + `","messages":[{"type":"text","text":"x"}],"customAggregationUnits":["promo_1"]}`, 200, ""},
		{"ok empty units", "push", `{"to":"` + user1 + `","messages":[{"type":"text","text":"x"}],"customAggregationUnits":[]}`, 200, ""},
		{"ok units omitted", "push", `{"to":"` + user1 + `","messages":[{"type":"sticker","packageId":"1","stickerId":"2"}]}`, 200, ""},
		{"bad to", "push", pushBody("U123", "hi"), 400, "to"},
		{"uppercase to", "push", pushBody(strings.ToUpper(user1), "hi"), 400, "to"},
		{"no messages", "push", `{"to":"` + user1 + `","messages":[]}`, 400, "messages"},
		{"6 messages", "push", pushBody(user1, "1", "2", "3", "4", "5", "6"), 400, "messages"},
		{"text too long", "push", pushBody(user1, long+"a"), 400, "messages[0].text"},
		{"emoji too long", "push", pushBody(user1, emoji+"a"), 400, "messages[0].text"},
		{"empty text", "push", pushBody(user1, ""), 400, "messages[0].text"},
		{"no type", "push", `{"to":"` + user1 + `","messages":[{"text":"x"}]}`, 400, "messages[0].type"},
		{"unknown type", "push", `{"to":"` + user1 + `","messages":[{"type":"nope"}]}`, 400, "messages[0].type"},
		{"two units", "push", `{"to":"` + user1 + `","messages":[{"type":"text","text":"x"}],"customAggregationUnits":["a","b"]}`, 400, "customAggregationUnits"},
		{"empty unit", "push", `{"to":"` + user1 + `","messages":[{"type":"text","text":"x"}],"customAggregationUnits":[""]}`, 400, "customAggregationUnits[0]"},
		{"bad unit", "push", `{"to":"` + user1 + `","messages":[{"type":"text","text":"x"}],"customAggregationUnits":["a-b"]}`, 400, "customAggregationUnits[0]"},
		{"long unit", "push", `{"to":"` + user1 + `","messages":[{"type":"text","text":"x"}],"customAggregationUnits":["` + strings.Repeat("a", 31) + `"]}`, 400, "customAggregationUnits[0]"},
		{"not json", "push", `{`, 400, ""},
		{"multicast ok", "multicast", `{"to":["` + user1 + `","` + user2 + `"],"messages":[{"type":"text","text":"x"}]}`, 200, ""},
		{"multicast 501", "multicast", `{"to":[` + strings.Join(many, ",") + `],"messages":[{"type":"text","text":"x"}]}`, 400, "to"},
		{"multicast 500", "multicast", `{"to":[` + strings.Join(many[:500], ",") + `],"messages":[{"type":"text","text":"x"}]}`, 200, ""},
		{"multicast empty", "multicast", `{"to":[],"messages":[{"type":"text","text":"x"}]}`, 400, "to"},
		{"multicast bad id", "multicast", `{"to":["` + user1 + `","nope"],"messages":[{"type":"text","text":"x"}]}`, 400, "to[1]"},
		{"multicast string to", "multicast", pushBody(user1, "x"), 400, "to"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			r := do(t, s, "POST", "/v2/bot/message/"+tc.path, tok, uuid.NewString(), tc.body)
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.want != 200 {
				if s.DeliveryCount() != 0 {
					t.Errorf("rejected request was delivered")
				}
				if tc.property == "" {
					return
				}
				if !strings.HasPrefix(r.body["message"].(string), "The request body has ") {
					t.Errorf("message = %v", r.body["message"])
				}
				details, _ := r.body["details"].([]any)
				found := false
				for _, d := range details {
					if d.(map[string]any)["property"] == tc.property {
						found = true
					}
				}
				if !found {
					t.Errorf("no detail for %q in %s", tc.property, r.raw)
				}
				return
			}
			if s.DeliveryCount() != 1 {
				t.Errorf("DeliveryCount = %d", s.DeliveryCount())
			}
		})
	}
}

func TestRetryKeyHeader(t *testing.T) {
	tests := []struct {
		name, key string
		want      int
	}{
		{"absent", "-", 200},
		{"uuid", uuid.NewString(), 200},
		{"empty", "", 400},
		{"not uuid", "abc", 400},
		{"uuid without dashes", strings.ReplaceAll(uuid.NewString(), "-", ""), 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := New(Options{})
			r := push(t, s, tc.key, user1, "hi")
			if r.status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.status, tc.want, r.raw)
			}
			if tc.want == 400 && s.DeliveryCount() != 0 {
				t.Error("delivered despite bad retry key")
			}
		})
	}
}

func TestDuplicateRetryKey(t *testing.T) {
	s, clock := newTest(Options{})
	key := uuid.NewString()
	first := push(t, s, key, user1, "one", "two")
	if first.status != 200 {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	sent := first.body["sentMessages"].([]any)
	if len(sent) != 2 {
		t.Fatalf("sentMessages %v", sent)
	}
	id := sent[0].(map[string]any)["id"].(string)
	if strings.Trim(id, "0123456789") != "" || id == "" {
		t.Errorf("message id %q is not digits", id)
	}

	clock.t = clock.t.Add(23 * time.Hour)
	dup := push(t, s, key, user1, "one", "two")
	if dup.status != 409 {
		t.Fatalf("dup: %d %s", dup.status, dup.raw)
	}
	if dup.body["message"] != "The retry key is already accepted" {
		t.Errorf("message %v", dup.body["message"])
	}
	if got, want := dup.header.Get("X-Line-Accepted-Request-Id"), first.header.Get("X-Line-Request-Id"); got != want || got == "" {
		t.Errorf("accepted id %q, want %q", got, want)
	}
	if dup.header.Get("X-Line-Request-Id") == first.header.Get("X-Line-Request-Id") {
		t.Error("409 must carry its own request id")
	}
	if fmt.Sprint(dup.body["sentMessages"]) != fmt.Sprint(first.body["sentMessages"]) {
		t.Errorf("409 sentMessages %v, want %v", dup.body["sentMessages"], first.body["sentMessages"])
	}
	if s.DeliveryCount() != 1 || s.DeliveredTo(user1) != 2 || s.Duplicates() != 1 {
		t.Errorf("count=%d to=%d dups=%d", s.DeliveryCount(), s.DeliveredTo(user1), s.Duplicates())
	}

	// Retry keys are per channel (token).
	if r := do(t, s, "POST", "/v2/bot/message/push", "other-token", key, pushBody(user1, "x")); r.status != 200 {
		t.Errorf("other token, same key: %d", r.status)
	}

	// After 24 h the key may be reused.
	clock.t = clock.t.Add(2 * time.Hour)
	if r := push(t, s, key, user1, "again"); r.status != 200 {
		t.Errorf("after 24h: %d %s", r.status, r.raw)
	}

	// Multicast duplicate.
	mkey := uuid.NewString()
	mbody := `{"to":["` + user1 + `","` + user2 + `"],"messages":[{"type":"text","text":"x"}]}`
	m1 := do(t, s, "POST", "/v2/bot/message/multicast", tok, mkey, mbody)
	m2 := do(t, s, "POST", "/v2/bot/message/multicast", tok, mkey, mbody)
	if m1.status != 200 || m1.raw != "{}" || m2.status != 409 {
		t.Fatalf("multicast: %d %s / %d %s", m1.status, m1.raw, m2.status, m2.raw)
	}
	if m2.header.Get("X-Line-Accepted-Request-Id") != m1.header.Get("X-Line-Request-Id") {
		t.Error("multicast accepted id mismatch")
	}
}

func TestRateLimit(t *testing.T) {
	s, clock := newTest(Options{PushRate: 3, MulticastRate: 1})
	t0 := clock.t
	for i := 0; i < 3; i++ {
		clock.t = t0.Add(time.Duration(i) * 100 * time.Millisecond)
		if r := push(t, s, "-", user1, "x"); r.status != 200 {
			t.Fatalf("push %d: %d", i, r.status)
		}
	}
	key := uuid.NewString()
	r := push(t, s, key, user1, "x")
	if r.status != 429 || r.body["message"] != "Too Many Requests" {
		t.Fatalf("4th push: %d %s", r.status, r.raw)
	}
	// Multicast has its own limit.
	mbody := `{"to":["` + user1 + `"],"messages":[{"type":"text","text":"x"}]}`
	if r := do(t, s, "POST", "/v2/bot/message/multicast", tok, "-", mbody); r.status != 200 {
		t.Fatalf("multicast: %d", r.status)
	}
	if r := do(t, s, "POST", "/v2/bot/message/multicast", tok, "-", mbody); r.status != 429 {
		t.Fatalf("2nd multicast: %d", r.status)
	}
	// Another token has its own limit.
	if r := do(t, s, "POST", "/v2/bot/message/push", "other", "-", pushBody(user1, "x")); r.status != 200 {
		t.Fatalf("other token: %d", r.status)
	}
	// Nothing frees up until the oldest acceptance is a full second old
	// (a token bucket would have refilled most of the rate by now).
	clock.t = t0.Add(999 * time.Millisecond)
	if r := push(t, s, key, user1, "x"); r.status != 429 {
		t.Fatalf("at 999ms: %d %s", r.status, r.raw)
	}
	// At 1 s the first acceptance leaves the window; the rate-limited
	// requests did not consume their retry key.
	clock.t = t0.Add(time.Second)
	if r := push(t, s, key, user1, "x"); r.status != 200 {
		t.Fatalf("at 1s: %d %s", r.status, r.raw)
	}
	if r := push(t, s, "-", user1, "x"); r.status != 429 {
		t.Fatalf("window should be full again: %d", r.status)
	}
	clock.t = t0.Add(1100 * time.Millisecond)
	if r := push(t, s, "-", user1, "x"); r.status != 200 {
		t.Fatalf("at 1.1s: %d", r.status)
	}
	// After idling, at most rate requests go through at once.
	clock.t = clock.t.Add(time.Hour)
	ok := 0
	for i := 0; i < 10; i++ {
		if push(t, s, "-", user1, "x").status == 200 {
			ok++
		}
	}
	if ok != 3 {
		t.Errorf("burst after idle = %d, want 3", ok)
	}
	if s.RateLimited() != 1+1+1+1+7 {
		t.Errorf("RateLimited = %d", s.RateLimited())
	}
	if s.DeliveryCount() != 3+1+1+1+1+3 {
		t.Errorf("DeliveryCount = %d", s.DeliveryCount())
	}

	unlimited := New(Options{PushRate: -1})
	for i := 0; i < 5000; i++ {
		if r := push(t, unlimited, "-", user1, "x"); r.status != 200 {
			t.Fatalf("unlimited push %d: %d", i, r.status)
		}
	}
}

// TestRateLimitTrailingWindow fires requests as fast as a client could (often
// several at the same instant) for 1.2 s and checks LINE's rule exactly: a
// request is accepted if and only if fewer than rate requests were accepted
// in the second before it. A token bucket starting full fails this (about
// 2x the rate gets through in the first second).
func TestRateLimitTrailingWindow(t *testing.T) {
	for _, rate := range []int{1, 50, 200} {
		t.Run(fmt.Sprint(rate), func(t *testing.T) {
			s, clock := newTest(Options{PushRate: rate})
			t0 := clock.t
			rng := rand.New(rand.NewPCG(1, uint64(rate)))
			var accepted []time.Time
			requests := 0
			for clock.t.Sub(t0) < 1200*time.Millisecond {
				requests++
				// Within the last second, strictly after now-1s.
				inWindow := 0
				for i := len(accepted) - 1; i >= 0 && clock.t.Sub(accepted[i]) < time.Second; i-- {
					inWindow++
				}
				got := push(t, s, "-", user1, "x").status
				switch {
				case got == 200 && inWindow >= rate:
					t.Fatalf("at %v: accepted with %d already accepted in the trailing second", clock.t.Sub(t0), inWindow)
				case got == 429 && inWindow < rate:
					t.Fatalf("at %v: refused with only %d accepted in the trailing second", clock.t.Sub(t0), inWindow)
				case got != 200 && got != 429:
					t.Fatalf("status %d", got)
				case got == 200:
					accepted = append(accepted, clock.t)
				}
				// 0-2 ms between requests, 0 a third of the time.
				clock.t = clock.t.Add(time.Duration(rng.IntN(3)) * time.Millisecond)
			}
			// No trailing 1-second window holds more than rate acceptances.
			for i := 0; i+rate < len(accepted); i++ {
				if d := accepted[i+rate].Sub(accepted[i]); d < time.Second {
					t.Fatalf("%d acceptances within %v", rate+1, d)
				}
			}
			if len(accepted) <= rate || s.DeliveryCount() != len(accepted) || s.RateLimited() != requests-len(accepted) {
				t.Errorf("accepted %d of %d (DeliveryCount %d, RateLimited %d)", len(accepted), requests, s.DeliveryCount(), s.RateLimited())
			}
		})
	}
}

func TestMonthlyLimitAndQuota(t *testing.T) {
	s := New(Options{MonthlyLimit: 5})
	q := do(t, s, "GET", "/v2/bot/message/quota", tok, "-", "")
	if q.status != 200 || q.body["type"] != "limited" || q.body["value"] != float64(5) {
		t.Fatalf("quota: %d %s", q.status, q.raw)
	}
	if r := push(t, s, "-", user1, "a", "b"); r.status != 200 {
		t.Fatal(r.status)
	}
	mbody := `{"to":["` + user1 + `","` + user2 + `"],"messages":[{"type":"text","text":"x"}]}`
	if r := do(t, s, "POST", "/v2/bot/message/multicast", tok, "-", mbody); r.status != 200 {
		t.Fatal(r.status)
	}
	c := do(t, s, "GET", "/v2/bot/message/quota/consumption", tok, "-", "")
	if c.body["totalUsage"] != float64(4) {
		t.Fatalf("consumption: %s", c.raw)
	}
	key := uuid.NewString()
	r := push(t, s, key, user1, "a", "b") // 4+2 > 5
	if r.status != 429 || r.body["message"] != "You have reached your monthly limit." {
		t.Fatalf("over limit: %d %s", r.status, r.raw)
	}
	if r := push(t, s, key, user1, "a"); r.status != 200 { // exactly 5, same key still unused
		t.Fatalf("at limit: %d %s", r.status, r.raw)
	}
	if s.RateLimited() != 1 || s.DeliveryCount() != 3 {
		t.Errorf("RateLimited=%d DeliveryCount=%d", s.RateLimited(), s.DeliveryCount())
	}
	if r := do(t, s, "GET", "/v2/bot/message/quota", "", "-", ""); r.status != 401 {
		t.Errorf("quota without auth: %d", r.status)
	}

	u := New(Options{})
	if q := do(t, u, "GET", "/v2/bot/message/quota", tok, "-", ""); q.raw != `{"type":"none"}` {
		t.Errorf("unlimited quota: %s", q.raw)
	}
	u.SetMonthlyLimitReached(true)
	if r := push(t, u, "-", user1, "x"); r.status != 429 || r.body["message"] != "You have reached your monthly limit." {
		t.Errorf("forced monthly: %d %s", r.status, r.raw)
	}
	u.SetMonthlyLimitReached(false)
	if r := push(t, u, "-", user1, "x"); r.status != 200 {
		t.Errorf("after reset: %d", r.status)
	}
}

func TestFailNext(t *testing.T) {
	tests := []struct {
		status  int
		message string
	}{
		{500, "An error occurred in the server"},
		{503, "An error occurred in the server"},
		{429, "Too Many Requests"},
		{401, "Authentication failed"},
		{403, "Forbidden"},
		{400, "Bad Request"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			s := New(Options{})
			s.FailNext(tc.status, 2)
			key := uuid.NewString()
			for i := 0; i < 2; i++ {
				r := push(t, s, key, user1, "x")
				if r.status != tc.status {
					t.Fatalf("req %d: %d", i, r.status)
				}
				if msg, _ := r.body["message"].(string); !strings.HasPrefix(msg, tc.message) {
					t.Errorf("message %q", msg)
				}
				if r.header.Get("X-Line-Request-Id") == "" {
					t.Error("no request id")
				}
			}
			if r := push(t, s, key, user1, "x"); r.status != 200 {
				t.Fatalf("third: %d", r.status)
			}
			if s.DeliveryCount() != 1 || s.Requests() != 3 {
				t.Errorf("DeliveryCount=%d Requests=%d", s.DeliveryCount(), s.Requests())
			}
		})
	}
}

func TestRecords(t *testing.T) {
	s := New(Options{MaxRecords: 4})
	push(t, s, uuid.NewString(), user1, "a", "b")
	do(t, s, "POST", "/v2/bot/message/multicast", tok, "-",
		`{"to":["`+user1+`","`+user2+`"],"messages":[{"type":"text","text":"m"}],"notificationDisabled":true,"customAggregationUnits":["unit_1"]}`)
	ds := s.Deliveries()
	if len(ds) != 2 {
		t.Fatalf("deliveries %d", len(ds))
	}
	if ds[0].Multicast || ds[0].To != user1 || len(ds[0].Messages) != 2 || ds[0].RetryKey == "" || ds[0].RequestID == "" || ds[0].Account != "default" {
		t.Errorf("push delivery %+v", ds[0])
	}
	if !ds[1].Multicast || ds[1].To != user1+","+user2 || fmt.Sprint(ds[1].AggregationUnits) != "[unit_1]" {
		t.Errorf("multicast delivery %+v", ds[1])
	}
	if string(ds[1].Messages[0]) != `{"type":"text","text":"m"}` {
		t.Errorf("message %s", ds[1].Messages[0])
	}
	// Copies: mutating them must not affect the server.
	ds[0].Messages[0][0] = 'X'
	ds[0].To = "changed"
	if again := s.Deliveries(); again[0].To != user1 || again[0].Messages[0][0] != '{' {
		t.Error("Deliveries did not return copies")
	}
	if s.DeliveredTo(user1) != 3 || s.DeliveredTo(user2) != 1 || s.DeliveredTo("Unobody") != 0 {
		t.Errorf("DeliveredTo %d %d", s.DeliveredTo(user1), s.DeliveredTo(user2))
	}
	// Records are bounded, counters are not.
	for i := 0; i < 10; i++ {
		push(t, s, "-", user2, fmt.Sprint(i))
	}
	if n := len(s.Deliveries()); n > 4 || n == 0 {
		t.Errorf("stored %d deliveries, cap 4", n)
	}
	if s.DeliveryCount() != 12 || s.DeliveredTo(user2) != 11 || s.Requests() != 12 {
		t.Errorf("DeliveryCount=%d DeliveredTo=%d Requests=%d", s.DeliveryCount(), s.DeliveredTo(user2), s.Requests())
	}
	last := s.Deliveries()
	if string(last[len(last)-1].Messages[0]) != `{"type":"text","text":"9"}` {
		t.Errorf("newest kept record %s", last[len(last)-1].Messages[0])
	}
}

func TestSandboxPages(t *testing.T) {
	s := New(Options{})
	for i := 0; i < 205; i++ {
		push(t, s, "-", user1, fmt.Sprintf("msg %d", i))
	}
	push(t, s, "-", user1, `<script>alert("x")</script> & done`)
	do(t, s, "POST", "/v2/bot/message/push", tok, "-",
		`{"to":"`+user1+`","messages":[{"type":"sticker","packageId":"<b>1</b>","stickerId":"2"}]}`)

	r := do(t, s, "GET", "/sandbox/messages", "", "-", "")
	if r.status != 200 {
		t.Fatal(r.status)
	}
	var list []Delivery
	if err := json.Unmarshal([]byte(r.raw), &list); err != nil {
		t.Fatal(err)
	}
	if len(list) != 200 {
		t.Errorf("listed %d, want 200", len(list))
	}
	if !strings.Contains(string(list[0].Messages[0]), "sticker") || !strings.Contains(string(list[1].Messages[0]), "script") {
		t.Errorf("not newest first: %s / %s", list[0].Messages[0], list[1].Messages[0])
	}

	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/sandbox", nil))
	page := w.Body.String()
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("page: %d %s", w.Code, w.Header().Get("Content-Type"))
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, "<b>1</b>") {
		t.Error("page does not escape message content")
	}
	if !strings.Contains(page, "&lt;script&gt;") || !strings.Contains(page, "msg 204") || strings.Contains(page, "msg 4<") {
		t.Error("page content unexpected")
	}
	if want := fmt.Sprintf("%d request(s) answered 409", s.Duplicates()); !strings.Contains(page, want) {
		t.Errorf("page does not say %q", want)
	}
}

func TestNotFoundAndMethod(t *testing.T) {
	s := New(Options{})
	if r := do(t, s, "POST", "/v2/bot/message/reply", tok, "-", "{}"); r.status != 404 || r.header.Get("X-Line-Request-Id") == "" {
		t.Errorf("unknown path: %d", r.status)
	}
	if r := do(t, s, "GET", "/v2/bot/message/push", tok, "-", ""); r.status != 405 {
		t.Errorf("GET push: %d", r.status)
	}
}

func TestBodyTooLarge(t *testing.T) {
	s := New(Options{})
	big := `{"to":"` + user1 + `","messages":[{"type":"text","text":"` + strings.Repeat("a", 2<<20) + `"}]}`
	if r := do(t, s, "POST", "/v2/bot/message/push", tok, "-", big); r.status != 413 {
		t.Errorf("status %d", r.status)
	}
}

func TestConcurrent(t *testing.T) {
	s := New(Options{PushRate: -1})
	srv := httptest.NewServer(s)
	defer srv.Close()
	const workers, each = 20, 25
	key := uuid.NewString() // shared: exactly one request may win it
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				k := uuid.NewString()
				if i == 0 {
					k = key
				}
				req, _ := http.NewRequest("POST", srv.URL+"/v2/bot/message/push", strings.NewReader(pushBody(user1, "x")))
				req.Header.Set("Authorization", "Bearer t")
				req.Header.Set("X-Line-Retry-Key", k)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				mu.Lock()
				codes[res.StatusCode]++
				mu.Unlock()
			}
		}()
	}
	// Readers run alongside writers.
	for i := 0; i < 20; i++ {
		_ = s.Deliveries()
		_ = s.DeliveryCount()
		s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/sandbox", nil))
	}
	wg.Wait()
	total := workers * each
	if codes[409] != workers-1 || codes[200] != total-(workers-1) {
		t.Errorf("codes %v", codes)
	}
	if s.DeliveryCount() != total-(workers-1) || s.Duplicates() != workers-1 || s.Requests() != total {
		t.Errorf("DeliveryCount=%d Duplicates=%d Requests=%d", s.DeliveryCount(), s.Duplicates(), s.Requests())
	}
}

func BenchmarkPush(b *testing.B) {
	s := New(Options{PushRate: -1})
	body := pushBody(user1, "Hello Aiko, your order has shipped.")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := httptest.NewRequest("POST", "/v2/bot/message/push", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer t")
			r.Header.Set("X-Line-Retry-Key", uuid.NewString())
			w := httptest.NewRecorder()
			s.ServeHTTP(w, r)
			if w.Code != 200 {
				b.Fatal(w.Code)
			}
		}
	})
}
