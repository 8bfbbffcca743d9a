package webhook_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
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
		"8.8.8.8": true, "1.1.1.1": true, "2606:4700:4700::1111": true, "203.0.114.9": true, "168.63.129.15": true,
		"127.0.0.1": false, "10.9.9.9": false, "172.31.0.1": false, "192.168.0.1": false, "169.254.169.254": false,
		"100.64.0.0": false, "224.1.1.1": false, "0.0.0.0": false, "::": false, "::1": false, "fd00:ec2::254": false,
		"fe80::1": false, "ff05::2": false, "::ffff:8.8.8.8": false, "::ffff:10.0.0.1": false, "240.0.0.1": false,
		// Documentation ranges.
		"192.0.2.1": false, "198.51.100.200": false, "203.0.113.9": false, "2001:db8::1": false, "3fff::1": false,
		// Cloud metadata and credential endpoints.
		"168.63.129.16": false, "100.100.100.200": false, "192.0.0.192": false, "169.254.170.2": false,
		"169.254.170.23": false, "fd00:ec2::23": false, "fd20:ce::254": false,
	} {
		if got := webhook.PublicIP(netip.MustParseAddr(s)); got != want {
			t.Errorf("PublicIP(%s) = %v, want %v", s, got, want)
		}
	}
}

// TestDialTimeGuard: a host name that passes the URL check is still refused when the
// address actually dialled is internal (the DNS rebinding case), also when the name is on
// the allow list: a name entry opens the name's ports, never the addresses it resolves to.
func TestDialTimeGuard(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	u := "http://localhost:" + port + "/"
	for _, list := range []string{"localhost:" + port, "localhost", "LOCALHOST., 10.0.0.0/8", "localhost, 127.0.0.0/8:1, 10.0.0.0/8"} {
		a := allow(t, list)
		if _, err := webhook.CheckURL(u, a); err != nil {
			t.Fatalf("%s: %s refused by the URL check (%v); the test needs it to reach the dialer", list, u, err)
		}
		c := webhook.NewClient(webhook.Options{Allow: a})
		_, err := c.Send(context.Background(), webhook.Request{URL: u, Body: []byte("x"), ContentType: "text/plain"})
		if !webhook.IsDestinationError(err) {
			t.Errorf("%s: Send(%s) = %v, want DestinationError from the dialer", list, u, err)
		}
		// Numeric tricks never reach the resolver either.
		for _, n := range []string{"http://2130706433:" + port + "/", "http://0x7f.1:" + port + "/", "http://0177.0.0.1:" + port + "/"} {
			if _, err := c.Send(context.Background(), webhook.Request{URL: n}); !webhook.IsDestinationError(err) {
				t.Errorf("%s: Send(%s) = %v, want DestinationError", list, n, err)
			}
		}
	}
	// A range entry for another port: the dialler refuses, naming the port.
	c := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.0/8:1, 10.0.0.0/8")})
	if _, err := c.Send(context.Background(), webhook.Request{URL: u}); !webhook.IsDestinationError(err) || !strings.Contains(err.Error(), "port "+port) {
		t.Errorf("Send(%s) through 127.0.0.0/8:1 = %v, want a refusal naming port %s", u, err, port)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("receiver was reached %d times", n)
	}
	// Opened by a range: dev's default (any port), a range on this port, a literal.
	for i, c := range []struct{ list, url string }{
		{"localhost,127.0.0.0/8,::1/128", u},
		{"127.0.0.0/8:" + port, u},
		{"127.0.0.1/32,::1", srv.URL},
		{"127.0.0.1:" + port, srv.URL},
	} {
		cl := webhook.NewClient(webhook.Options{Allow: allow(t, c.list)})
		res, err := cl.Send(context.Background(), webhook.Request{URL: c.url, Body: []byte("x"), ContentType: "text/plain"})
		if err != nil || res.Status != 200 || hits.Load() != int32(i+1) {
			t.Fatalf("%s: send to %s: %v %+v hits=%d", c.list, c.url, err, res, hits.Load())
		}
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
	if err := webhook.VerifyV2("s3cret", got.Get(webhook.SignatureHeader), "key-1", body, now.Add(time.Minute), 5*time.Minute); err != nil {
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
	const key = "0b8f3c9e-1d2a-5e4f-8a6b-7c9d0e1f2a3b"
	h := webhook.Sign("secret", now, key, body)
	// Independent computation of the documented format: v1 exactly as before v2 existed,
	// then v2 over "<t>.<Idempotency-Key>.<body>".
	m := hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("1700000000." + string(body)))
	v1 := "t=1700000000,v1=" + hex.EncodeToString(m.Sum(nil))
	// The whole header hubline sent before v2 (recorded from that release), byte for byte.
	if v1 != "t=1700000000,v1=b5f23ffb29a1278338dcadd339f24ad509facfdd27cd03fced384519c7a78349" {
		t.Fatalf("v1 changed: %s", v1)
	}
	m = hmac.New(sha256.New, []byte("secret"))
	m.Write([]byte("1700000000." + key + "." + string(body)))
	if want := v1 + ",v2=" + hex.EncodeToString(m.Sum(nil)); h != want {
		t.Fatalf("Sign = %q, want %q", h, want)
	}
	v1Only := h[:strings.Index(h, ",v2=")]
	zeros := strings.Repeat("00", 32)
	cases := []struct {
		name         string
		secret       string
		header       string
		key          string
		body         []byte
		now          time.Time
		wantV1, want error // Verify (v1), VerifyV2 and the README snippet (v2)
	}{
		{"valid", "secret", h, key, body, now, nil, nil},
		{"valid within tolerance", "secret", h, key, body, now.Add(4 * time.Minute), nil, nil},
		{"another signature of each matches (rotation)", "secret", h + ",v1=" + zeros + ",v2=" + zeros, key, body, now, nil, nil},
		{"too old", "secret", h, key, body, now.Add(6 * time.Minute), webhook.ErrOutsideTolerance, webhook.ErrOutsideTolerance},
		{"from the future", "secret", h, key, body, now.Add(-6 * time.Minute), webhook.ErrOutsideTolerance, webhook.ErrOutsideTolerance},
		{"tampered body", "secret", h, key, []byte(`{"email":"b@example.com"}`), now, webhook.ErrSignatureMismatch, webhook.ErrSignatureMismatch},
		{"other Idempotency-Key (v1 does not cover it)", "secret", h, "another-key", body, now, nil, webhook.ErrSignatureMismatch},
		{"wrong secret", "other", h, key, body, now, webhook.ErrSignatureMismatch, webhook.ErrSignatureMismatch},
		{"v1 only (v2 stripped)", "secret", v1Only, key, body, now, nil, webhook.ErrMalformed},
		{"missing", "secret", "", key, body, now, webhook.ErrNoSignature, webhook.ErrNoSignature},
		{"no signatures", "secret", "t=1700000000", key, body, now, webhook.ErrMalformed, webhook.ErrMalformed},
		{"garbage", "secret", "nonsense", key, body, now, webhook.ErrMalformed, webhook.ErrMalformed},
		{"bad hex", "secret", "t=1700000000,v1=zz,v2=zz", key, body, now, webhook.ErrMalformed, webhook.ErrMalformed},
	}
	for _, c := range cases {
		if err := webhook.Verify(c.secret, c.header, c.body, c.now, 5*time.Minute); !errors.Is(err, c.wantV1) {
			t.Errorf("%s: Verify = %v, want %v", c.name, err, c.wantV1)
		}
		if err := webhook.VerifyV2(c.secret, c.header, c.key, c.body, c.now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: VerifyV2 = %v, want %v", c.name, err, c.want)
		}
		// The README snippet agrees on accept/reject.
		if err := verifyHubline(c.secret, c.header, c.key, c.body, c.now, 5*time.Minute); (err == nil) != (c.want == nil) {
			t.Errorf("%s: README snippet = %v, want ok=%v", c.name, err, c.want == nil)
		}
	}
}
