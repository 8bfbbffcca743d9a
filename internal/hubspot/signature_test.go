package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// hmacLiteral computes a v3 signature from an already-normalised string, so
// the expected values do not come from the code under test.
func hmacLiteral(secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func TestSignV2PublishedVector(t *testing.T) {
	got := SignV2("yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy", "POST", "https://www.example.com/webhook_uri",
		[]byte(`{"example_field":"example_value"}`))
	if want := "9569219f8ba981ffa6f6f16aa0f48637d35d728c7e4d93d0d52efaa512af7900"; got != want {
		t.Fatalf("SignV2 = %s, want %s", got, want)
	}
}

func TestSignV3Normalisation(t *testing.T) {
	const secret, ts, body = "s3cret", "1700000000000", `{"a":1}`
	cases := []struct{ uri, literal string }{
		{"https://h.example/x", "https://h.example/x"},
		{"https://h.example/x?r=https%3A%2F%2Fa.io%2Fp", "https://h.example/x?r=https://a.io/p"},
		{"https://h.example/x?r=%3a%2f%3F%40%21%24%27%28%29%2A%2c%3B", "https://h.example/x?r=:/?@!$'()*,;"},
		// Only the listed characters are decoded.
		{"https://h.example/x?q=a%20b%2Bc%25", "https://h.example/x?q=a%20b%2Bc%25"},
		{"https://h.example/x?q=100%", "https://h.example/x?q=100%"},
		{"https://h.example/x?q=%zz%3", "https://h.example/x?q=%zz%3"},
	}
	for _, c := range cases {
		if got, want := SignV3(secret, "POST", c.uri, []byte(body), ts), hmacLiteral(secret, "POST"+c.literal+body+ts); got != want {
			t.Errorf("SignV3(%q) = %s, want HMAC over %q", c.uri, got, c.literal)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	const secret = "client-secret-123"
	const uri = "https://hooks.example.com/hubspot/action?portal=1&next=https%3A%2F%2Fexample.com%2Fdone%20now"
	const decoded = "https://hooks.example.com/hubspot/action?portal=1&next=https://example.com/done%20now"
	body := []byte(`{"callbackId":"ap-1-2-3","inputFields":{"message_1":"hi"}}`)
	now := time.UnixMilli(1_700_000_000_000)
	ts := strconv.FormatInt(now.UnixMilli(), 10)
	v3 := hmacLiteral(secret, "POST"+decoded+string(body)+ts)
	v3At := func(at time.Time) (string, string) {
		s := strconv.FormatInt(at.UnixMilli(), 10)
		return s, hmacLiteral(secret, "POST"+decoded+string(body)+s)
	}
	v2 := SignV2(secret, "POST", uri, body)
	v1 := SignV1(secret, body)

	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		return h
	}
	oldTS, oldSig := v3At(now.Add(-5*time.Minute - time.Second))
	edgeTS, edgeSig := v3At(now.Add(-4 * time.Minute))
	futTS, futSig := v3At(now.Add(6 * time.Minute))

	cases := []struct {
		name    string
		method  string
		uri     string
		body    []byte
		h       http.Header
		wantErr string // substring; "" = valid
	}{
		{"v3 valid with encoded query", "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), ""},
		{"v3 preferred over bad v2", "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts, HeaderSignature, "00"), ""},
		{"v3 within window", "POST", uri, body, hdr(HeaderSignatureV3, edgeSig, HeaderTimestamp, edgeTS), ""},
		{"v3 expired", "POST", uri, body, hdr(HeaderSignatureV3, oldSig, HeaderTimestamp, oldTS), "older than 5 minutes"},
		{"v3 future", "POST", uri, body, hdr(HeaderSignatureV3, futSig, HeaderTimestamp, futTS), "future"},
		{"v3 tampered body", "POST", uri, []byte(`{"callbackId":"ap-1-2-4"}`), hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "does not match"},
		{"v3 wrong method", "PUT", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "does not match"},
		{"v3 wrong uri", "POST", "https://evil.example/hubspot/action?portal=1", body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "does not match"},
		{"v3 timestamp not the signed one", "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, strconv.FormatInt(now.UnixMilli()+1, 10)), "does not match"},
		{"v3 missing timestamp", "POST", uri, body, hdr(HeaderSignatureV3, v3), "missing X-Hubspot-Request-Timestamp"},
		{"v3 malformed timestamp", "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, "yesterday"), "malformed"},
		{"v3 malformed signature", "POST", uri, body, hdr(HeaderSignatureV3, "%%%", HeaderTimestamp, ts), "malformed"},
		{"v2 explicit", "POST", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), ""},
		{"v2 default version", "POST", uri, body, hdr(HeaderSignature, v2), ""},
		{"v2 uppercase hex", "POST", uri, body, hdr(HeaderSignature, strings.ToUpper(v2)), ""},
		{"v2 tampered body", "POST", uri, []byte(`{}`), hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), "does not match"},
		{"v2 wrong method", "GET", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), "does not match"},
		{"v1", "POST", uri, body, hdr(HeaderSignature, v1, HeaderSignatureVersion, "v1"), ""},
		{"v1 sent as v2", "POST", uri, body, hdr(HeaderSignature, v1, HeaderSignatureVersion, "v2"), "does not match"},
		{"unknown version", "POST", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v9"), "unsupported"},
		{"malformed hex", "POST", uri, body, hdr(HeaderSignature, "xyz"), "malformed"},
		{"missing", "POST", uri, body, http.Header{}, "missing signature"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifySignature(secret, c.method, c.uri, c.body, c.h, now)
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var se *SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("error = %v, want *SignatureError", err)
			}
			if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(c.wantErr)) {
				t.Fatalf("error = %q, want it to mention %q", err, c.wantErr)
			}
			if strings.Contains(err.Error(), secret) {
				t.Fatal("error leaks the secret")
			}
		})
	}
}

func TestVerifySignatureNoSecret(t *testing.T) {
	h := http.Header{}
	h.Set(HeaderSignature, SignV1("", nil))
	if err := VerifySignature("", "POST", "https://x", nil, h, time.Now()); err == nil {
		t.Fatal("an empty secret must never verify")
	}
}
