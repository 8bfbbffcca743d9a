package webhook_test

// The receiver-side verification shown in README.md. TestReadmeSnippetInDocs keeps the Go
// snippet identical to this one; TestReadmeSnippetsVerifyRealRequests runs it, and the
// README's Node.js and Python snippets as they stand there, against real requests.

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/webhook"
)

// --- snippet start ---
// verifyHubline checks the v2 signature of a Send Data request's X-Hubline-Signature
// header, which covers the raw body and the Idempotency-Key header.
// body must be the raw request body, exactly as received.
func verifyHubline(secret, header, idempotencyKey string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v2":
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
	mac.Write([]byte(ts + "." + idempotencyKey + "."))
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
	if !strings.Contains(readme(t), strings.TrimSpace(snippet)) {
		t.Fatal("README.md does not contain the verifyHubline snippet of readme_snippet_test.go verbatim")
	}
}

func readme(t *testing.T) string {
	t.Helper()
	doc, err := os.ReadFile("../../docs/send-data-signature.md")
	if err != nil {
		t.Fatal(err)
	}
	return string(doc)
}

// readmeCode returns the code of the README's first fenced block in lang that contains
// marker, from the line holding marker up to and including the first line equal to end
// (to the block's end when end is "").
func readmeCode(t *testing.T, lang, marker, end string) string {
	t.Helper()
	blocks := strings.Split(readme(t), "```"+lang+"\n")
	for _, b := range blocks[1:] {
		code, _, _ := strings.Cut(b, "\n```")
		i := strings.Index(code, marker)
		if i < 0 {
			continue
		}
		code = code[strings.LastIndex(code[:i], "\n")+1:]
		if end == "" {
			return code + "\n"
		}
		j := strings.Index(code, "\n"+end+"\n")
		if j < 0 {
			t.Fatalf("README %s block with %q has no line %q", lang, marker, end)
		}
		return code[:j+len(end)+2]
	}
	t.Fatalf("README.md has no %s block containing %q", lang, marker)
	return ""
}

// snippetCase is one request as a receiver sees it, and whether it must verify.
type snippetCase struct {
	Name   string `json:"name"`
	Secret string `json:"secret"`
	Header string `json:"header"`
	Key    string `json:"key"`
	Body   string `json:"body"` // base64 of the raw body
	Want   bool   `json:"-"`
}

// TestReadmeSnippetsVerifyRealRequests: real signed requests, captured at a receiver, and
// tampered copies of them, go through every verifier the README shows (Go, Node.js, Python),
// webhook.VerifyV2, and an independent computation of the documented v1 and v2 formats.
func TestReadmeSnippetsVerifyRealRequests(t *testing.T) {
	type got struct {
		header, key string
		body        []byte
	}
	var mu sync.Mutex
	var reqs []got
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		mu.Lock()
		reqs = append(reqs, got{r.Header.Get("X-Hubline-Signature"), r.Header.Get("Idempotency-Key"), raw})
		mu.Unlock()
	}))
	defer srv.Close()
	send := func(now func() time.Time, secret, key, body string) got {
		t.Helper()
		c := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.1/32"), Now: now})
		res, err := c.Send(context.Background(), webhook.Request{URL: srv.URL, Body: []byte(body), ContentType: "text/plain", Secret: secret, IdempotencyKey: key})
		if err != nil || res.Status != 200 {
			t.Fatalf("send: %v %+v", err, res)
		}
		mu.Lock()
		defer mu.Unlock()
		return reqs[len(reqs)-1]
	}
	const key = "6f1c2a4e-8b0d-5f3a-9c7e-2d4b6a8c0e1f"
	json1 := send(time.Now, "whsec", key, `{"name":"Aiko","note":"日本語 \"quoted\""}`)
	text := send(time.Now, "whsec", key, "plain text\nwith lines, and a . dot")
	stale := send(func() time.Time { return time.Now().Add(-10 * time.Minute) }, "whsec", key, "x")
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	v1Only, _, _ := strings.Cut(json1.header, ",v2=")
	textV1, _, _ := strings.Cut(text.header, ",v2=")
	cases := []snippetCase{
		{"json body", "whsec", json1.header, json1.key, b64(json1.body), true},
		{"text body", "whsec", text.header, text.key, b64(text.body), true},
		{"rotation: an unknown v2 first, unknown schemes ignored", "whsec",
			strings.Replace(text.header, ",v2=", ",v2="+strings.Repeat("00", 32)+",v2=", 1) + ",v9=zz", text.key, b64(text.body), true},
		{"replayed under another Idempotency-Key", "whsec", json1.header, "00000000-0000-0000-0000-000000000000", b64(json1.body), false},
		{"no Idempotency-Key", "whsec", json1.header, "", b64(json1.body), false},
		{"tampered body", "whsec", json1.header, json1.key, b64(append([]byte(" "), json1.body...)), false},
		{"wrong secret", "other", json1.header, json1.key, b64(json1.body), false},
		{"v1 only (v2 stripped)", "whsec", v1Only, json1.key, b64(json1.body), false},
		{"outside the tolerance window", "whsec", stale.header, stale.key, b64(stale.body), false},
		{"no header", "whsec", "", key, b64(json1.body), false},
		{"non-ASCII signature", "whsec", textV1 + ",v2=日本", text.key, b64(text.body), false},
		{"non-ASCII digits in the timestamp", "whsec", "t=²" + text.header[strings.Index(text.header, ","):], text.key, b64(text.body), false},
	}
	if json1.key != key || text.key != key {
		t.Fatalf("Idempotency-Key sent: %q %q", json1.key, text.key)
	}
	// The header format itself, computed independently: v1 as it always was, then v2.
	for _, r := range []got{json1, text} {
		var ts, v1, v2 string
		if _, err := fmt.Sscanf(strings.ReplaceAll(r.header, ",", " "), "t=%s v1=%s v2=%s", &ts, &v1, &v2); err != nil ||
			r.header != "t="+ts+",v1="+v1+",v2="+v2 {
			t.Fatalf("header %q is not t=...,v1=...,v2=... (%v)", r.header, err)
		}
		if v1 != hexMAC("whsec", ts+"."+string(r.body)) || v2 != hexMAC("whsec", ts+"."+r.key+"."+string(r.body)) {
			t.Fatalf("header %q does not match the documented v1/v2 strings", r.header)
		}
	}

	verdicts := map[string]func(*testing.T, []snippetCase) []bool{
		"webhook.VerifyV2": func(t *testing.T, cs []snippetCase) []bool {
			return each(cs, func(c snippetCase, body []byte) bool {
				return webhook.VerifyV2(c.Secret, c.Header, c.Key, body, time.Now(), 5*time.Minute) == nil
			})
		},
		"Go snippet": func(t *testing.T, cs []snippetCase) []bool {
			return each(cs, func(c snippetCase, body []byte) bool {
				return verifyHubline(c.Secret, c.Header, c.Key, body, time.Now(), 5*time.Minute) == nil
			})
		},
		"Node.js snippet": func(t *testing.T, cs []snippetCase) []bool {
			code := "const crypto = require(\"crypto\");\n" + readmeCode(t, "js", "function verifyHubline(", "}") + `
const cases = JSON.parse(require("fs").readFileSync(0, "utf8"));
console.log(JSON.stringify(cases.map((c) => verifyHubline(c.secret, c.header, c.key, Buffer.from(c.body, "base64")))));
`
			return runSnippet(t, cs, "node", "-e", code)
		},
		"Python snippet": func(t *testing.T, cs []snippetCase) []bool {
			code := readmeCode(t, "python", "import hashlib", "") + `
import base64, json, sys
cases = json.load(sys.stdin)
print(json.dumps([verify_hubline(c["secret"], c["header"], c["key"], base64.b64decode(c["body"])) for c in cases]))
`
			return runSnippet(t, cs, "python3", "-c", code)
		},
	}
	want := each(cases, func(c snippetCase, _ []byte) bool { return c.Want })
	for name, verify := range verdicts {
		t.Run(name, func(t *testing.T) {
			got := verify(t, cases)
			if got == nil {
				return // skipped
			}
			for i, c := range cases {
				if i >= len(got) || got[i] != want[i] {
					t.Errorf("%s: verified=%v, want %v", c.Name, i < len(got) && got[i], want[i])
				}
			}
		})
	}
}

func each(cs []snippetCase, f func(snippetCase, []byte) bool) []bool {
	out := make([]bool, len(cs))
	for i, c := range cs {
		body, _ := base64.StdEncoding.DecodeString(c.Body)
		out[i] = f(c, body)
	}
	return out
}

func hexMAC(secret, s string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return hex.EncodeToString(m.Sum(nil))
}

// runSnippet runs a README snippet with its interpreter, the cases on stdin, and reads one
// JSON array of booleans. Without the interpreter the test is skipped, saying so.
func runSnippet(t *testing.T, cs []snippetCase, interpreter string, args ...string) []bool {
	t.Helper()
	path, err := exec.LookPath(interpreter)
	if err != nil {
		t.Skipf("%s is not installed: the README's snippet for it was not run", interpreter)
		return nil
	}
	in, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", interpreter, err, stderr.String())
	}
	var got []bool
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("%s printed %q: %v", interpreter, out, err)
	}
	return got
}

// TestReadmeNodeReceiverServes runs the README's whole Node.js receiver, as a reader would
// paste it, in a directory with no node_modules (so it needs nothing installed), and sends it
// real Send Data requests: signed ones get 204, others 401; it listens on loopback only.
func TestReadmeNodeReceiverServes(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: the README's Node.js receiver was not run")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "-e", readmeCode(t, "js", `const crypto = require("crypto");`, ""))
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HUBLINE_SECRET=whsec", "PORT="+port, "NODE_PATH=")
	var stderr, stdout bytes.Buffer
	cmd.Stderr, cmd.Stdout = &stderr, &stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	defer func() { cancel(); <-exited }()
	base := "http://127.0.0.1:" + port
	for {
		c, err := net.Dial("tcp", "127.0.0.1:"+port)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("the receiver exited: %v\n%s", waitErr, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
	}

	c := webhook.NewClient(webhook.Options{Allow: allow(t, "127.0.0.1/32")})
	for _, tc := range []struct {
		name, url, secret string
		want              int
	}{
		{"signed", base + "/hook", "whsec", 204},
		{"another secret", base + "/hook", "other", 401},
		{"unsigned", base + "/hook", "", 401},
		{"another path", base + "/other", "whsec", 404},
	} {
		res, err := c.Send(ctx, webhook.Request{URL: tc.url, Body: []byte(`{"name":"Aiko"}`), ContentType: "application/json",
			Secret: tc.secret, IdempotencyKey: "6f1c2a4e-8b0d-5f3a-9c7e-2d4b6a8c0e1f"})
		if err != nil || res.Status != tc.want {
			t.Errorf("%s: %+v %v, want %d", tc.name, res, err, tc.want)
		}
	}
	// Loopback only: the machine's other addresses do not reach it.
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		ip, ok := a.(*net.IPNet)
		if !ok || ip.IP.IsLoopback() || ip.IP.To4() == nil {
			continue
		}
		if conn, err := net.DialTimeout("tcp", net.JoinHostPort(ip.IP.String(), port), time.Second); err == nil {
			conn.Close()
			t.Errorf("the receiver answers on %s: it should bind 127.0.0.1 only", ip.IP)
		}
	}
	// The reader sees what arrived, once: only the verified request is printed.
	cancel()
	<-exited
	if got, want := stdout.String(), "verified 6f1c2a4e-8b0d-5f3a-9c7e-2d4b6a8c0e1f: {\"name\":\"Aiko\"}\n"; got != want {
		t.Errorf("the receiver printed %q, want %q", got, want)
	}
}
