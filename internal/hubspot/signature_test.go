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

	hdrs := func(kv ...string) http.Header { // repeats a header given twice
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	const (
		bad     = CodeInvalidSignature
		version = CodeSignatureVersionRefused
	)

	cases := []struct {
		name      string
		requireV3 bool
		method    string
		uri       string
		body      []byte
		h         http.Header
		wantErr   string // substring; "" = valid
		wantCode  string
	}{
		{"v3 valid with encoded query", false, "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "", ""},
		{"v3 preferred over bad v2", false, "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts, HeaderSignature, "00"), "", ""},
		{"v3 within window", false, "POST", uri, body, hdr(HeaderSignatureV3, edgeSig, HeaderTimestamp, edgeTS), "", ""},
		{"v3 expired", false, "POST", uri, body, hdr(HeaderSignatureV3, oldSig, HeaderTimestamp, oldTS), "older than 5 minutes", bad},
		{"v3 future", false, "POST", uri, body, hdr(HeaderSignatureV3, futSig, HeaderTimestamp, futTS), "future", bad},
		{"v3 tampered body", false, "POST", uri, []byte(`{"callbackId":"ap-1-2-4"}`), hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "does not match", bad},
		{"v3 wrong method", false, "PUT", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "does not match", bad},
		{"v3 wrong uri", false, "POST", "https://evil.example/hubspot/action?portal=1", body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts), "does not match", bad},
		{"v3 timestamp not the signed one", false, "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, strconv.FormatInt(now.UnixMilli()+1, 10)), "does not match", bad},
		{"v3 missing timestamp", false, "POST", uri, body, hdr(HeaderSignatureV3, v3), "missing X-Hubspot-Request-Timestamp", bad},
		{"v3 malformed timestamp", false, "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, "yesterday"), "malformed", bad},
		{"v3 malformed signature", false, "POST", uri, body, hdr(HeaderSignatureV3, "%%%", HeaderTimestamp, ts), "malformed", bad},
		// Base64 decoding skips line breaks; the signature is compared as sent.
		{"v3 not the exact encoding", false, "POST", uri, body, hdr(HeaderSignatureV3, v3[:8]+"\n"+v3[8:], HeaderTimestamp, ts), "does not match", bad},
		// Downgrades: where v3 headers are sent, only v3 counts.
		{"invalid v3 beside valid v2", false, "POST", uri, body, hdr(HeaderSignatureV3, oldSig, HeaderTimestamp, ts, HeaderSignature, v2, HeaderSignatureVersion, "v2"), "does not match", bad},
		{"empty v3 beside valid v2", false, "POST", uri, body, hdrs(HeaderSignatureV3, "", HeaderTimestamp, ts, HeaderSignature, v2, HeaderSignatureVersion, "v2"), "missing X-Hubspot-Signature-V3", bad},
		{"timestamp without v3 beside valid v2", false, "POST", uri, body, hdr(HeaderTimestamp, ts, HeaderSignature, v2, HeaderSignatureVersion, "v2"), "missing X-Hubspot-Signature-V3", bad},
		{"second v3 header", false, "POST", uri, body, hdrs(HeaderSignatureV3, v3, HeaderSignatureV3, "AAAA", HeaderTimestamp, ts), "more than one", bad},
		{"second v2 header", false, "POST", uri, body, hdrs(HeaderSignature, v2, HeaderSignature, v2, HeaderSignatureVersion, "v2"), "more than one", bad},
		{"v2 explicit", false, "POST", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), "", ""},
		{"v2 uppercase hex", false, "POST", uri, body, hdr(HeaderSignature, strings.ToUpper(v2), HeaderSignatureVersion, "V2"), "", ""},
		{"v2 tampered body", false, "POST", uri, []byte(`{}`), hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), "does not match", bad},
		{"v2 wrong method", false, "GET", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), "does not match", bad},
		{"v1 refused", false, "POST", uri, body, hdr(HeaderSignature, v1, HeaderSignatureVersion, "v1"), "v1 signatures are refused", version},
		// No version header is v1 in HubSpot's scheme, even over a valid v2 digest.
		{"no version is v1", false, "POST", uri, body, hdr(HeaderSignature, v1), "v1 signatures are refused", version},
		{"v2 without version header", false, "POST", uri, body, hdr(HeaderSignature, v2), "v1 signatures are refused", version},
		{"v1 sent as v2", false, "POST", uri, body, hdr(HeaderSignature, v1, HeaderSignatureVersion, "v2"), "does not match", bad},
		{"unknown version", false, "POST", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v9"), "unsupported", bad},
		{"malformed hex", false, "POST", uri, body, hdr(HeaderSignature, "xyz", HeaderSignatureVersion, "v2"), "malformed", bad},
		{"missing", false, "POST", uri, body, http.Header{}, "missing signature", bad},
		// HUBLINE_REQUIRE_SIGNATURE_V3=true.
		{"require v3: v3 valid", true, "POST", uri, body, hdr(HeaderSignatureV3, v3, HeaderTimestamp, ts, HeaderSignature, v2, HeaderSignatureVersion, "v2"), "", ""},
		{"require v3: v2 refused", true, "POST", uri, body, hdr(HeaderSignature, v2, HeaderSignatureVersion, "v2"), "v3 signature is required", version},
		{"require v3: v1 refused", true, "POST", uri, body, hdr(HeaderSignature, v1, HeaderSignatureVersion, "v1"), "v3 signature is required", version},
		{"require v3: missing", true, "POST", uri, body, http.Header{}, "missing signature", bad},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := SignaturePolicy{RequireV3: c.requireV3}.Verify(secret, c.method, c.uri, c.body, c.h, now)
			if !c.requireV3 {
				if err2 := VerifySignature(secret, c.method, c.uri, c.body, c.h, now); (err == nil) != (err2 == nil) {
					t.Fatalf("VerifySignature and the default policy disagree: %v, %v", err2, err)
				}
			}
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
			if got := SignatureErrorCode(err); got != c.wantCode {
				t.Fatalf("code = %q, want %q", got, c.wantCode)
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
