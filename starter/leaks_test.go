package starter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporaltest"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/internal/testenv"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
)

// temporalOwn are goroutines the in-process Temporal server and the SDK keep for as long
// as the server or client lives (not hubline's, and not ended by stopping hubline).
// The list holds for the pinned versions (sdk v1.50.0, server v1.32.1); each names a
// function found in those goroutines' stacks, never a package of hubline or a generic wait.
var temporalOwn = func() []goleak.Option {
	var o []goleak.Option
	for _, f := range []string{
		// Workflow coroutines the SDK keeps in its process-wide workflow cache.
		"go.temporal.io/sdk/internal.(*coroutineState).initialYield",
		// gRPC connections and streams of the SDK client and of the server's own services.
		"google.golang.org/grpc/internal/transport.(*ClientStream).waitOnHeader",
		"google.golang.org/grpc/internal/transport.(*controlBuffer).get",
		"google.golang.org/grpc/internal/transport.(*http2Server).keepalive",
		"google.golang.org/grpc/internal/transport/readyreader.(*bufReadyReader).Read",
		"google.golang.org/grpc/internal/grpcsync.(*CallbackSerializer).run",
		// Task queue partitions the matching service loads on first use and keeps for minutes,
		// and the pollers still parked there after the worker stopped.
		"go.temporal.io/server/common/util.InterruptibleSleep",
		"go.temporal.io/server/service/matching.(*taskQueuePartitionManagerImpl).emitLogicalBacklogMetrics",
		"go.temporal.io/server/service/matching.(*taskQueuePartitionManagerImpl).updateEphemeralData",
		"go.temporal.io/server/service/matching.(*priTaskWriter).taskWriterLoop",
		"go.temporal.io/server/service/matching.(*fairTaskWriter).taskWriterLoop",
		"go.temporal.io/server/service/matching.(*priTaskReader).getTasksPump",
		"go.temporal.io/server/service/matching.(*priBacklogManagerImpl).periodicSync",
		"go.temporal.io/server/service/matching.(*fairBacklogManagerImpl).periodicSync",
		"go.temporal.io/server/service/matching.(*userDataManagerImpl).HandleGetUserDataRequest",
		"go.temporal.io/server/service/matching.(*waitableMatchResult).waitForMatch",
		"go.temporal.io/server/service/matching.(*scaleManager).backgroundWork",
		"go.temporal.io/server/service/matching.(*matchingEngineImpl).ListNexusEndpoints",
		"go.temporal.io/server/service/history/queues.(*ReaderImpl).eventLoop",
		// The server's membership (ringpop) channel.
		"github.com/temporalio/tchannel-go.(*messageExchange).recvPeerFrame",
	} {
		o = append(o, goleak.IgnoreAnyFunction(f))
	}
	return o
}()

// TestNoGoroutineLeftAfterShutdown serves a burst of mixed valid and invalid requests with
// the real starter (its production Serve, on a real listener) and worker, on temporaltest
// with the LINE and HubSpot sandboxes, shuts both down, and checks that no goroutine
// started since is left: handlers, queue committers, activities and their LINE and
// HubSpot clients all end with the shutdown.
func TestNoGoroutineLeftAfterShutdown(t *testing.T) {
	leaked := make(chan struct{})
	defer close(leaked)
	for _, tc := range []struct {
		name string
		// leak adds a middleware that leaves one goroutine behind: the deliberate leak that
		// proves the check catches a handler's goroutine.
		leak bool
	}{{"clean", false}, {"deliberate handler leak is caught", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var leak gin.HandlerFunc
			if tc.leak {
				var once sync.Once
				leak = func(*gin.Context) { once.Do(func() { go func() { <-leaked }() }) }
			}
			err := burstAndShutdown(t, leak)
			switch {
			case !tc.leak && err != nil:
				t.Fatalf("goroutines left after shutdown:\n%v", err)
			case tc.leak && (err == nil || !strings.Contains(err.Error(), "TestNoGoroutineLeftAfterShutdown")):
				t.Fatalf("a handler's leaked goroutine went unnoticed: %v", err)
			}
		})
	}
}

// burstAndShutdown runs one starter and worker through a burst and their shutdown, and
// returns goleak's finding (nil: nothing left).
func burstAndShutdown(t *testing.T, leak gin.HandlerFunc) error {
	log := zap.NewNop()
	ts := temporaltest.NewServer(temporaltest.WithT(t), temporaltest.WithBaseClientOptions(client.Options{Logger: logging.Temporal(log)}))
	c := ts.GetDefaultClient()
	testenv.AddSearchAttributes(t, c, ts.GetDefaultNamespace())
	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"line-token-1": "account 1"}})
	hubBox := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "hubspot-test-token"})
	hubBox.SetContact("3001", map[string]string{"line_user_id": canaryUserID})
	// The fakes serve on their own servers, closed before the check like the rest.
	lineSrv, hubSrv := &http.Server{Handler: lineBox}, &http.Server{Handler: hubBox}

	// Everything already running is the Temporal server's and client's own.
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, temporalOwn...)

	lineURL, stopLine := serveOn(t, lineSrv)
	hubURL, stopHub := serveOn(t, hubSrv)
	tr := &http.Transport{}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	lc, err := line.NewClient(lineURL, "line-token-1", hc)
	if err != nil {
		t.Fatal(err)
	}
	acts := &activities.Activities{
		LINE: map[int]*line.Client{1: lc}, Logger: log, Temporal: c, TimelineEventTemplateID: "test-template",
		Timeline: activities.TimelineEvents, LinePushRate: map[int]int{1: 500},
		HubSpot: hubspot.NewClient(hubspot.Options{BaseURL: hubURL, Tokens: hubspot.StaticToken("hubspot-test-token"), HTTPClient: hc, Logger: log}),
	}
	workers := worker.New(c, acts, 5*time.Second)
	lineWorkers := worker.NewLine(c, acts, []int{1}, 5*time.Second)
	stopWorkers, err := worker.Start(workers, lineWorkers)
	if err != nil {
		t.Fatal(err)
	}

	st := starter.New(starter.Options{
		Temporal: c, Logger: log, ClientSecret: testenv.Secret, Accounts: map[int]bool{1: false},
		BlockExpiration: time.Hour, BlockExpirationISO: "PT1H",
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + l.Addr().String()
	st.SetPublicURL(base)
	if leak != nil {
		// Middleware added after the routes reaches only the not-found handler: enough.
		st.Handler().(*gin.Engine).Use(leak)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- st.Serve(ctx, l, 5*time.Second) }()

	burst(t, base, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{}})
	// v1, v2 and queue recipients: 20 each, delivered before the shutdown.
	testenv.Eventually(t, "deliveries", 90*time.Second, func() bool { return lineBox.DeliveryCount() >= 60 })

	cancel()
	if err := <-served; err != nil {
		t.Fatalf("serve: %v", err)
	}
	stopWorkers()
	tr.CloseIdleConnections()
	stopLine()
	stopHub()
	return ours(goleak.Find(opts...))
}

// ours keeps goleak's finding only for goroutines running hubline's code or net/http's
// (servers, clients, transports: the in-process Temporal server and the SDK speak gRPC). The
// Temporal server starts and ends goroutines of its own at any time (ringpop events, task
// queue partitions), which no list of names can keep up with on a loaded machine; a goroutine
// hubline leaks, directly or through an HTTP server or client it did not close, names one
// of the two.
func ours(err error) error {
	if err == nil {
		return nil
	}
	var kept []string
	for _, g := range strings.Split(err.Error(), "Goroutine ")[1:] {
		if strings.Contains(g, "github.com/hubline/hubline") || strings.Contains(g, "net/http.") {
			kept = append(kept, "Goroutine "+g)
		}
	}
	if len(kept) == 0 {
		return nil
	}
	return fmt.Errorf("found unexpected goroutines:\n%s", strings.Join(kept, "\n"))
}

func serveOn(t *testing.T, srv *http.Server) (string, func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = srv.Close() }
}

// burst sends mixed valid and invalid requests, 16 at a time, and waits for every answer;
// a client that idles on an open connection and one that hangs up mid-body are in it too.
func burst(t *testing.T, base string, hc *http.Client) {
	t.Helper()
	type req struct {
		method, path string
		body         []byte
		sign         bool
		want         int
	}
	raw := func(b any) []byte { j, _ := json.Marshal(b); return j }
	var reqs []req
	for i := range 20 {
		uid := fmt.Sprintf("U%032x", 0xbeef0000+i)
		v1 := raw(testenv.Action(fmt.Sprintf("leak-v1-%d", i), map[string]string{"line_user_id": uid, "message_1": "hi"}, nil))
		q := raw(testenv.Action(fmt.Sprintf("leak-q-%d", i), map[string]string{"line_user_id": uid, "message_1": "hi"}, nil))
		v2 := testenv.Action(fmt.Sprintf("leak-v2-%d", i), map[string]string{"message_1": "hi"}, nil)
		v2["object"] = map[string]any{"objectId": 3001, "objectType": "CONTACT", "properties": map[string]any{}}
		reqs = append(reqs,
			req{"POST", "/actions/send-line-message", v1, true, 200},
			req{"POST", "/actions/send-line-message-queue", q, true, 200},
			req{"POST", "/actions/send-line-message-v2", raw(v2), true, 200},
			req{"POST", "/actions/send-line-message", v1, false, 401},
			req{"POST", "/actions/send-line-message", append(v1, '{'), true, 400},
			req{"POST", "/actions/send-data", raw(testenv.Action(fmt.Sprintf("leak-sd-%d", i), map[string]string{
				"webhook_url": "http://169.254.169.254/", "data": "x"}, nil)), true, 200},
			req{"POST", "/actions/options/line-account", raw(map[string]any{"origin": map[string]any{"portalId": 1}}), true, 200},
			req{"POST", "/actions/send-line-message", bytes.Repeat([]byte("x"), starter.MaxBodyBytes+1), true, 413},
			req{"GET", "/actions/send-line-message", nil, false, 405},
			req{"GET", "/no-such-route", nil, false, 404},
			req{"GET", "/healthz", nil, false, 200},
		)
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	errs := make(chan error, len(reqs))
	for _, r := range reqs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			hr, _ := http.NewRequest(r.method, base+r.path, bytes.NewReader(r.body))
			hr.Header.Set("Content-Type", "application/json")
			if r.sign {
				testenv.SignV3(hr, r.body, time.Now())
			}
			resp, err := hc.Do(hr)
			if err != nil {
				errs <- err
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != r.want {
				errs <- fmt.Errorf("%s %s: %d %s, want %d", r.method, r.path, resp.StatusCode, b, r.want)
			}
		}()
	}
	// A client that connects and sends nothing, and one that stops mid-body: shutdown must
	// not wait on them forever nor leave their goroutines.
	idle, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	half, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(half, "POST /actions/send-line-message HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"call")
	half.Close()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}
