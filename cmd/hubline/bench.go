package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/worker"
	"github.com/hubline/hubline/workflows"
)

const (
	benchSecret    = "bench-client-secret"
	benchLineToken = "bench-line-token"
	benchHSToken   = "bench-hubspot-token"
)

type benchResult struct {
	Mode                 string  `json:"mode"`
	Recipients           int     `json:"recipients"`
	Delivered            int     `json:"delivered"`
	Duplicates           int     `json:"duplicates"`
	RetryKeyConflicts409 int     `json:"retry_key_conflicts_409"`
	Lost                 int     `json:"lost"`
	Failed               int     `json:"failed_callbacks"`
	LINE429s             int     `json:"line_429s_seen"`
	HubSpot429s          int     `json:"hubspot_429s_seen"`
	HubSpotRequests      int     `json:"hubspot_requests"`
	Starter429s          int64   `json:"starter_429s"`
	EnqueueSeconds       float64 `json:"enqueue_seconds"`
	WallSeconds          float64 `json:"wall_seconds"`
	RecipientsPerSecond  float64 `json:"recipients_per_second"`
	StarterP50Ms         float64 `json:"starter_latency_p50_ms"`
	StarterP99Ms         float64 `json:"starter_latency_p99_ms"`
	PeakRSSMiB           float64 `json:"peak_rss_mib_whole_process"`
	PeakGoHeapMiB        float64 `json:"peak_go_heap_inuse_mib_whole_process"`
	MemoryNote           string  `json:"memory_note"`
	BaselineSeconds      float64 `json:"baseline_wall_seconds"`
	BaselinePerSecond    float64 `json:"baseline_recipients_per_second"`
	Baseline429s         int     `json:"baseline_429s"`
	RatioToBaseline      float64 `json:"ratio_to_baseline"`
	Concurrency          int     `json:"concurrency"`
	Shards               int     `json:"shards"`
	GOMAXPROCS           int     `json:"gomaxprocs"`
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "queue" {
		return fmt.Errorf("%w: hubline bench queue --recipients N [--hubspot-limit on|off] [--concurrency 64]", errUsage)
	}
	fs := flag.NewFlagSet("bench queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("recipients", 2000, "recipients (HubSpot executions) to send")
	limit := fs.String("hubspot-limit", "off", "on: the HubSpot fake enforces 110 requests / 10 s; off: unlimited")
	conc := fs.Int("concurrency", 64, "concurrent HubSpot requests to the starter")
	shards := fs.Int("shards", 4, "queue shards")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after")
	batchSize := fs.Int("batch-size", 0, "recipients per LineBatch child (0: HUBLINE_QUEUE_BATCH_SIZE's default)")
	linger := fs.Duration("linger", 0, "group-commit linger (0: the starter's default)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if *limit != "on" && *limit != "off" {
		return fmt.Errorf("%w: --hubspot-limit on|off", errUsage)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	log, err := logging.New(false, "error")
	if err != nil {
		return err
	}
	res := benchResult{Mode: "hubspot-limit " + *limit, Recipients: *n, Concurrency: *conc, Shards: *shards,
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		MemoryNote: "one process holds the embedded Temporal server, worker, starter, fakes and load generator: figures are for the whole process"}
	var peakHeap atomic.Uint64
	stopSampler := sampleHeap(&peakHeap)
	defer stopSampler()

	// Baseline: the same pushes by a plain concurrent loop straight to an identical fake.
	res.BaselineSeconds, res.Baseline429s, err = baseline(ctx, *n, *conc)
	if err != nil {
		return err
	}
	res.BaselinePerSecond = float64(*n) / res.BaselineSeconds

	lineBox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{benchLineToken: "account 1"}, MaxRecords: 1})
	lineURL, stopLine, err := serveLocal(lineBox)
	if err != nil {
		return err
	}
	defer stopLine()
	hsOpts := hubspotsandbox.Options{AccessToken: benchHSToken}
	// With the limit off the fake is unlimited and so is our pacing: the run measures the
	// engine against LINE's ceiling. With it on, the fake enforces an OAuth app's 110 per 10 s
	// and we pace to the default HUBSPOT_RATE_LIMIT, as a real portal would.
	hubspotBudget := 1 << 20
	if *limit == "on" {
		hsOpts.RateLimit, hsOpts.RateInterval = 110, 10*time.Second
		hubspotBudget = 100
	}
	hsBox := hubspotsandbox.New(hsOpts)
	hsURL, stopHS, err := serveLocal(hsBox)
	if err != nil {
		return err
	}
	defer stopHS()

	port, err := freeLocalPort()
	if err != nil {
		return err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := devserver.Start(ctx, devserver.Config{Address: addr, Namespace: "default", SearchAttributes: workflows.SearchAttributes(), Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer func() { _ = srv.Stop() }()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: "default", Logger: logging.Temporal(log)})
	if err != nil {
		return err
	}
	defer c.Close()

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	lc, err := line.NewClient(lineURL, benchLineToken, hc)
	if err != nil {
		return err
	}
	acts := &activities.Activities{
		LINE: map[int]*line.Client{1: lc}, TimelineEventTemplateID: "bench-template", Logger: log,
		HubSpot: hubspot.NewClient(hubspot.Options{
			BaseURL: hsURL, Tokens: hubspot.StaticToken(benchHSToken), HTTPClient: hc, Logger: log,
			RequestsPerInterval: hubspotBudget, Interval: 10 * time.Second,
		}),
		LinePushRate: map[int]int{1: activities.DefaultLinePushRate},
	}
	w := worker.New(c, acts, 5*time.Second)
	lw := worker.NewLine(c, acts, []int{1}, 5*time.Second)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	if err := lw.Start(); err != nil {
		return err
	}
	defer lw.Stop()
	st := starter.New(starter.Options{
		Temporal: c, Logger: log, ClientSecret: benchSecret, BlockExpiration: 24 * time.Hour, BlockExpirationISO: "P1D",
		Accounts: map[int]bool{1: false},
		Queue:    starter.QueueOptions{Shards: *shards, Linger: *linger, Workflow: workflows.QueueOptions{BatchSize: *batchSize}},
	})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	base := "http://" + l.Addr().String()
	st.SetPublicURL(base)
	sctx, stopStarter := context.WithCancel(ctx)
	defer stopStarter()
	go func() { _ = st.Serve(sctx, l, 5*time.Second) }()

	fmt.Fprintf(stderr, "bench: baseline %.0f pushes/s; enqueueing %d recipients through %s ...\n", res.BaselinePerSecond, *n, base)
	start := time.Now()
	lat, starter429s, err := drive(ctx, base, *n, *conc)
	if err != nil {
		return err
	}
	res.EnqueueSeconds = time.Since(start).Seconds()
	res.Starter429s = starter429s
	for len(hsBox.Callbacks()) < *n {
		if ctx.Err() != nil {
			return fmt.Errorf("timed out with %d of %d callbacks completed", len(hsBox.Callbacks()), *n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	res.WallSeconds = time.Since(start).Seconds()
	res.RecipientsPerSecond = float64(*n) / res.WallSeconds
	res.RatioToBaseline = res.RecipientsPerSecond / res.BaselinePerSecond

	for i := 0; i < *n; i++ {
		switch d := lineBox.DeliveredTo(benchUser(i)); {
		case d == 0:
			res.Lost++
		default:
			res.Delivered++
			res.Duplicates += d - 1
		}
	}
	for _, cb := range hsBox.Callbacks() {
		if cb.OutputFields["hs_execution_state"] != "SUCCESS" {
			res.Failed++
		}
	}
	res.RetryKeyConflicts409 = lineBox.Duplicates()
	res.LINE429s = lineBox.RateLimited()
	res.HubSpot429s = hsBox.RateLimited()
	res.HubSpotRequests = hsBox.Requests()
	sort.Float64s(lat)
	res.StarterP50Ms = percentile(lat, 0.50)
	res.StarterP99Ms = percentile(lat, 0.99)
	res.PeakRSSMiB = peakRSSMiB()
	res.PeakGoHeapMiB = float64(peakHeap.Load()) / (1 << 20)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(res)
}

func benchUser(i int) string { return fmt.Sprintf("U%032x", i+1) }

// drive posts n signed actions with conc workers, retrying 429s after Retry-After as
// HubSpot does; it returns the latencies (ms) of accepted requests.
func drive(ctx context.Context, base string, n, conc int) ([]float64, int64, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}}
	var mu sync.Mutex
	lat := make([]float64, 0, n)
	var rejected atomic.Int64
	var firstErr error
	next := make(chan int)
	var wg sync.WaitGroup
	url := base + "/actions/send-line-message-queue"
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body, _ := json.Marshal(map[string]any{
					"callbackId": fmt.Sprintf("bench-%d", i),
					"origin":     map[string]any{"portalId": 1, "actionDefinitionId": 1, "actionDefinitionVersion": 1},
					"context":    map[string]any{"source": "WORKFLOWS", "workflowId": 1},
					"object":     map[string]any{"objectId": i + 1, "objectType": "CONTACT", "properties": map[string]string{"firstname": "Contact" + strconv.Itoa(i)}},
					"inputFields": map[string]string{
						"line_user_id": benchUser(i), "message_1": "Hello {{contact.firstname}}, your coupon is ready",
					},
				})
				for ctx.Err() == nil {
					req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
					ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set("X-HubSpot-Request-Timestamp", ts)
					req.Header.Set("X-HubSpot-Signature-v3", hubspot.SignV3(benchSecret, http.MethodPost, url, body, ts))
					t0 := time.Now()
					resp, err := hc.Do(req)
					if err != nil {
						mu.Lock()
						firstErr = errors.Join(firstErr, err)
						mu.Unlock()
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					ms := float64(time.Since(t0).Microseconds()) / 1000
					if resp.StatusCode == http.StatusTooManyRequests {
						rejected.Add(1)
						s, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
						time.Sleep(time.Duration(max(s, 1)) * time.Second)
						continue
					}
					if resp.StatusCode != http.StatusOK {
						mu.Lock()
						firstErr = errors.Join(firstErr, fmt.Errorf("starter answered %d", resp.StatusCode))
						mu.Unlock()
						return
					}
					mu.Lock()
					lat = append(lat, ms)
					mu.Unlock()
					break
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return lat, rejected.Load(), firstErr
}

// baseline pushes n messages with a plain concurrent loop (no Temporal, no durability) to a
// fresh LINE fake with the same limits, retrying 429s after a short sleep.
func baseline(ctx context.Context, n, conc int) (float64, int, error) {
	box := linesandbox.New(linesandbox.Options{Tokens: map[string]string{benchLineToken: "account 1"}, MaxRecords: 1})
	u, stop, err := serveLocal(box)
	if err != nil {
		return 0, 0, err
	}
	defer stop()
	lc, err := line.NewClient(u, benchLineToken, &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc}})
	if err != nil {
		return 0, 0, err
	}
	msg := []json.RawMessage{json.RawMessage(`{"type":"text","text":"Hello Contact, your coupon is ready"}`)}
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				key := uuid.NewString()
				for ctx.Err() == nil {
					_, err := lc.Push(ctx, line.PushRequest{To: benchUser(i), Messages: msg, RetryKey: key})
					var ae *line.APIError
					if err != nil && errors.As(err, &ae) && ae.Kind == line.KindRateLimited {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					break
				}
			}
		}()
	}
	wg.Wait()
	if box.DeliveryCount() != n {
		return 0, 0, fmt.Errorf("baseline delivered %d of %d", box.DeliveryCount(), n)
	}
	return time.Since(start).Seconds(), box.RateLimited(), nil
}

func serveLocal(h http.Handler) (string, func(), error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	s := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.Serve(l) }()
	return "http://" + l.Addr().String(), func() { _ = s.Close() }, nil
}

func freeLocalPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func sampleHeap(peak *atomic.Uint64) func() {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-t.C:
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak.Load() {
					peak.Store(ms.HeapInuse)
				}
			}
		}
	}()
	return func() { close(done) }
}

// peakRSSMiB reads the process's high-water resident set size (Linux).
func peakRSSMiB() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if f := strings.Fields(ln); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}
