// Package hubspot is a small client for the parts of the HubSpot API that
// hubline needs: request signature checks for custom workflow actions,
// completing blocked executions, timeline events and contact reads.
package hubspot

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxTimestampSkew is how far a v3 request timestamp may be from now.
// HubSpot documents rejecting requests older than five minutes; we apply the
// same bound to timestamps in the future so a captured request cannot be
// pre-dated for later replay.
const MaxTimestampSkew = 5 * time.Minute

// Header names HubSpot uses to sign requests.
const (
	HeaderSignature        = "X-HubSpot-Signature"
	HeaderSignatureVersion = "X-HubSpot-Signature-Version"
	HeaderSignatureV3      = "X-HubSpot-Signature-v3"
	HeaderTimestamp        = "X-HubSpot-Request-Timestamp"
)

// Codes of the HTTP error answered for a refused signature (401).
const (
	// CodeInvalidSignature: missing, malformed, wrong or expired.
	CodeInvalidSignature = "invalid_signature"
	// CodeSignatureVersionRefused: signed with a version this deployment refuses (v1, or v2
	// under HUBLINE_REQUIRE_SIGNATURE_V3).
	CodeSignatureVersionRefused = "signature_version_refused"
)

// SignatureError reports why a request signature was rejected. The reason
// never contains the secret or the expected signature.
type SignatureError struct {
	// Code is CodeInvalidSignature or CodeSignatureVersionRefused.
	Code   string
	Reason string
}

func (e *SignatureError) Error() string {
	return "hubspot signature rejected: " + e.Reason
}

func invalid(reason string) error {
	return &SignatureError{Code: CodeInvalidSignature, Reason: reason}
}

func refused(reason string) error {
	return &SignatureError{Code: CodeSignatureVersionRefused, Reason: reason}
}

// SignatureErrorCode is the error code to answer for an error of Verify:
// the SignatureError's code, else CodeInvalidSignature.
func SignatureErrorCode(err error) string {
	var se *SignatureError
	if errors.As(err, &se) && se.Code != "" {
		return se.Code
	}
	return CodeInvalidSignature
}

// SignV1 returns hex(sha256(secret + body)). Verification refuses v1: it binds
// neither method nor URI, so a body signed for one endpoint is valid for all.
// It stays for tests that prove the refusal.
func SignV1(secret string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// SignV2 returns hex(sha256(secret + method + uri + body)).
func SignV2(secret, method, uri string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(secret))
	h.Write([]byte(method))
	h.Write([]byte(uri))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// SignV3 returns base64(HMAC-SHA256(secret, method + normalised uri + body + timestamp)).
func SignV3(secret, method, uri string, body []byte, timestamp string) string {
	return base64.StdEncoding.EncodeToString(signV3Raw(secret, method, uri, body, timestamp))
}

func signV3Raw(secret, method, uri string, body []byte, timestamp string) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(method))
	m.Write([]byte(normalizeV3URI(uri)))
	m.Write(body)
	m.Write([]byte(timestamp))
	return m.Sum(nil)
}

// v3Decoded is the set of characters HubSpot decodes before signing; any other
// percent-escape (for example %20) must stay encoded or signatures won't match.
const v3Decoded = ":/?@!$'()*,;"

func normalizeV3URI(uri string) string {
	if !strings.Contains(uri, "%") {
		return uri
	}
	var b strings.Builder
	b.Grow(len(uri))
	for i := 0; i < len(uri); i++ {
		if uri[i] == '%' && i+2 < len(uri) {
			if v, err := strconv.ParseUint(uri[i+1:i+3], 16, 8); err == nil && strings.IndexByte(v3Decoded, byte(v)) >= 0 {
				b.WriteByte(byte(v))
				i += 2
				continue
			}
		}
		b.WriteByte(uri[i])
	}
	return b.String()
}

// SignaturePolicy says which signature versions are accepted. v1 never is. The
// zero value accepts v3, and v2 from requests that carry no v3 header.
type SignaturePolicy struct {
	// RequireV3 refuses v2 as well (HUBLINE_REQUIRE_SIGNATURE_V3). v2 has no
	// timestamp, so a captured v2 request stays valid for ever; portals that
	// send v3 sign with both, and this stops anyone replaying the v2 half.
	RequireV3 bool
}

// VerifySignature checks a HubSpot request signature under the default policy.
func VerifySignature(secret, method, uri string, body []byte, h http.Header, now time.Time) error {
	return SignaturePolicy{}.Verify(secret, method, uri, body, h, now)
}

// Verify checks a HubSpot request signature. uri is the full URI (scheme, host,
// path and raw query) exactly as HubSpot called it, which behind a proxy means
// the public base URL. A request that carries any v3 header is judged by v3
// alone, so stripping or spoiling the v3 signature never falls back to v2.
func (p SignaturePolicy) Verify(secret, method, uri string, body []byte, h http.Header, now time.Time) error {
	if secret == "" {
		return invalid("no client secret configured")
	}
	// One value each: with two, which one a proxy or a check reads would decide.
	for _, name := range []string{HeaderSignatureV3, HeaderTimestamp, HeaderSignature, HeaderSignatureVersion} {
		if len(h.Values(name)) > 1 {
			return invalid("more than one " + name + " header")
		}
	}
	if len(h.Values(HeaderSignatureV3)) > 0 || len(h.Values(HeaderTimestamp)) > 0 {
		return verifyV3(secret, method, uri, body, h, now)
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return invalid("missing signature")
	}
	if p.RequireV3 {
		return refused("a v3 signature is required (HUBLINE_REQUIRE_SIGNATURE_V3); " + HeaderSignature + " is not accepted")
	}
	switch v := strings.ToLower(h.Get(HeaderSignatureVersion)); v {
	case "v2":
	case "v1", "":
		// Without a version header HubSpot means v1.
		return refused("v1 signatures are refused: they cover neither method nor URI (sign with v2 or v3)")
	default:
		if len(v) > 8 {
			v = v[:8] // the header is caller-controlled; keep the message short
		}
		return invalid("unsupported signature version " + strconv.Quote(v))
	}
	// Hex is compared after decoding so letter case does not matter.
	got, err := hex.DecodeString(sig)
	if err != nil {
		return invalid("malformed signature")
	}
	want, _ := hex.DecodeString(SignV2(secret, method, uri, body))
	if subtle.ConstantTimeCompare(got, want) != 1 {
		return invalid("signature does not match")
	}
	return nil
}

func verifyV3(secret, method, uri string, body []byte, h http.Header, now time.Time) error {
	sig, ts := h.Get(HeaderSignatureV3), h.Get(HeaderTimestamp)
	switch {
	case sig == "":
		return invalid("missing " + HeaderSignatureV3 + " header")
	case ts == "":
		return invalid("missing " + HeaderTimestamp + " header")
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return invalid("malformed " + HeaderTimestamp + " header")
	}
	skew := now.Sub(time.UnixMilli(ms))
	if skew > MaxTimestampSkew {
		return invalid("request timestamp is older than 5 minutes")
	}
	if skew < -MaxTimestampSkew {
		return invalid("request timestamp is more than 5 minutes in the future")
	}
	if _, err := base64.StdEncoding.DecodeString(sig); err != nil {
		return invalid("malformed v3 signature")
	}
	// The exact encoding is compared: base64 decoding tolerates variants (line
	// breaks, stray padding bits) that are not the signature HubSpot sent.
	want := SignV3(secret, method, uri, body, ts)
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return invalid("v3 signature does not match")
	}
	return nil
}
