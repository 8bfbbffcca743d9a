package hubspot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/hubline/hubline/internal/hubspotsandbox"
)

const testToken = "pat-na1-secret-token"

type captured struct {
	method, uri string
	header      http.Header
	body        []byte
}

// recorder is an httptest server answering with fixed statuses and keeping
// every request it saw.
type recorder struct {
	mu   sync.Mutex
	reqs []captured
	srv  *httptest.Server
}

func newRecorder(t *testing.T, answer func(r *http.Request, body []byte, w http.ResponseWriter)) *recorder {
	rec := &recorder{}
	rec.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, captured{r.Method, r.RequestURI, r.Header.Clone(), body})
		rec.mu.Unlock()
		answer(r, body, w)
	}))
	t.Cleanup(rec.srv.Close)
	return rec
}

func (r *recorder) requests() []captured {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]captured(nil), r.reqs...)
}

func fixed(status int, body string) func(*http.Request, []byte, http.ResponseWriter) {
	return func(_ *http.Request, _ []byte, w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

func testClient(base string, log *zap.Logger) *Client {
	return NewClient(Options{BaseURL: base, Tokens: StaticToken(testToken), Logger: log, RequestsPerInterval: 1000, Interval: time.Second})
}

func sandbox(t *testing.T, o hubspotsandbox.Options) (*hubspotsandbox.Server, *Client) {
	o.AccessToken = testToken
	sb := hubspotsandbox.New(o)
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	return sb, testClient(srv.URL, nil)
}

func TestCompleteCallbackRequest(t *testing.T) {
	rec := newRecorder(t, fixed(http.StatusNoContent, ""))
	c := testClient(rec.srv.URL+"/", nil) // trailing slash is trimmed
	err := c.CompleteCallback(context.Background(), 7, "ap-1/2 3", map[string]string{"hs_execution_state": "SUCCESS", "sent": "2"})
	if err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	if r.method != "POST" || r.uri != "/automation/v4/actions/callbacks/ap-1%2F2%203/complete" {
		t.Errorf("request = %s %s", r.method, r.uri)
	}
	if r.header.Get("Authorization") != "Bearer "+testToken || r.header.Get("Content-Type") != "application/json" || r.header.Get("User-Agent") != "hubline" {
		t.Errorf("headers = %v", r.header)
	}
	var body map[string]map[string]string
	if err := json.Unmarshal(r.body, &body); err != nil || body["outputFields"]["hs_execution_state"] != "SUCCESS" || body["outputFields"]["sent"] != "2" {
		t.Errorf("body = %s", r.body)
	}
}

func TestCompleteCallbackStatuses(t *testing.T) {
	cases := []struct {
		name       string
		status     int
		body       string
		notPending bool
		retryable  bool
		auth       bool
		mention    string
	}{
		{"200", 200, ``, false, false, false, ""},
		{"204", 204, ``, false, false, false, ""},
		{"404", 404, `{"status":"error","message":"resource not found"}`, true, false, false, ""},
		{"410", 410, ``, true, false, false, ""},
		{"400 completed", 400, `{"status":"error","message":"Callback ap-1 has already been completed","category":"VALIDATION_ERROR"}`, true, false, false, ""},
		{"400 expired", 400, `{"status":"error","message":"Callback ap-1 has expired","category":"VALIDATION_ERROR"}`, true, false, false, ""},
		{"400 other", 400, `{"status":"error","message":"hs_execution_state is invalid","category":"VALIDATION_ERROR","correlationId":"c-1"}`, false, false, false, "hs_execution_state is invalid"},
		{"401", 401, `{"status":"error","message":"Authentication credentials not found","category":"INVALID_AUTHENTICATION"}`, false, false, true, "HUBSPOT_ACCESS_TOKEN"},
		{"403", 403, `{"status":"error","message":"missing scopes","category":"MISSING_SCOPES"}`, false, false, true, "missing scopes"},
		{"500", 500, `{"status":"error","message":"internal error"}`, false, true, false, "500"},
		{"502 html", 502, `<html>bad gateway</html>`, false, true, false, "502"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newRecorder(t, fixed(tc.status, tc.body))
			err := testClient(rec.srv.URL, nil).CompleteCallback(context.Background(), 1, "ap-1", map[string]string{"hs_execution_state": "SUCCESS"})
			if tc.status < 300 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("want an error")
			}
			if got := errors.Is(err, ErrCallbackNotPending); got != tc.notPending {
				t.Errorf("ErrCallbackNotPending = %v, want %v (%v)", got, tc.notPending, err)
			}
			var ae *APIError
			if !errors.As(err, &ae) {
				t.Fatalf("error %v is not an *APIError", err)
			}
			if ae.StatusCode != tc.status || ae.Retryable() != tc.retryable || ae.Auth() != tc.auth || Retryable(err) != tc.retryable {
				t.Errorf("APIError %+v: retryable %v auth %v", ae, ae.Retryable(), ae.Auth())
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.mention) || !strings.Contains(msg, "complete callback") || strings.Contains(msg, testToken) {
				t.Errorf("message %q should mention %q and the op, never the token", msg, tc.mention)
			}
		})
	}
}

func TestTimeline403Message(t *testing.T) {
	sb, c := sandbox(t, hubspotsandbox.Options{PrivateAppToken: true})
	for _, err := range []error{
		c.CreateTimelineEvent(context.Background(), 1, TimelineEvent{EventTemplateID: "1", ObjectID: 2}),
		c.CreateTimelineEvents(context.Background(), 1, []TimelineEvent{{EventTemplateID: "1", ObjectID: 2}}),
	} {
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != 403 || !ae.Auth() || ae.Retryable() {
			t.Fatalf("err = %v", err)
		}
		if !strings.Contains(err.Error(), "only lets OAuth access tokens (not private-app tokens) create timeline events") {
			t.Errorf("message = %q", err)
		}
	}
	if len(sb.TimelineEvents()) != 0 {
		t.Fatal("events created")
	}
}

func TestUnauthorizedAgainstSandbox(t *testing.T) {
	sb := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "the-right-one"})
	srv := httptest.NewServer(sb)
	defer srv.Close()
	err := testClient(srv.URL, nil).CompleteCallback(context.Background(), 1, "cb", map[string]string{"hs_execution_state": "SUCCESS"})
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(err.Error(), "access token was rejected (check HUBSPOT_ACCESS_TOKEN)") {
		t.Fatalf("err = %v", err)
	}
}

func TestCompleteCallbacksFallback(t *testing.T) {
	sb, c := sandbox(t, hubspotsandbox.Options{})
	ctx := context.Background()
	ok := map[string]string{"hs_execution_state": "SUCCESS"}
	if err := c.CompleteCallback(ctx, 1, "cb-005", ok); err != nil {
		t.Fatal(err)
	}
	sb.ExpireCallback("cb-042")
	var items []CallbackCompletion
	for i := range 150 {
		items = append(items, CallbackCompletion{CallbackID: fmt.Sprintf("cb-%03d", i), OutputFields: ok})
	}
	before := sb.Requests()
	res, err := c.CompleteCallbacks(ctx, 1, items)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 150 {
		t.Fatalf("%d results", len(res))
	}
	for id, e := range res {
		bad := id == "cb-005" || id == "cb-042"
		if bad != errors.Is(e, ErrCallbackNotPending) || (!bad && e != nil) {
			t.Errorf("%s: %v", id, e)
		}
	}
	// First chunk: rejected batch + 100 single calls; second chunk: one batch.
	if n := sb.Requests() - before; n != 102 {
		t.Errorf("%d requests, want 102", n)
	}
	if n := len(sb.Callbacks()); n != 149 {
		t.Errorf("sandbox holds %d callbacks, want 149", n)
	}
}

func TestCompleteCallbacksWholeCallFailures(t *testing.T) {
	sb, c := sandbox(t, hubspotsandbox.Options{})
	items := []CallbackCompletion{{CallbackID: "a", OutputFields: map[string]string{"hs_execution_state": "SUCCESS"}}}

	sb.FailNext("/automation/", http.StatusServiceUnavailable, 1)
	res, err := c.CompleteCallbacks(context.Background(), 1, items)
	if !Retryable(err) || len(res) != 0 {
		t.Fatalf("503: res %v err %v", res, err)
	}
	sb.FailNext("/automation/", http.StatusUnauthorized, 1)
	if _, err := c.CompleteCallbacks(context.Background(), 2, items); Retryable(err) {
		t.Fatalf("401 must not be retryable: %v", err)
	} else if ae := (*APIError)(nil); !errors.As(err, &ae) || !ae.Auth() {
		t.Fatalf("401: %v", err)
	}
	res, err = c.CompleteCallbacks(context.Background(), 3, items)
	if err != nil || len(res) != 1 || res["a"] != nil {
		t.Fatalf("after failures: %v %v", res, err)
	}
}

func TestTimelineEvents(t *testing.T) {
	rec := newRecorder(t, fixed(http.StatusCreated, `{}`))
	ts := time.Date(2025, 3, 4, 5, 6, 7, 891_000_000, time.FixedZone("JST", 9*3600))
	err := testClient(rec.srv.URL, nil).CreateTimelineEvent(context.Background(), 1, TimelineEvent{
		ID: "ev-1", EventTemplateID: "1001", ObjectID: 904, Tokens: map[string]string{"status": "sent"},
		ExtraData: map[string]int{"n": 1}, Timestamp: ts,
	})
	if err != nil {
		t.Fatal(err)
	}
	r := rec.requests()[0]
	var got map[string]any
	_ = json.Unmarshal(r.body, &got)
	if r.uri != "/crm/v3/timeline/events" || got["id"] != "ev-1" || got["eventTemplateId"] != "1001" || got["objectId"] != "904" ||
		got["timestamp"] != "2025-03-03T20:06:07.891Z" || got["tokens"].(map[string]any)["status"] != "sent" || got["extraData"] == nil {
		t.Errorf("%s %s", r.uri, r.body)
	}

	sb, c := sandbox(t, hubspotsandbox.Options{})
	ctx := context.Background()
	ev := TimelineEvent{ID: "e-1", EventTemplateID: "1", ObjectID: 5}
	if err := c.CreateTimelineEvent(ctx, 1, ev); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTimelineEvent(ctx, 1, ev); err != nil {
		t.Fatalf("409 must count as success: %v", err)
	}
	var evs []TimelineEvent
	for i := range 150 {
		evs = append(evs, TimelineEvent{ID: fmt.Sprintf("b-%d", i), EventTemplateID: "1", ObjectID: int64(i)})
	}
	before := sb.Requests()
	if err := c.CreateTimelineEvents(ctx, 1, evs); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateTimelineEvents(ctx, 1, evs[100:]); err != nil { // all duplicates: 409
		t.Fatalf("duplicate batch: %v", err)
	}
	if n := sb.Requests() - before; n != 3 {
		t.Errorf("%d requests, want 3", n)
	}
	if n := len(sb.TimelineEvents()); n != 151 {
		t.Errorf("%d events, want 151", n)
	}
	if err := c.CreateTimelineEvent(ctx, 1, TimelineEvent{ObjectID: 1}); err == nil {
		t.Error("missing template id must fail")
	}
}

func TestReadContacts(t *testing.T) {
	sb, c := sandbox(t, hubspotsandbox.Options{})
	var ids []string
	for i := range 120 {
		id := fmt.Sprint(1000 + i)
		ids = append(ids, id)
		if i%10 != 0 { // every tenth contact does not exist
			sb.SetContact(id, map[string]string{"firstname": "F" + id, "line_user_id": "", "email": id + "@x.test"})
		}
	}
	ids = append(ids, "1001") // duplicate
	before := sb.Requests()
	got, err := c.ReadContacts(context.Background(), 1, ids, []string{"firstname", "line_user_id", "lastname"})
	if err != nil {
		t.Fatal(err)
	}
	if n := sb.Requests() - before; n != 2 {
		t.Errorf("%d requests, want 2", n)
	}
	if len(got) != 108 {
		t.Fatalf("%d contacts, want 108", len(got))
	}
	p := got["1001"]
	if p["firstname"] != "F1001" {
		t.Errorf("props = %v", p)
	}
	for _, k := range []string{"line_user_id", "lastname", "email"} {
		if _, ok := p[k]; ok {
			t.Errorf("%s should be omitted: %v", k, p)
		}
	}
	if _, ok := got["1000"]; ok {
		t.Error("unknown contact present")
	}
	if got, err := c.ReadContacts(context.Background(), 1, nil, nil); err != nil || len(got) != 0 {
		t.Errorf("empty read: %v %v", got, err)
	}
}

func TestNetworkErrorIsRetryable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	err := testClient(base, nil).CompleteCallback(context.Background(), 1, "x", nil)
	var ae *APIError
	if err == nil || errors.As(err, &ae) || !Retryable(err) {
		t.Fatalf("err = %v", err)
	}
	var ue *url.Error
	if !errors.As(err, &ue) {
		t.Errorf("network error should be wrapped: %v", err)
	}
}

func TestContextCancelled(t *testing.T) {
	rec := newRecorder(t, fixed(204, ""))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := testClient(rec.srv.URL, nil).CompleteCallback(ctx, 1, "x", nil)
	if !errors.Is(err, context.Canceled) || len(rec.requests()) != 0 {
		t.Fatalf("err = %v, %d requests", err, len(rec.requests()))
	}
}

func TestNoSecretsInLogs(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	rec := newRecorder(t, fixed(400, `{"status":"error","message":"bad","correlationId":"corr-1"}`))
	c := testClient(rec.srv.URL, zap.New(core))
	_ = c.CompleteCallback(context.Background(), 1, "x", map[string]string{"hs_execution_state": "SUCCESS", "message": "private text"})
	_, _ = c.CompleteCallbacks(context.Background(), 1, []CallbackCompletion{{CallbackID: "y", OutputFields: map[string]string{"message": "private text"}}})
	if logs.Len() == 0 {
		t.Fatal("expected debug logs")
	}
	for _, e := range logs.All() {
		line := fmt.Sprint(e.Message, e.ContextMap())
		if strings.Contains(line, testToken) || strings.Contains(line, "private text") {
			t.Fatalf("log leaks a secret or message content: %s", line)
		}
	}
}

func TestOAuthRefresher(t *testing.T) {
	var refreshes atomic.Int32
	var lastForm url.Values
	var mu sync.Mutex
	var expires atomic.Int32
	expires.Store(1800)
	oauth := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/v1/token" || r.Method != "POST" {
			http.NotFound(w, r)
			return
		}
		_ = r.ParseForm()
		n := refreshes.Add(1)
		mu.Lock()
		lastForm = r.PostForm
		mu.Unlock()
		time.Sleep(10 * time.Millisecond) // let concurrent callers pile up
		fmt.Fprintf(w, `{"access_token":"at-%d","refresh_token":"rt-2","expires_in":%d,"token_type":"bearer"}`, n, expires.Load())
	}))
	defer oauth.Close()

	ts := NewOAuthRefresher(oauth.URL, "cid", "csecret", "rt-1", nil)
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if tok, err := ts.Token(context.Background()); err != nil || tok != "at-1" {
				t.Errorf("Token = %q, %v", tok, err)
			}
		})
	}
	wg.Wait()
	if n := refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want 1 (cached)", n)
	}
	mu.Lock()
	f := lastForm
	mu.Unlock()
	if f.Get("grant_type") != "refresh_token" || f.Get("client_id") != "cid" || f.Get("client_secret") != "csecret" || f.Get("refresh_token") != "rt-1" {
		t.Errorf("form = %v", f)
	}

	// A 401 from the API drops the cached token; the rotated refresh token is used next.
	api := newRecorder(t, func(r *http.Request, _ []byte, w http.ResponseWriter) {
		if r.Header.Get("Authorization") == "Bearer at-1" {
			w.WriteHeader(401)
			return
		}
		w.WriteHeader(204)
	})
	c := NewClient(Options{BaseURL: api.srv.URL, Tokens: ts})
	if err := c.CompleteCallback(context.Background(), 1, "x", nil); err == nil {
		t.Fatal("want 401")
	}
	if err := c.CompleteCallback(context.Background(), 1, "x", nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	rt := lastForm.Get("refresh_token")
	mu.Unlock()
	if refreshes.Load() != 2 || rt != "rt-2" {
		t.Errorf("refreshes %d, refresh token %q", refreshes.Load(), rt)
	}

	// A token with no useful lifetime is not cached.
	expires.Store(0)
	ts2 := NewOAuthRefresher(oauth.URL, "cid", "csecret", "rt-1", nil)
	_, _ = ts2.Token(context.Background())
	_, _ = ts2.Token(context.Background())
	if refreshes.Load() != 4 {
		t.Errorf("%d refreshes, want 4", refreshes.Load())
	}

	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(400)
		_, _ = io.WriteString(w, `{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}`)
	}))
	defer bad.Close()
	_, err := NewOAuthRefresher(bad.URL, "cid", "csecret", "rt-x", nil).Token(context.Background())
	if err == nil || strings.Contains(err.Error(), "csecret") || strings.Contains(err.Error(), "rt-x") {
		t.Fatalf("err = %v", err)
	}
}
