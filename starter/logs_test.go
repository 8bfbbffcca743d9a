package starter_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// logCapture is hubline's one logger writing JSON, as in production, at debug level so
// debug lines are checked too, into a buffer the test searches.
type logCapture struct {
	mu  sync.Mutex
	buf bytes.Buffer
	Log *zap.Logger
}

func (c *logCapture) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *logCapture) Sync() error { return nil }

func (c *logCapture) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func captureLogs(t *testing.T) *logCapture {
	t.Helper()
	c := &logCapture{}
	enc := zap.NewProductionEncoderConfig()
	c.Log = zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), c, zap.DebugLevel))
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("captured logs:\n%s", c.String())
		}
	})
	return c
}

// canaryUserID is a full LINE user ID whose every part is distinctive; logs may show its
// first five characters (logging.UserID), never more.
const canaryUserID = "Uc0ffee5eb7d1e4a3b2c1d0e9f8a7b6c5"

// canaryUserMiddle is the user ID without the prefix logs may keep and without its tail.
var canaryUserMiddle = canaryUserID[5:28]

// canaries name each secret or private value a test feeds in, so a failure says which
// one leaked.
type canaries map[string]string

// assertNoCanaries fails for each canary found anywhere in the captured output.
func (c *logCapture) assertNoCanaries(t *testing.T, cs canaries) {
	t.Helper()
	out := c.String()
	for name, v := range cs {
		if v == "" {
			t.Fatalf("canary %s is empty", name)
		}
		if i := strings.Index(out, v); i >= 0 {
			t.Errorf("%s (%q) reached the logs: ...%s...", name, v, excerpt(out, i, len(v)))
		}
	}
}

// assertLogged fails unless each text occurs in the output: the capture is not vacuous
// (the logger really reached that component, at that level).
func (c *logCapture) assertLogged(t *testing.T, texts ...string) {
	t.Helper()
	out := c.String()
	for _, s := range texts {
		if !strings.Contains(out, s) {
			t.Errorf("expected %q in the captured logs; the logger did not reach its component", s)
		}
	}
}

func excerpt(s string, i, n int) string {
	from, to := max(0, i-200), min(len(s), i+n+200)
	return s[from:to]
}
