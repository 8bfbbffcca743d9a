package line

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/hubline/hubline/internal/linesandbox"
)

const (
	userA = "U0123456789abcdef0123456789abcdef"
	userB = "Ufedcba9876543210fedcba9876543210"
)

func msgs(raw ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(raw))
	for i, r := range raw {
		out[i] = json.RawMessage(r)
	}
	return out
}

type captured struct {
	method, path string
	header       http.Header
	body         []byte
}

// recorder answers with a fixed status, headers and body, and records requests.
func recorder(t *testing.T, status int, headers map[string]string, body string) (*httptest.Server, *[]captured, *sync.Mutex) {
	t.Helper()
	var mu sync.Mutex
	var reqs []captured
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, captured{r.Method, r.URL.Path, r.Header.Clone(), b})
		mu.Unlock()
		for k, v := range headers {
			w.Header().Set(k, v)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &reqs, &mu
}

func newTestClient(t *testing.T, url string) *Client {
	t.Helper()
	c, err := NewClient(url, "test-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPushWireFormat(t *testing.T) {
	srv, reqs, _ := recorder(t, 200, map[string]string{"X-Line-Request-Id": "req-1"},
		`{"sentMessages":[{"id":"111","quoteToken":"q1"},{"id":"222"}]}`)
	c := newTestClient(t, srv.URL)
	flex := `{"type":"flex","altText":"a","contents":{"type":"bubble","body":{"type":"box","layout":"vertical","contents":[{"type":"text","text":"x","wrap":true}]},"styles":{}},"quickReply":{"items":[]},"unknownField":{"kept":1.50}}`
	text := `{"type":"text","text":"こんにちは \"Aiko\"\n"}`
	key := uuid.NewString()
	res, err := c.Push(context.Background(), PushRequest{
		To: userA, Messages: msgs(text, flex), NotificationDisabled: true, RetryKey: key,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.RequestID != "req-1" || res.AcceptedRequestID != "req-1" || res.Duplicate || fmt.Sprint(res.SentMessageIDs) != "[111 222]" {
		t.Errorf("result %+v", res)
	}
	if len(*reqs) != 1 {
		t.Fatalf("%d requests", len(*reqs))
	}
	r := (*reqs)[0]
	if r.method != "POST" || r.path != "/v2/bot/message/push" {
		t.Errorf("%s %s", r.method, r.path)
	}
	if r.header.Get("Authorization") != "Bearer test-token" || r.header.Get("X-Line-Retry-Key") != key ||
		!strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", r.header)
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	var sent []json.RawMessage
	_ = json.Unmarshal(body["messages"], &sent)
	if len(sent) != 2 || string(sent[0]) != text || string(sent[1]) != flex {
		t.Errorf("messages not sent verbatim:\n%s", body["messages"])
	}
	if string(body["to"]) != `"`+userA+`"` || string(body["notificationDisabled"]) != "true" {
		t.Errorf("body %s", r.body)
	}
	// No unit: the SDK sends null (as for every SDK user), never [""].
	if u, ok := body["customAggregationUnits"]; ok && string(u) != "null" {
		t.Errorf("customAggregationUnits = %s", u)
	}
}

func TestPushAggregationUnitAndHTML(t *testing.T) {
	srv, reqs, _ := recorder(t, 200, nil, `{"sentMessages":[{"id":"1"}]}`)
	c := newTestClient(t, srv.URL)
	html := `{"type":"text","text":"<b>&</b>"}`
	if _, err := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(html), AggregationUnit: "promo_1", RetryKey: uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
	var body struct {
		Messages               []map[string]any `json:"messages"`
		CustomAggregationUnits []string         `json:"customAggregationUnits"`
		NotificationDisabled   *bool            `json:"notificationDisabled"`
	}
	if err := json.Unmarshal((*reqs)[0].body, &body); err != nil {
		t.Fatal(err)
	}
	// The SDK's encoder escapes HTML as \u003c; the JSON value is identical.
	if body.Messages[0]["text"] != "<b>&</b>" {
		t.Errorf("text %v", body.Messages[0]["text"])
	}
	if fmt.Sprint(body.CustomAggregationUnits) != "[promo_1]" || body.NotificationDisabled == nil || *body.NotificationDisabled {
		t.Errorf("body %s", (*reqs)[0].body)
	}
}

func TestPushDuplicate(t *testing.T) {
	srv, _, _ := recorder(t, 409, map[string]string{"X-Line-Request-Id": "req-2", "X-Line-Accepted-Request-Id": "req-1"},
		`{"message":"The retry key is already accepted","sentMessages":[{"id":"111","quoteToken":"q"}]}`)
	c := newTestClient(t, srv.URL)
	res, err := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Duplicate || res.RequestID != "req-2" || res.AcceptedRequestID != "req-1" || fmt.Sprint(res.SentMessageIDs) != "[111]" {
		t.Errorf("result %+v", res)
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		status int
		body   string
		kind   ErrorKind
	}{
		{500, `{"message":"An error occurred in the server"}`, KindRetryable},
		{502, `<html>bad gateway</html>`, KindRetryable},
		{503, ``, KindRetryable},
		{429, `{"message":"Too Many Requests"}`, KindRateLimited},
		{429, `{"message":"You have reached your monthly limit."}`, KindMonthlyLimit},
		{400, `{"message":"The request body has 1 error(s)","details":[{"message":"Length must be between 0 and 5000","property":"messages[0].text"}]}`, KindInvalid},
		{404, `{"message":"Not found"}`, KindInvalid},
		{413, `{"message":"Request Entity Too Large"}`, KindInvalid},
		{409, `{"message":"Conflict of another kind"}`, KindInvalid},
		{422, `{}`, KindInvalid},
		{401, `{"message":"Authentication failed"}`, KindAuth},
		{403, `{"message":"Forbidden"}`, KindAuth},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%d %s", tc.status, tc.kind), func(t *testing.T) {
			srv, _, _ := recorder(t, tc.status, map[string]string{"X-Line-Request-Id": "rid"}, tc.body)
			c := newTestClient(t, srv.URL)
			for _, call := range []func() error{
				func() error {
					_, err := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()})
					return err
				},
				func() error {
					_, err := c.Multicast(context.Background(), MulticastRequest{To: []string{userA, userB}, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()})
					return err
				},
			} {
				err := call()
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("err %v is not *APIError", err)
				}
				if ae.StatusCode != tc.status || ae.Kind != tc.kind || ae.RequestID != "rid" {
					t.Errorf("got %+v", ae)
				}
				if ae.Message == "" {
					t.Error("empty message")
				}
				if tc.status == 400 && (len(ae.Details) != 1 || ae.Details[0].Property != "messages[0].text") {
					t.Errorf("details %+v", ae.Details)
				}
				if ae.Retryable() != (tc.kind == KindRetryable || tc.kind == KindRateLimited) {
					t.Error("Retryable mismatch")
				}
			}
		})
	}
}

func TestErrorTextHasNoContent(t *testing.T) {
	secret := "SECRET-MESSAGE-TEXT"
	srv, _, _ := recorder(t, 400, nil, `{"message":"The request body has 1 error(s)","echo":"`+secret+`","details":[{"message":"bad","property":"messages[0].text"}]}`)
	c := newTestClient(t, srv.URL)
	_, err := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"` + secret + `"}`), RetryKey: uuid.NewString()})
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "test-token") || strings.Contains(err.Error(), userA) {
		t.Errorf("error text: %v", err)
	}
	if !strings.Contains(err.Error(), "messages[0].text") || !strings.Contains(err.Error(), "400") {
		t.Errorf("error text lacks status/property: %v", err)
	}
}

func TestRefusedBeforeSending(t *testing.T) {
	srv, reqs, _ := recorder(t, 200, nil, `{"sentMessages":[]}`)
	c := newTestClient(t, srv.URL)
	ok := msgs(`{"type":"text","text":"x"}`)
	six := msgs(`{"type":"text","text":"1"}`, `{"type":"text","text":"2"}`, `{"type":"text","text":"3"}`,
		`{"type":"text","text":"4"}`, `{"type":"text","text":"5"}`, `{"type":"text","text":"6"}`)
	many := make([]string, 501)
	for i := range many {
		many[i] = userA
	}
	key := uuid.NewString()
	tests := []struct {
		name string
		call func() error
	}{
		{"empty retry key", func() error { _, e := c.Push(context.Background(), PushRequest{To: userA, Messages: ok}); return e }},
		{"bad retry key", func() error {
			_, e := c.Push(context.Background(), PushRequest{To: userA, Messages: ok, RetryKey: "nope"})
			return e
		}},
		{"bad user", func() error {
			_, e := c.Push(context.Background(), PushRequest{To: "U1", Messages: ok, RetryKey: key})
			return e
		}},
		{"no messages", func() error { _, e := c.Push(context.Background(), PushRequest{To: userA, RetryKey: key}); return e }},
		{"six messages", func() error {
			_, e := c.Push(context.Background(), PushRequest{To: userA, Messages: six, RetryKey: key})
			return e
		}},
		{"not an object", func() error {
			_, e := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`"hi"`), RetryKey: key})
			return e
		}},
		{"invalid json", func() error {
			_, e := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`{"type":`), RetryKey: key})
			return e
		}},
		{"bad unit", func() error {
			_, e := c.Push(context.Background(), PushRequest{To: userA, Messages: ok, RetryKey: key, AggregationUnit: "a b"})
			return e
		}},
		{"multicast empty key", func() error {
			_, e := c.Multicast(context.Background(), MulticastRequest{To: []string{userA}, Messages: ok})
			return e
		}},
		{"multicast 501", func() error {
			_, e := c.Multicast(context.Background(), MulticastRequest{To: many, Messages: ok, RetryKey: key})
			return e
		}},
		{"multicast none", func() error {
			_, e := c.Multicast(context.Background(), MulticastRequest{Messages: ok, RetryKey: key})
			return e
		}},
		{"multicast bad user", func() error {
			_, e := c.Multicast(context.Background(), MulticastRequest{To: []string{userA, "x"}, Messages: ok, RetryKey: key})
			return e
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var ae *APIError
			if !errors.As(err, &ae) || ae.Kind != KindInvalid || ae.StatusCode != 0 {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if len(*reqs) != 0 {
		t.Errorf("%d requests were sent", len(*reqs))
	}
	// 500 recipients is allowed.
	if _, err := c.Multicast(context.Background(), MulticastRequest{To: many[:500], Messages: ok, RetryKey: key}); err != nil {
		t.Errorf("500 recipients: %v", err)
	}
}

func TestTransportErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(200 * time.Millisecond)
	}))
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := c.Push(ctx, PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()})
	var ae *APIError
	if err == nil || errors.As(err, &ae) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("timeout err = %v", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	url := closed.URL
	closed.Close()
	c2 := newTestClient(t, url)
	_, err = c2.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()})
	if err == nil || errors.As(err, &ae) || strings.Contains(err.Error(), "test-token") {
		t.Errorf("connection refused err = %v", err)
	}
	// Wrapped, not flattened: the *url.Error is still reachable.
	if errors.Unwrap(err) == nil {
		t.Errorf("error not wrapped: %v", err)
	}
}

func TestNewClient(t *testing.T) {
	if _, err := NewClient("", "", nil); err == nil {
		t.Error("empty token accepted")
	}
	if _, err := NewClient("not a url", "t", nil); err == nil {
		t.Error("bad URL accepted")
	}
	c, err := NewClient("", "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.baseURL != DefaultBaseURL || c.hc.Timeout != 30*time.Second {
		t.Errorf("defaults: %s %v", c.baseURL, c.hc.Timeout)
	}
}

func TestErrorKindString(t *testing.T) {
	want := map[ErrorKind]string{KindRetryable: "retryable", KindRateLimited: "rate_limited", KindMonthlyLimit: "monthly_limit", KindInvalid: "invalid", KindAuth: "auth"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf("%d: %s", k, k.String())
		}
	}
}

// Against the sandbox: the same code path hubline dev and integration tests use.
func TestAgainstSandbox(t *testing.T) {
	sb := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"test-token": "acct"}, MulticastRate: 1})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	ctx := context.Background()
	m := msgs(`{"type":"text","text":"Hello <Aiko> & co"}`, `{"type":"sticker","packageId":"446","stickerId":"1988"}`)

	key := uuid.NewString()
	first, err := c.Push(ctx, PushRequest{To: userA, Messages: m, RetryKey: key, AggregationUnit: "unit_1"})
	if err != nil {
		t.Fatal(err)
	}
	if first.Duplicate || first.RequestID == "" || len(first.SentMessageIDs) != 2 {
		t.Errorf("first %+v", first)
	}
	dup, err := c.Push(ctx, PushRequest{To: userA, Messages: m, RetryKey: key})
	if err != nil {
		t.Fatal(err)
	}
	if !dup.Duplicate || dup.AcceptedRequestID != first.RequestID || dup.RequestID == first.RequestID ||
		fmt.Sprint(dup.SentMessageIDs) != fmt.Sprint(first.SentMessageIDs) {
		t.Errorf("dup %+v first %+v", dup, first)
	}
	ds := sb.Deliveries()
	if len(ds) != 1 || sb.DeliveredTo(userA) != 2 || sb.Duplicates() != 1 {
		t.Fatalf("deliveries %d, to %d, dups %d", len(ds), sb.DeliveredTo(userA), sb.Duplicates())
	}
	for i := range m {
		if !jsonEqual(t, ds[0].Messages[i], m[i]) {
			t.Errorf("delivered %s, sent %s", ds[0].Messages[i], m[i])
		}
	}
	if fmt.Sprint(ds[0].AggregationUnits) != "[unit_1]" || ds[0].RetryKey != key || ds[0].Account != "acct" {
		t.Errorf("delivery %+v", ds[0])
	}

	mres, err := c.Multicast(ctx, MulticastRequest{To: []string{userA, userB}, Messages: m[:1], RetryKey: uuid.NewString()})
	if err != nil || mres.RequestID == "" || mres.Duplicate {
		t.Fatalf("multicast %+v %v", mres, err)
	}
	_, err = c.Multicast(ctx, MulticastRequest{To: []string{userA}, Messages: m[:1], RetryKey: uuid.NewString()})
	if kindOf(err) != KindRateLimited {
		t.Errorf("multicast rate limit: %v", err)
	}

	for _, tc := range []struct {
		status int
		kind   ErrorKind
	}{{500, KindRetryable}, {429, KindRateLimited}, {401, KindAuth}, {403, KindAuth}, {400, KindInvalid}} {
		sb.FailNext(tc.status, 1)
		_, err := c.Push(ctx, PushRequest{To: userA, Messages: m, RetryKey: uuid.NewString()})
		if kindOf(err) != tc.kind {
			t.Errorf("FailNext(%d): %v", tc.status, err)
		}
	}
	sb.SetMonthlyLimitReached(true)
	_, err = c.Push(ctx, PushRequest{To: userA, Messages: m, RetryKey: uuid.NewString()})
	if kindOf(err) != KindMonthlyLimit {
		t.Errorf("monthly: %v", err)
	}
	sb.SetMonthlyLimitReached(false)

	bad, _ := NewClient(srv.URL, "wrong", nil)
	_, err = bad.Push(ctx, PushRequest{To: userA, Messages: m, RetryKey: uuid.NewString()})
	if kindOf(err) != KindAuth {
		t.Errorf("wrong token: %v", err)
	}
}

func TestConcurrentPush(t *testing.T) {
	sb := linesandbox.New(linesandbox.Options{PushRate: -1})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	c := newTestClient(t, srv.URL)
	const goroutines, each = 50, 10
	var wg sync.WaitGroup
	var failures, dups atomic.Int64
	shared := uuid.NewString()
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Distinct contexts per goroutine, one cancelled early: a shared
			// SDK client would leak contexts between calls.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			for i := 0; i < each; i++ {
				key := uuid.NewString()
				if i == 0 {
					key = shared
				}
				res, err := c.Push(ctx, PushRequest{To: userA, Messages: msgs(fmt.Sprintf(`{"type":"text","text":"g%d-%d"}`, g, i)), RetryKey: key})
				if err != nil {
					failures.Add(1)
					t.Error(err)
					continue
				}
				if res.Duplicate {
					dups.Add(1)
				}
			}
		}()
	}
	// A cancelled context in other goroutines must not affect these calls.
	for i := 0; i < 20; i++ {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := c.Push(ctx, PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()}); !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled ctx: %v", err)
		}
	}
	wg.Wait()
	total := goroutines * each
	if failures.Load() != 0 || dups.Load() != goroutines-1 {
		t.Errorf("failures %d dups %d", failures.Load(), dups.Load())
	}
	if got := sb.DeliveryCount(); got != total-(goroutines-1) {
		t.Errorf("deliveries %d, want %d", got, total-(goroutines-1))
	}
}

func kindOf(err error) ErrorKind {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.Kind
	}
	return -1
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func TestMulticastWireFormat(t *testing.T) {
	srv, reqs, _ := recorder(t, 200, map[string]string{"X-Line-Request-Id": "req-m"}, `{}`)
	c := newTestClient(t, srv.URL)
	key := uuid.NewString()
	text := `{"type":"text","text":"hi"}`
	res, err := c.Multicast(context.Background(), MulticastRequest{To: []string{userA, userB}, Messages: msgs(text), RetryKey: key, AggregationUnit: "u"})
	if err != nil {
		t.Fatal(err)
	}
	if res.RequestID != "req-m" || res.AcceptedRequestID != "req-m" || res.Duplicate {
		t.Errorf("result %+v", res)
	}
	r := (*reqs)[0]
	if r.path != "/v2/bot/message/multicast" || r.header.Get("X-Line-Retry-Key") != key {
		t.Errorf("%s %v", r.path, r.header)
	}
	var body map[string]json.RawMessage
	_ = json.Unmarshal(r.body, &body)
	if string(body["to"]) != `["`+userA+`","`+userB+`"]` || string(body["messages"]) != `[`+text+`]` ||
		string(body["customAggregationUnits"]) != `["u"]` || string(body["notificationDisabled"]) != "false" {
		t.Errorf("body %s", r.body)
	}
}

func TestAcceptedWithUndecodableBody(t *testing.T) {
	// LINE accepted the request; a garbled body must not cause a resend.
	srv, _, _ := recorder(t, 200, map[string]string{"X-Line-Request-Id": "req-x"}, `not json`)
	c := newTestClient(t, srv.URL)
	res, err := c.Push(context.Background(), PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"x"}`), RetryKey: uuid.NewString()})
	if err != nil || res.RequestID != "req-x" {
		t.Errorf("res %+v err %v", res, err)
	}
}

// failPaths answers status with a LINE-shaped body on the given paths and
// passes everything else to next.
func failPaths(next http.Handler, status int, paths ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, p := range paths {
			if r.URL.Path == p {
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Line-Request-Id", "rid-fail")
				w.WriteHeader(status)
				_, _ = io.WriteString(w, `{"message":"An error occurred in the server"}`)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func TestQuotaAgainstSandbox(t *testing.T) {
	const quotaPath, usagePath = "/v2/bot/message/quota", "/v2/bot/message/quota/consumption"
	tests := []struct {
		name      string
		opts      linesandbox.Options
		token     string
		fail      int // status for failPaths, 0 none
		failPaths []string
		pushes    int // 2-message pushes before asking
		want      Quota
		remaining int64
		kind      ErrorKind // -1: no error
		status    int
	}{
		{name: "unlimited", pushes: 2, want: Quota{Used: 4}, kind: -1},
		{name: "limited with usage", opts: linesandbox.Options{MonthlyLimit: 10}, pushes: 3, want: Quota{Limited: true, Limit: 10, Used: 6}, remaining: 4, kind: -1},
		{name: "limited unused", opts: linesandbox.Options{MonthlyLimit: 1000}, want: Quota{Limited: true, Limit: 1000}, remaining: 1000, kind: -1},
		{name: "bad token", opts: linesandbox.Options{Tokens: map[string]string{"test-token": "acct"}}, token: "wrong", kind: KindAuth, status: 401},
		{name: "5xx on quota", fail: 500, failPaths: []string{quotaPath}, kind: KindRetryable, status: 500},
		{name: "5xx on consumption", fail: 503, failPaths: []string{usagePath}, kind: KindRetryable, status: 503},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sb := linesandbox.New(tc.opts)
			var h http.Handler = sb
			if tc.fail != 0 {
				h = failPaths(sb, tc.fail, tc.failPaths...)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			ctx := context.Background()
			if tc.pushes > 0 {
				pc := newTestClient(t, srv.URL)
				for i := 0; i < tc.pushes; i++ {
					if _, err := pc.Push(ctx, PushRequest{To: userA, Messages: msgs(`{"type":"text","text":"a"}`, `{"type":"text","text":"b"}`), RetryKey: uuid.NewString()}); err != nil {
						t.Fatal(err)
					}
				}
			}
			token := tc.token
			if token == "" {
				token = "test-token"
			}
			c, err := NewClient(srv.URL, token, nil)
			if err != nil {
				t.Fatal(err)
			}
			q, err := c.Quota(ctx)
			if tc.kind == -1 {
				if err != nil {
					t.Fatal(err)
				}
				if q != tc.want || q.Remaining() != tc.remaining {
					t.Errorf("quota %+v remaining %d, want %+v remaining %d", q, q.Remaining(), tc.want, tc.remaining)
				}
				return
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err %v is not *APIError", err)
			}
			if ae.Kind != tc.kind || ae.StatusCode != tc.status || ae.Message == "" || ae.RequestID == "" {
				t.Errorf("got %+v", ae)
			}
			if q != (Quota{}) {
				t.Errorf("quota %+v returned with an error", q)
			}
			if strings.Contains(err.Error(), token) {
				t.Errorf("error text has the token: %v", err)
			}
		})
	}
}

func TestQuotaEdgeCases(t *testing.T) {
	if r := (Quota{Limited: true, Limit: 5, Used: 9}).Remaining(); r != 0 {
		t.Errorf("over-used Remaining = %d, want 0", r)
	}
	srv, _, _ := recorder(t, 200, nil, `{"type":"mystery","value":3}`)
	if _, err := newTestClient(t, srv.URL).Quota(context.Background()); err == nil || kindOf(err) != -1 {
		t.Errorf("unknown quota type: %v", err)
	}
	garbled, _, _ := recorder(t, 200, nil, `not json`)
	if _, err := newTestClient(t, garbled.URL).Quota(context.Background()); err == nil || kindOf(err) != -1 {
		t.Errorf("undecodable body: %v", err)
	}
	limited, _, _ := recorder(t, 429, map[string]string{"X-Line-Request-Id": "rid"}, `{"message":"Too Many Requests"}`)
	if _, err := newTestClient(t, limited.URL).Quota(context.Background()); kindOf(err) != KindRateLimited {
		t.Errorf("429: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newTestClient(t, limited.URL).Quota(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: %v", err)
	}
}
