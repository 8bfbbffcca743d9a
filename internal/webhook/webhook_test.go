package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/webhook"
)

func allow(t *testing.T, s string) *webhook.AllowList {
	t.Helper()
	a, err := webhook.ParseAllowList(s)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestSSRFMatrix: every refused form, checked before any request.
func TestSSRFMatrix(t *testing.T) {
	none := allow(t, "")
	refused := []string{
		"http://127.0.0.1/", "http://127.1.2.3:8080/x", "http://[::1]/",
		"http://10.0.0.1/", "http://172.16.5.4/", "http://192.168.1.1/", "http://[fc00::1]/", "http://[fd12:3456::1]/",
		"http://169.254.1.1/", "http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/", "http://[fe80::1]/",
		"http://[fe80::1%25eth0]/", "http://100.64.0.1/", "http://100.127.255.254/", "http://224.0.0.1/", "http://[ff02::1]/",
		"http://0.0.0.0/", "http://[::]/", "http://255.255.255.255/", "http://[::ffff:127.0.0.1]/", "http://[::ffff:8.8.8.8]/",
		"http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a00:1]/", "http://[2002:7f00:1::]/",
		"http://2130706433/", "http://0177.0.0.1/", "http://0x7f.1/", "http://0x7f000001/", "http://127.1/", "http://017700000001/",
		"http://127.0.0.01/", "http://0/", "http://foo.0x7f/",
		"ftp://example.com/", "file:///etc/passwd", "gopher://example.com/", "javascript:alert(1)",
	}
	for _, u := range refused {
		_, err := webhook.CheckURL(u, none)
		var de *webhook.DestinationError
		var ue *webhook.URLError
		if !errors.As(err, &de) && !errors.As(err, &ue) {
			t.Errorf("CheckURL(%q) = %v, want refusal", u, err)
		}
		if strings.HasPrefix(u, "http://") && !errors.As(err, &de) {
			t.Errorf("CheckURL(%q) = %v, want a DestinationError", u, err)
		}
	}
	for _, u := range []string{"", "example.com/path", "http://", "http://example.com:99999/", "http:opaque"} {
		var ue *webhook.URLError
		if _, err := webhook.CheckURL(u, none); !errors.As(err, &ue) {
			t.Errorf("CheckURL(%q) = %v, want URLError", u, err)
		}
	}
	for _, u := range []string{"https://example.com/hook?x=1", "http://8.8.8.8/", "https://[2606:4700:4700::1111]/", "https://hooks.example.co.jp:8443/a"} {
		if _, err := webhook.CheckURL(u, none); err != nil {
			t.Errorf("CheckURL(%q) = %v, want allowed", u, err)
		}
	}
	// Allow-list: hosts and CIDRs open exceptions.
	a := allow(t, "127.0.0.1/32, internal.example, 10.1.0.0/16, ::1")
	for _, u := range []string{"http://127.0.0.1:9/", "http://internal.example/", "http://INTERNAL.example./", "http://10.1.2.3/", "http://[::1]:80/"} {
		if _, err := webhook.CheckURL(u, a); err != nil {
			t.Errorf("allow-listed CheckURL(%q) = %v", u, err)
		}
	}
	if _, err := webhook.CheckURL("http://10.2.0.1/", a); err == nil {
		t.Error("10.2.0.1 outside the allowed CIDR passed")
	}
	for _, bad := range []string{"10.0.0.0/33", "http://x", "a b"} {
		if _, err := webhook.ParseAllowList(bad); err == nil {
			t.Errorf("ParseAllowList(%q) accepted", bad)
		}
	}
}

func TestPublicIP(t *testing.T) {
	for s, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "203.0.113.9": true,
		"127.0.0.1": false, "10.9.9.9": false, "172.31.0.1": false, "192.168.0.1": false, "169.254.169.254": false,
		"100.64.0.0": false, "224.1.1.1": false, "0.0.0.0": false, "::": false, "::1": false, "fd00:ec2::254": false,
		"fe80::1": false, "ff05::2": false, "::ffff:8.8.8.8": false, "::ffff:10.0.0.1": false, "240.0.0.1": false,
	} {
		if got := webhook.PublicIP(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicIP(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestDialTimeGuard: a host name that passes the URL check is still refused when the
// address actually dialled is internal (the DNS rebinding case).
func TestDialTimeGuard(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	c := webhook.NewClient(webhook.Options{Allow: allow(t, "")})
	for _, u := range []string{"http://localhost:" + port + "/"} {
		if _, err := webhook.CheckURL(u, allow(t, "")); err != nil {
			t.Fatalf("%s refused by the URL check (%v); the test needs it to reach the dialer", u, err)
		}
		_, err := c.Send(context.Background(), webhook.Request{URL: u, Body: []byte("x"), ContentType: "text/plain"})
		if !webhook.IsDestinationError(err) {
			t.Errorf("Send(%s) = %v, want DestinationError from the dialer", u, err)
		}
	}
	if hits != 0 {
		t.Errorf("receiver was reached %d times", hits)
	}
	// Numeric tricks never reach the resolver either.
	for _, u := range []string{"http://2130706433:" + port + "/", "http://0x7f.1:" + port + "/", "http://0177.0.0.1:" + port + "/"} {
		if _, err := c.Send(context.Background(), webhook.Request{URL: u}); !webhook.IsDestinationError(err) {
			t.Errorf("Send(%s) = %v, want DestinationError", u, err)
		}
	}
	// Allow-listed by CIDR: the same loopback receiver is reachable.
	c2 := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.1/32,::1")})
	res, err := c2.Send(context.Background(), webhook.Request{URL: srv.URL, Body: []byte("x"), ContentType: "text/plain"})
	if err != nil || res.Status != 200 || hits != 1 {
		t.Fatalf("allow-listed send: %v %+v hits=%d", err, res, hits)
	}
}

func TestRedirectNotFollowedAndProxyIgnored(t *testing.T) {
	var targetHits int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { targetHits++ }))
	defer target.Close()
	src := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	}))
	defer src.Close()
	// A proxy that would answer everything: the client must not use it.
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("http_proxy", "http://127.0.0.1:1")
	c := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.1/32")})
	res, err := c.Send(context.Background(), webhook.Request{URL: src.URL, Body: []byte("{}"), ContentType: "application/json"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusFound || targetHits != 0 {
		t.Fatalf("status %d, target hits %d: want 302 and no follow", res.Status, targetHits)
	}
}

func TestHeadersBodyCapAndRetryAfter(t *testing.T) {
	var got http.Header
	var body []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		body, _ = io.ReadAll(r.Body)
		w.Header().Set("Retry-After", "7")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
	}))
	defer srv.Close()
	now := time.Unix(1_700_000_000, 0)
	c := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.1/32"), Now: func() time.Time { return now }})
	res, err := c.Send(context.Background(), webhook.Request{
		URL: srv.URL + "/hook", Body: []byte(`{"a":1}`), ContentType: "application/json", Secret: "s3cret", IdempotencyKey: "key-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 503 || res.RetryAfter != 7*time.Second || len(res.Body) != webhook.MaxResponseBytes {
		t.Fatalf("status %d retry-after %v body %d", res.Status, res.RetryAfter, len(res.Body))
	}
	if got.Get("User-Agent") != webhook.UserAgent || !strings.HasPrefix(webhook.UserAgent, "hubline/") ||
		got.Get("Content-Type") != "application/json" || got.Get("Idempotency-Key") != "key-1" {
		t.Fatalf("headers: %v", got)
	}
	if err := webhook.Verify("s3cret", got.Get(webhook.SignatureHeader), body, now.Add(time.Minute), 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got.Get(webhook.SignatureHeader), "t=1700000000,v1=") {
		t.Fatalf("signature header %q", got.Get(webhook.SignatureHeader))
	}

	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "-3": 0, "abc": 0, "120": 2 * time.Minute, "999999": time.Hour,
		now.Add(90 * time.Second).UTC().Format(http.TimeFormat): 90 * time.Second,
		now.Add(-time.Minute).UTC().Format(http.TimeFormat):     0,
	} {
		if got := webhook.ParseRetryAfter(v, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	body := []byte(`{"email":"a@example.com"}`)
	h := webhook.Sign("secret", now, body)
	// Independent computation of the documented format.
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("1700000000." + string(body)))
	if want := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil)); h != want {
		t.Fatalf("Sign = %q, want %q", h, want)
	}
	cases := []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", "secret", h, body, now, nil},
		{"valid within tolerance", "secret", h, body, now.Add(4 * time.Minute), nil},
		{"second v1 matches (rotation)", "secret", h + ",v1=" + strings.Repeat("00", 32), body, now, nil},
		{"too old", "secret", h, body, now.Add(6 * time.Minute), webhook.ErrOutsideTolerance},
		{"from the future", "secret", h, body, now.Add(-6 * time.Minute), webhook.ErrOutsideTolerance},
		{"tampered body", "secret", h, []byte(`{"email":"b@example.com"}`), now, webhook.ErrSignatureMismatch},
		{"wrong secret", "other", h, body, now, webhook.ErrSignatureMismatch},
		{"missing", "secret", "", body, now, webhook.ErrNoSignature},
		{"no v1", "secret", "t=1700000000", body, now, webhook.ErrMalformed},
		{"garbage", "secret", "nonsense", body, now, webhook.ErrMalformed},
		{"bad hex", "secret", "t=1700000000,v1=zz", body, now, webhook.ErrMalformed},
	}
	for _, c := range cases {
		if err := webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.want)
		}
		// The README snippet agrees on accept/reject.
		if err := verifyHubline(c.secret, c.header, c.body, c.now, 5*time.Minute); (err == nil) != (c.want == nil) {
			t.Errorf("%s: README snippet = %v, want ok=%v", c.name, err, c.want == nil)
		}
	}
}

// TestReceiverVerifiesRealRequests: a receiver that knows only the documented format
// (the README snippet, and a regexp-based check of its own) verifies real signed requests.
func TestReceiverVerifiesRealRequests(t *testing.T) {
	var mu sync.Mutex
	var verdicts []string
	headerRE := regexp.MustCompile(`^t=(\d+),v1=([0-9a-f]{64})$`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		h := r.Header.Get("X-Hubline-Signature")
		snippet := verifyHubline("whsec", h, raw, time.Now(), 5*time.Minute)
		own := "mismatch"
		if m := headerRE.FindStringSubmatch(h); m != nil {
			mac := hmac.New(sha256.New, []byte("whsec"))
			fmt.Fprintf(mac, "%s.%s", m[1], raw)
			if hmac.Equal([]byte(m[2]), []byte(hex.EncodeToString(mac.Sum(nil)))) {
				own = "ok"
			}
		}
		mu.Lock()
		verdicts = append(verdicts, fmt.Sprintf("snippet=%v own=%s", snippet == nil, own))
		mu.Unlock()
		if snippet != nil {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	c := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.1/32")})
	for _, b := range []string{`{"name":"Aiko","note":"日本語 \"quoted\""}`, "plain text\nwith lines"} {
		res, err := c.Send(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(b), ContentType: "text/plain", Secret: "whsec"})
		if err != nil || res.Status != 200 {
			t.Fatalf("send: %v %+v", err, res)
		}
	}
	res, err := c.Send(context.Background(), webhook.Request{URL: srv.URL, Body: []byte("x"), ContentType: "text/plain", Secret: "wrong"})
	if err != nil || res.Status != 401 {
		t.Fatalf("wrong secret: %v %+v", err, res)
	}
	want := []string{"snippet=true own=ok", "snippet=true own=ok", "snippet=false own=mismatch"}
	if fmt.Sprint(verdicts) != fmt.Sprint(want) {
		t.Fatalf("verdicts %v, want %v", verdicts, want)
	}
}
