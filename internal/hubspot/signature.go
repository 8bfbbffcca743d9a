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

// SignatureError reports why a request signature was rejected. The reason
// never contains the secret or the expected signature.
type SignatureError struct {
	Reason string
}

func (e *SignatureError) Error() string {
	return "hubspot signature rejected: " + e.Reason
}

// SignV1 returns hex(sha256(secret + body)).
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

// VerifySignature checks a HubSpot request signature. uri is the full URI
// (scheme, host, path and raw query) exactly as HubSpot called it, which behind
// a proxy means the public base URL. v3 is preferred when its header is
// present; otherwise the older X-HubSpot-Signature is checked.
func VerifySignature(secret, method, uri string, body []byte, h http.Header, now time.Time) error {
	if secret == "" {
		return &SignatureError{Reason: "no client secret configured"}
	}
	if sig := h.Get(HeaderSignatureV3); sig != "" {
		ts := h.Get(HeaderTimestamp)
		if ts == "" {
			return &SignatureError{Reason: "missing " + HeaderTimestamp + " header"}
		}
		ms, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return &SignatureError{Reason: "malformed " + HeaderTimestamp + " header"}
		}
		skew := now.Sub(time.UnixMilli(ms))
		if skew > MaxTimestampSkew {
			return &SignatureError{Reason: "request timestamp is older than 5 minutes"}
		}
		if skew < -MaxTimestampSkew {
			return &SignatureError{Reason: "request timestamp is more than 5 minutes in the future"}
		}
		got, err := base64.StdEncoding.DecodeString(sig)
		if err != nil {
			return &SignatureError{Reason: "malformed v3 signature"}
		}
		if !hmac.Equal(got, signV3Raw(secret, method, uri, body, ts)) {
			return &SignatureError{Reason: "v3 signature does not match"}
		}
		return nil
	}
	sig := h.Get(HeaderSignature)
	if sig == "" {
		return &SignatureError{Reason: "missing signature"}
	}
	var want string
	switch v := strings.ToLower(h.Get(HeaderSignatureVersion)); v {
	case "v2", "":
		want = SignV2(secret, method, uri, body)
	case "v1":
		want = SignV1(secret, body)
	default:
		if len(v) > 8 {
			v = v[:8] // the header is caller-controlled; keep the message short
		}
		return &SignatureError{Reason: "unsupported signature version " + strconv.Quote(v)}
	}
	// Hex is compared after decoding so letter case does not matter.
	got, err := hex.DecodeString(sig)
	if err != nil {
		return &SignatureError{Reason: "malformed signature"}
	}
	wantRaw, _ := hex.DecodeString(want)
	if subtle.ConstantTimeCompare(got, wantRaw) != 1 {
		return &SignatureError{Reason: "signature does not match"}
	}
	return nil
}
