package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"
)

// SignatureHeader carries the signature of a signed Send Data request.
const SignatureHeader = "X-Hubline-Signature"

// Sign returns the X-Hubline-Signature value for body sent at t with the given
// Idempotency-Key header value:
//
//	t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>,v2=<hex HMAC-SHA256(secret, "<t>.<key>.<body>")>
//
// v1 is unchanged from the first release, so receivers written for it keep verifying; v2
// also covers the Idempotency-Key, so a captured request cannot be replayed under another
// key to get past a receiver's deduplication. hubline's keys are UUIDs (no '.'), so the
// v2 string splits unambiguously.
func Sign(secret string, t time.Time, idempotencyKey string, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + hex.EncodeToString(macV1(secret, ts, body)) +
		",v2=" + hex.EncodeToString(macV2(secret, ts, idempotencyKey, body))
}

func macV1(secret, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

func macV2(secret, ts, idempotencyKey string, body []byte) []byte {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write([]byte(idempotencyKey))
	m.Write([]byte("."))
	m.Write(body)
	return m.Sum(nil)
}

// Errors returned by Verify and VerifyV2.
var (
	ErrNoSignature       = errors.New("webhook: no X-Hubline-Signature header")
	ErrMalformed         = errors.New("webhook: malformed X-Hubline-Signature header")
	ErrOutsideTolerance  = errors.New("webhook: signature timestamp outside the tolerance window")
	ErrSignatureMismatch = errors.New("webhook: signature does not match the body")
)

// Verify checks the v1 signature of an X-Hubline-Signature header against the raw request
// body, as a receiver written before v2 does: the timestamp must be within tolerance of
// now (either way; replays older than that are refused), and one of the v1 signatures must
// match in constant time.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, err := parseSignature(header, "v1", now, tolerance)
	if err != nil {
		return err
	}
	return matchAny(sigs, macV1(secret, ts, body))
}

// VerifyV2 checks the v2 signature, which also covers the request's Idempotency-Key header
// value, as receivers should: like Verify, but one of the v2 signatures must match.
func VerifyV2(secret, header, idempotencyKey string, body []byte, now time.Time, tolerance time.Duration) error {
	ts, sigs, err := parseSignature(header, "v2", now, tolerance)
	if err != nil {
		return err
	}
	return matchAny(sigs, macV2(secret, ts, idempotencyKey, body))
}

// parseSignature returns the timestamp and the signatures of one scheme; entries of other
// schemes are ignored (but must be well-formed).
func parseSignature(header, scheme string, now time.Time, tolerance time.Duration) (string, [][]byte, error) {
	header = strings.TrimSpace(header)
	if header == "" {
		return "", nil, ErrNoSignature
	}
	var ts string
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return "", nil, ErrMalformed
		}
		switch k {
		case "t":
			ts = v
		case scheme:
			b, err := hex.DecodeString(v)
			if err != nil {
				return "", nil, ErrMalformed
			}
			sigs = append(sigs, b)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return "", nil, ErrMalformed
	}
	age := now.Sub(time.Unix(sec, 0))
	if age > tolerance || age < -tolerance {
		return "", nil, ErrOutsideTolerance
	}
	return ts, sigs, nil
}

func matchAny(sigs [][]byte, want []byte) error {
	for _, s := range sigs {
		if hmac.Equal(s, want) {
			return nil
		}
	}
	return ErrSignatureMismatch
}
