package main

// hubline chaos: the fault suite. Each scenario starts a fresh stack as separate processes
// (an embedded Temporal server on a SQLite file, `hubline worker`, `hubline starter`) with
// the LINE and HubSpot fakes in this process, sends a mixed load (Send LINE Message v1 and
// by Queue) the way HubSpot does (retrying 429s, 5xx and broken connections), breaks one
// thing mid-run, waits for every callback and counts at the fakes. line-webhook
// (chaos_webhook.go) sends LINE webhooks instead and counts contacts.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/workflows"
)

const chaosUsage = "chaos [--recipients 300] [--scenario all|" + chaosScenarioList + "] [--outage 60s] [--timeout 10m] [--json], or " + chaosLoadUsage

const chaosScenarioList = "line-faults|worker-kill|server-kill|starter-kill|redelivery|callbacks-down|line-webhook"

// chaosRow is one scenario's outcome, counted at the fakes. In line-webhook, recipients are
// LINE friends, delivered once counts friends with exactly one contact, duplicates the
// extra contacts, lost the friends without one; it has no callbacks, and its own columns.
type chaosRow struct {
	Scenario   string  `json:"scenario"`
	Recipients int     `json:"recipients"`
	Once       int     `json:"delivered_once"`
	Duplicates int     `json:"duplicates"`
	Lost       int     `json:"lost"`
	Callbacks  int     `json:"callbacks_completed"`
	Failed     int     `json:"callbacks_not_success"`
	Twice      int     `json:"callbacks_completed_again_refused"`
	Drain      float64 `json:"seconds_to_drain"`
	Error      string  `json:"error,omitempty"`

	// line-webhook: deliveries answered 200, 503 or not at all (the last two redelivered), the
	// events sent (webhookEventIds) and their LineEvent workflows completed, and friends
	// whose contact has the wrong follow status.
	Webhooks200        int `json:"webhooks_answered_200,omitempty"`
	Webhooks503        int `json:"webhooks_answered_503,omitempty"`
	WebhooksUnanswered int `json:"webhooks_unanswered,omitempty"`
	Events             int `json:"line_events,omitempty"`
	EventsCompleted    int `json:"line_events_completed,omitempty"`
	WrongStatus        int `json:"wrong_follow_status,omitempty"`
}

func (r chaosRow) webhook() bool { return r.Scenario == "line-webhook" }

func (r chaosRow) ok() bool {
	if r.webhook() {
		return r.Error == "" && r.Once == r.Recipients && r.Duplicates == 0 && r.Lost == 0 && r.WrongStatus == 0 &&
			r.Events > 0 && r.EventsCompleted == r.Events
	}
	return r.Error == "" && r.Once == r.Recipients && r.Duplicates == 0 && r.Lost == 0 && r.Callbacks == r.Recipients && r.Failed == 0
}

// cells are the row in the table's columns ("-" where a column does not apply).
func (r chaosRow) cells() string {
	callbacks, webhooks := fmt.Sprintf("%d\t%d\t%d", r.Callbacks, r.Failed, r.Twice), "-\t-\t-"
	if r.webhook() {
		callbacks = "-\t-\t-"
		webhooks = fmt.Sprintf("%d/%d/%d\t%d/%d\t%d", r.Webhooks200, r.Webhooks503, r.WebhooksUnanswered, r.EventsCompleted, r.Events, r.WrongStatus)
	}
	return fmt.Sprintf("%s\t%d\t%d\t%d\t%d\t%s\t%s\t%.1fs\t%s", r.Scenario, r.Recipients, r.Once, r.Duplicates, r.Lost,
		callbacks, webhooks, r.Drain, r.Error)
}

func runChaos(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 2 && args[0] == "server" {
		return chaosServer(ctx, args[1], stderr)
	}
	if len(args) > 0 && args[0] == "load" {
		return runChaosLoad(ctx, args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("chaos", flag.ContinueOnError)
	n := fs.Int("recipients", 300, "recipients per scenario (one in five through Send LINE Message v1, the rest by Queue; line-webhook: LINE friends)")
	which := fs.String("scenario", "all", "all, or one of "+chaosScenarioList)
	outage := fs.Duration("outage", time.Minute, "callbacks-down: how long HubSpot's callback API answers 503")
	timeout := fs.Duration("timeout", 10*time.Minute, "give up on a scenario after")
	asJSON := fs.Bool("json", false, "print the rows as JSON instead of a table")
	if err := parseFlags(fs, args, chaosUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 || *n < 10 {
		return fmt.Errorf("%w: hubline %s (at least 10 recipients)", errUsage, chaosUsage)
	}
	names := strings.Split(chaosScenarioList, "|")
	if *which != "all" {
		if !strings.Contains("|"+chaosScenarioList+"|", "|"+*which+"|") {
			return fmt.Errorf("%w: unknown scenario %q (want all or one of %s)", errUsage, *which, chaosScenarioList)
		}
		names = []string{*which}
	}
	var rows []chaosRow
	for _, name := range names {
		fmt.Fprintf(stderr, "chaos: %s ...\n", name)
		sctx, cancel := context.WithTimeout(ctx, *timeout)
		row := runScenario(sctx, name, *n, *outage, stderr)
		cancel()
		rows = append(rows, row)
		if ctx.Err() != nil {
			break
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "scenario\trecipients\tdelivered once\tduplicates\tlost\tcallbacks completed\tnot SUCCESS\tre-completions refused\twebhooks 200/503/none\tevents completed\twrong follow status\ttime to drain\terror")
		for _, r := range rows {
			fmt.Fprintln(tw, r.cells())
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, r := range rows {
		if !r.ok() && r.webhook() {
			return fmt.Errorf("scenario %s: not every friend has exactly one contact with the right follow status, every event completed", r.Scenario)
		}
		if !r.ok() {
			return fmt.Errorf("scenario %s: not every recipient delivered exactly once with its callback completed", r.Scenario)
		}
	}
	return nil
}

// chaosServer is the Temporal server of a scenario, on a SQLite file so a kill and restart
// keeps every workflow.
func chaosServer(ctx context.Context, dbFile string, stderr io.Writer) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	srv, err := devserver.Start(ctx, devserver.Config{
		Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, DatabaseFile: dbFile,
		Retention: 24 * time.Hour, SearchAttributes: workflows.SearchAttributes(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "temporal server ready")
	<-ctx.Done()
	return srv.Stop()
}

// lineFaults fronts the LINE fake: when on, a push is answered 500 (20%), 429 (10%), or is
// delivered with its answer lost on a dropped connection (5%), the hardest case: only the
// retry key keeps the retry from a second message. With profile on, 30% of profile reads
// are answered 500.
type lineFaults struct {
	next       http.Handler
	on         atomic.Bool
	profile    atomic.Bool
	profile500 atomic.Int64
}

func (f *lineFaults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if f.profile.Load() && strings.HasPrefix(r.URL.Path, "/v2/bot/profile/") && rand.Float64() < 0.30 {
		f.profile500.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"An error occurred in the server"}`))
		return
	}
	if !f.on.Load() || r.URL.Path != "/v2/bot/message/push" {
		f.next.ServeHTTP(w, r)
		return
	}
	switch x := rand.Float64(); {
	case x < 0.20:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"message":"An error occurred in the server"}`))
	case x < 0.30:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"message":"The API rate limit has been exceeded. Try again later."}`))
	case x < 0.35:
		f.next.ServeHTTP(discard{}, r)
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_ = c.Close()
				return
			}
		}
		w.WriteHeader(http.StatusBadGateway)
	default:
		f.next.ServeHTTP(w, r)
	}
}

// discard is a ResponseWriter that keeps nothing.
type discard struct{}

func (discard) Header() http.Header         { return http.Header{} }
func (discard) Write(b []byte) (int, error) { return len(b), nil }
func (discard) WriteHeader(int)             {}

// hubspotGate fronts the HubSpot fake: it can take the callback API down (503) and counts
// completions refused because the callback was already completed.
type hubspotGate struct {
	next  http.Handler
	down  atomic.Bool
	again atomic.Int64
}

func (g *hubspotGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.Contains(r.URL.Path, "/actions/callbacks/") {
		g.next.ServeHTTP(w, r)
		return
	}
	if g.down.Load() {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"error","message":"Service unavailable","category":"SERVICE_UNAVAILABLE"}`))
		return
	}
	rec := &recorder{ResponseWriter: w}
	g.next.ServeHTTP(rec, r)
	if rec.status == http.StatusBadRequest && bytes.Contains(rec.body.Bytes(), []byte("already been completed")) {
		g.again.Add(1)
	}
}

type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(s int) { r.status = s; r.ResponseWriter.WriteHeader(s) }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// chaosStack is one scenario's processes and fakes.
type chaosStack struct {
	exe, dir, db string
	env          []string
	base         string
	temporal     string // the server's address
	server       *proc
	worker       *proc
	starter      *proc
	line         *linesandbox.Server
	lineFaults   *lineFaults
	hubspot      *hubspotsandbox.Server
	gate         *hubspotGate
	stops        []func()
}

func (s *chaosStack) close() {
	for _, p := range []*proc{s.starter, s.worker, s.server} {
		if p != nil {
			p.stop()
		}
	}
	for i := len(s.stops) - 1; i >= 0; i-- {
		s.stops[i]()
	}
	_ = os.RemoveAll(s.dir)
}

func newChaosStack(ctx context.Context) (*chaosStack, error) {
	s := &chaosStack{}
	var err error
	if s.exe, err = os.Executable(); err != nil {
		return nil, err
	}
	if s.dir, err = os.MkdirTemp("", "hubline-chaos-"); err != nil {
		return nil, err
	}
	s.db = filepath.Join(s.dir, "temporal.db")
	// A few hundred pushes a second: a broadcast lasts long enough to break something in it.
	s.line = linesandbox.New(linesandbox.Options{Tokens: map[string]string{benchLineToken: "account 1"}, PushRate: 200})
	s.lineFaults = &lineFaults{next: s.line}
	lineURL, stop, err := serveLocal(s.lineFaults)
	if err != nil {
		s.close()
		return nil, err
	}
	s.stops = append(s.stops, stop)
	s.hubspot = hubspotsandbox.New(hubspotsandbox.Options{AccessToken: benchHSToken})
	s.gate = &hubspotGate{next: s.hubspot}
	hsURL, stop, err := serveLocal(s.gate)
	if err != nil {
		s.close()
		return nil, err
	}
	s.stops = append(s.stops, stop)
	tport, err := freeLocalPort()
	if err != nil {
		s.close()
		return nil, err
	}
	hport, err := freeLocalPort()
	if err != nil {
		s.close()
		return nil, err
	}
	s.base = "http://127.0.0.1:" + strconv.Itoa(hport)
	s.temporal = "127.0.0.1:" + strconv.Itoa(tport)
	s.env = []string{
		"TEMPORAL_ADDRESS=" + s.temporal, "TEMPORAL_NAMESPACE=default",
		// hubline's own database (the LINE user -> contact mapping) is the scenario's too.
		"HUBLINE_DATA_DIR=" + s.dir, "HUBLINE_DATABASE_URL=", "LINE_CHANNEL_SECRET=" + chaosChannelSecret,
		"HUBLINE_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(hport), "HUBLINE_PUBLIC_URL=" + s.base,
		"HUBLINE_LOG_LEVEL=info", "HUBLINE_SHUTDOWN_TIMEOUT=5s", "HUBLINE_PAYLOAD_KEY=",
		"HUBSPOT_CLIENT_SECRET=" + benchSecret, "HUBSPOT_ACCESS_TOKEN=" + benchHSToken, "HUBSPOT_API_BASE_URL=" + hsURL,
		"HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID=chaos-template",
		"LINE_CHANNEL_ACCESS_TOKEN=" + benchLineToken, "LINE_API_BASE_URL=" + lineURL, "LINE_PUSH_RATE=200",
		"HUBLINE_QUEUE_BATCH_SIZE=50",
	}
	for _, start := range []func(context.Context) error{s.startServer, s.startWorker, s.startStarter} {
		if err := start(ctx); err != nil {
			s.close()
			return nil, err
		}
	}
	return s, nil
}

func (s *chaosStack) startServer(ctx context.Context) (err error) {
	s.server, err = spawn(ctx, s.exe, []string{"chaos", "server", s.db}, s.env, "temporal server ready")
	return err
}

func (s *chaosStack) startWorker(ctx context.Context) (err error) {
	s.worker, err = spawn(ctx, s.exe, []string{"worker"}, s.env, "worker polling")
	return err
}

func (s *chaosStack) startStarter(ctx context.Context) (err error) {
	s.starter, err = spawn(ctx, s.exe, []string{"starter"}, s.env, "starter listening")
	return err
}

// kill ends a process at once, as a crash or an OOM kill would.
func kill(p *proc) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	_ = p.cmd.Wait()
}

func chaosUser(i int) string { return fmt.Sprintf("U%032x", i+1) }

// chaosPost sends recipient i's action as HubSpot would, until the starter answers 200:
// it retries 429 after Retry-After, and 5xx and broken connections after a second.
func chaosPost(ctx context.Context, hc *http.Client, base string, i int) error {
	route := "/actions/send-line-message-queue"
	if i%5 == 0 {
		route = "/actions/send-line-message"
	}
	body, _ := json.Marshal(map[string]any{
		"callbackId":  fmt.Sprintf("chaos-%d", i),
		"origin":      map[string]any{"portalId": 1, "actionDefinitionId": 1, "actionDefinitionVersion": 1},
		"context":     map[string]any{"source": "WORKFLOWS", "workflowId": 1},
		"object":      map[string]any{"objectId": i + 1, "objectType": "CONTACT", "properties": map[string]string{"firstname": "Contact" + strconv.Itoa(i)}},
		"inputFields": map[string]string{"line_user_id": chaosUser(i), "message_1": "Hello {{contact.firstname}}"},
	})
	url := base + route
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Request-Timestamp", ts)
		req.Header.Set("X-HubSpot-Signature-v3", hubspot.SignV3(benchSecret, http.MethodPost, url, body, ts))
		wait := time.Second
		resp, err := hc.Do(req)
		if err == nil {
			raw, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case resp.StatusCode == http.StatusOK:
				return nil
			case resp.StatusCode == http.StatusTooManyRequests:
				s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
				wait = time.Duration(max(s, 1)) * time.Second
			case resp.StatusCode < 500:
				return fmt.Errorf("recipient %d: starter answered %d %s", i, resp.StatusCode, raw)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("recipient %d: not accepted before the scenario's timeout", i)
		case <-time.After(wait):
		}
	}
}

func runScenario(ctx context.Context, name string, n int, outage time.Duration, stderr io.Writer) chaosRow {
	if name == "line-webhook" {
		return runLineWebhookScenario(ctx, n, stderr)
	}
	row := chaosRow{Scenario: name, Recipients: n}
	s, err := newChaosStack(ctx)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer s.close()
	start := time.Now()

	// The fault, started once a quarter of the recipients were delivered (or at once).
	faultDone := make(chan error, 1)
	go func() {
		if name == "callbacks-down" {
			s.gate.down.Store(true)
			defer s.gate.down.Store(false)
			select {
			case <-time.After(outage):
			case <-ctx.Done():
			}
			faultDone <- nil
			return
		}
		if name == "line-faults" {
			s.lineFaults.on.Store(true)
			faultDone <- nil
			return
		}
		for s.line.DeliveryCount() < n/4 && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		var err error
		switch name {
		case "worker-kill":
			kill(s.worker)
			time.Sleep(2 * time.Second)
			err = s.startWorker(ctx)
		case "server-kill":
			kill(s.server)
			time.Sleep(time.Second)
			err = s.startServer(ctx)
		case "starter-kill":
			kill(s.starter)
			time.Sleep(time.Second)
			err = s.startStarter(ctx)
		}
		faultDone <- err
	}()

	hc := &http.Client{Timeout: 30 * time.Second}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var postErr error
	next := make(chan int)
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				// redelivery: HubSpot sends the same callbackId up to five times.
				times := 1
				if name == "redelivery" {
					times = 1 + i%5
				}
				for k := 0; k < times; k++ {
					if err := chaosPost(ctx, hc, s.base, i); err != nil {
						mu.Lock()
						postErr = errors.Join(postErr, err)
						mu.Unlock()
						break
					}
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if err := <-faultDone; err != nil {
		row.Error = "restart: " + err.Error()
	}
	s.lineFaults.on.Store(false)
	if postErr != nil && row.Error == "" {
		row.Error = postErr.Error()
	}

	completed := func() map[string]int {
		m := map[string]int{}
		for _, cb := range s.hubspot.Callbacks() {
			m[cb.ID]++
		}
		return m
	}
	for len(completed()) < n && ctx.Err() == nil {
		time.Sleep(100 * time.Millisecond)
	}
	row.Drain = time.Since(start).Seconds()
	// Anything still to come (a second push, a second completion) has time to show.
	time.Sleep(2 * time.Second)
	for i := 0; i < n; i++ {
		switch d := s.line.DeliveredTo(chaosUser(i)); {
		case d == 0:
			row.Lost++
		case d == 1:
			row.Once++
		default:
			row.Once++
			row.Duplicates += d - 1
		}
	}
	for _, cb := range s.hubspot.Callbacks() {
		if cb.OutputFields["hs_execution_state"] != "SUCCESS" {
			row.Failed++
		}
	}
	row.Callbacks = len(completed())
	row.Twice = int(s.gate.again.Load())
	if ctx.Err() != nil && row.Error == "" {
		row.Error = "timed out"
	}
	fmt.Fprintf(stderr, "chaos: %s: %d/%d delivered once, %d duplicates, %d lost, %d callbacks in %.1fs\n",
		name, row.Once, n, row.Duplicates, row.Lost, row.Callbacks, row.Drain)
	return row
}
