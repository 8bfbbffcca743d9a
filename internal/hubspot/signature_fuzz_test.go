package hubspot

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Which headers a fuzzed request carries (bits of the last argument), so that an
// absent header and one present but empty are both explored.
const (
	fuzzHasV3 = 1 << iota
	fuzzHasTimestamp
	fuzzHasSig
	fuzzHasVersion
	fuzzRequireV3
)

// FuzzVerifySignature feeds arbitrary secrets, requests and header values to the
// verifier. Seeds are in testdata/fuzz/FuzzVerifySignature (plain go test runs them);
// .ci/run fuzzes for a few seconds. Properties:
//   - it never panics, and an error is always a SignatureError with one of the two codes
//     that does not quote the secret;
//   - it accepts only the exact signature of this very request: the v3 one within the
//     time window when any v3 header is present, else (unless v3 is required) a v2 one
//     marked v2;
//   - the request signed properly verifies, and fails once its body, method or URI
//     change.
func FuzzVerifySignature(f *testing.F) {
	now := time.UnixMilli(1_700_000_000_000)
	f.Fuzz(func(t *testing.T, secret, method, uri string, body []byte, sigV3, ts, sig, version string, flags uint8) {
		h := http.Header{}
		if flags&fuzzHasV3 != 0 {
			h[HeaderSignatureV3] = []string{sigV3}
		}
		if flags&fuzzHasTimestamp != 0 {
			h[HeaderTimestamp] = []string{ts}
		}
		if flags&fuzzHasSig != 0 {
			h[HeaderSignature] = []string{sig}
		}
		if flags&fuzzHasVersion != 0 {
			h[HeaderSignatureVersion] = []string{version}
		}
		policy := SignaturePolicy{RequireV3: flags&fuzzRequireV3 != 0}

		verify := func(secret, method, uri string, body []byte, h http.Header) error {
			t.Helper()
			err := policy.Verify(secret, method, uri, body, h, now)
			if err == nil {
				return nil
			}
			var se *SignatureError
			if !errors.As(err, &se) {
				t.Fatalf("error %v is not a *SignatureError", err)
			}
			if code := SignatureErrorCode(err); code != CodeInvalidSignature && code != CodeSignatureVersionRefused {
				t.Fatalf("error code %q", code)
			}
			msg := err.Error()
			if secret != "" && strings.Contains(msg, secret) {
				// Fixed words or echoed header text may contain a short secret by chance;
				// the same answer under another secret shows which.
				if other := policy.Verify(secret+"#", method, uri, body, h, now); other == nil || !strings.Contains(other.Error(), secret) {
					t.Fatalf("error quotes the secret: %v", err)
				}
			}
			if strings.Contains(msg, SignV2(secret, method, uri, body)) {
				t.Fatalf("error quotes the expected signature: %v", err)
			}
			return err
		}

		err := verify(secret, method, uri, body, h)
		if err == nil {
			switch {
			case secret == "":
				t.Fatal("accepted with no secret")
			case flags&(fuzzHasV3|fuzzHasTimestamp) != 0:
				ms, perr := strconv.ParseInt(ts, 10, 64)
				if flags&(fuzzHasV3|fuzzHasTimestamp) != fuzzHasV3|fuzzHasTimestamp || perr != nil ||
					sigV3 != SignV3(secret, method, uri, body, ts) || absDuration(now.Sub(time.UnixMilli(ms))) > MaxTimestampSkew {
					t.Fatalf("accepted a v3 request that is not exactly signed within the window: %q %q", sigV3, ts)
				}
			case policy.RequireV3:
				t.Fatal("accepted a request without v3 headers although v3 is required")
			case flags&fuzzHasVersion == 0 || !strings.EqualFold(version, "v2") ||
				strings.ToLower(sig) != SignV2(secret, method, uri, body):
				t.Fatalf("accepted a v2 request that is not exactly signed and marked v2: %q %q", sig, version)
			}
		}
		if secret == "" {
			return
		}

		// The same request, properly signed.
		good := strconv.FormatInt(now.Add(-time.Minute).UnixMilli(), 10)
		v3 := http.Header{}
		v3.Set(HeaderSignatureV3, SignV3(secret, method, uri, body, good))
		v3.Set(HeaderTimestamp, good)
		if err := verify(secret, method, uri, body, v3); err != nil {
			t.Fatalf("a properly v3-signed request was refused: %v", err)
		}
		for _, tamper := range []struct {
			what        string
			method, uri string
			body        []byte
		}{
			{"body", method, uri, append(bytes.Clone(body), 'x')},
			{"method", method + "X", uri, body},
			{"uri", method, uri + "/x", body},
		} {
			if err := verify(secret, tamper.method, tamper.uri, tamper.body, v3); err == nil {
				t.Fatalf("v3 signature still verifies with another %s", tamper.what)
			}
		}
		v2 := http.Header{}
		v2.Set(HeaderSignature, SignV2(secret, method, uri, body))
		v2.Set(HeaderSignatureVersion, "v2")
		err = verify(secret, method, uri, body, v2)
		switch {
		case policy.RequireV3 && SignatureErrorCode(err) != CodeSignatureVersionRefused:
			t.Fatalf("v2 under RequireV3: %v, want %s", err, CodeSignatureVersionRefused)
		case !policy.RequireV3 && err != nil:
			t.Fatalf("a properly v2-signed request was refused: %v", err)
		}
		// A v2 signature never survives beside a v3 header that is not the right one.
		v2.Set(HeaderSignatureV3, sigV3)
		v2.Set(HeaderTimestamp, good)
		if err := verify(secret, method, uri, body, v2); err == nil && sigV3 != v3.Get(HeaderSignatureV3) {
			t.Fatalf("valid v2 accepted beside a wrong v3 signature %q", sigV3)
		}
		// v1 (and no version, which means v1) is refused whatever its digest.
		v2.Del(HeaderSignatureV3)
		v2.Del(HeaderTimestamp)
		v2.Set(HeaderSignature, SignV1(secret, body))
		for _, ver := range []string{"v1", ""} {
			if ver == "" {
				v2.Del(HeaderSignatureVersion)
			} else {
				v2.Set(HeaderSignatureVersion, ver)
			}
			if err := verify(secret, method, uri, body, v2); SignatureErrorCode(err) != CodeSignatureVersionRefused {
				t.Fatalf("v1 signature (version %q): %v, want %s", ver, err, CodeSignatureVersionRefused)
			}
		}
	})
}

func absDuration(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
