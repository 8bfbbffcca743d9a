package webhook_test

// The receiver-side verification shown in README.md. TestReadmeSnippetInDocs
// keeps the two identical; TestReceiverVerifiesRealRequests runs it against real requests.

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// --- snippet start ---
// verifyHubline checks the X-Hubline-Signature header of a Send Data request.
// body must be the raw request body, exactly as received.
func verifyHubline(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return errors.New("signature timestamp outside the tolerance window")
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	want := mac.Sum(nil)
	for _, s := range sigs {
		if got, err := hex.DecodeString(s); err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("signature mismatch")
}

// --- snippet end ---

// TestReadmeSnippetInDocs keeps the Go snippet in README.md ("Verifying a Send Data signature
// on the receiving end") identical to the one the tests run.
func TestReadmeSnippetInDocs(t *testing.T) {
	src, err := os.ReadFile("readme_snippet_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(src), "// --- snippet start ---\n")
	snippet, _, _ := strings.Cut(rest, "// --- snippet end ---")
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), strings.TrimSpace(snippet)) {
		t.Fatal("README.md does not contain the verifyHubline snippet of readme_snippet_test.go verbatim")
	}
}
