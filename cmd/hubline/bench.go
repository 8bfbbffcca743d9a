package main

import (
	"bufio"
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
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/line"
	"github.com/hubline/hubline/internal/linesandbox"
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
	WorkerPeakRSSMiB     float64 `json:"worker_peak_rss_mib"`
	StarterPeakRSSMiB    float64 `json:"starter_peak_rss_mib"`
	WorkerMedianRSSMiB   float64 `json:"worker_median_rss_mib"`
	StarterMedianRSSMiB  float64 `json:"starter_median_rss_mib"`
	TemporalPeakRSSMiB   float64 `json:"temporal_server_peak_rss_mib"`
	BenchPeakRSSMiB      float64 `json:"bench_process_peak_rss_mib"`
	WorkerCPUSeconds     float64 `json:"worker_cpu_seconds"`
	StarterCPUSeconds    float64 `json:"starter_cpu_seconds"`
	TemporalCPUSeconds   float64 `json:"temporal_server_cpu_seconds"`
	BenchCPUSeconds      float64 `json:"bench_process_cpu_seconds"`
	BaselineSeconds      float64 `json:"baseline_wall_seconds"`
	BaselinePerSecond    float64 `json:"baseline_recipients_per_second"`
	Baseline429s         int     `json:"baseline_429s"`
	RatioToBaseline      float64 `json:"ratio_to_baseline"`
	Concurrency          int     `json:"concurrency"`
	Shards               int     `json:"shards"`
	GOMAXPROCS           int     `json:"gomaxprocs"`
}

const benchUsage = "bench queue --recipients N [--hubspot-limit on|off] [--concurrency 64] [--shards 1] [--batch-size 200] [--timeout 30m] [--cpuprofile DIR]"

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 1 && args[0] == "server" {
		return benchServer(ctx, stderr)
	}
	if len(args) > 0 && isHelp(args[0]) {
		args = []string{"queue", "--help"} // bench has one benchmark: its help is bench queue's
	}
	if len(args) == 0 || args[0] != "queue" {
		return fmt.Errorf("%w: hubline %s (bench --help lists the flags)", errUsage, benchUsage)
	}
	fs := flag.NewFlagSet("bench queue", flag.ContinueOnError)
	n := fs.Int("recipients", 2000, "recipients (HubSpot executions) to send")
	limit := fs.String("hubspot-limit", "off", "on: the HubSpot fake enforces 110 requests / 10 s; off: unlimited")
	conc := fs.Int("concurrency", 64, "concurrent HubSpot requests to the starter")
	shards := fs.Int("shards", 1, "queue shards (HUBLINE_QUEUE_SHARDS)")
	timeout := fs.Duration("timeout", 30*time.Minute, "give up after")
	batchSize := fs.Int("batch-size", 200, "recipients per LineBatch child (HUBLINE_QUEUE_BATCH_SIZE)")
	profDir := fs.String("cpuprofile", "", "write CPU profiles of the server, worker and starter (server.pprof, worker.pprof, starter.pprof) to this directory")
	if err := parseFlags(fs, args[1:], benchUsage, stdout); err != nil {
		return err
	}
	if *limit != "on" && *limit != "off" {
		return fmt.Errorf("%w: --hubspot-limit on|off", errUsage)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	res := benchResult{Mode: "hubspot-limit " + *limit, Recipients: *n, Concurrency: *conc, Shards: *shards,
		GOMAXPROCS: runtime.GOMAXPROCS(0)}

	// Baseline: the same pushes by a plain concurrent loop straight to an identical fake.
	var err error
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
	// and the worker paces to HUBSPOT_RATE_LIMIT's default (110), as against a real portal.
	hubspotBudget := "1000000"
	if *limit == "on" {
		hsOpts.RateLimit, hsOpts.RateInterval = 110, 10*time.Second
		hubspotBudget = "110" // HUBSPOT_RATE_LIMIT's default: an OAuth app's limit
	}
	hsBox := hubspotsandbox.New(hsOpts)
	hsURL, stopHS, err := serveLocal(hsBox)
	if err != nil {
		return err
	}
	defer stopHS()

	// The Temporal server, the worker and the starter run as separate processes, configured
	// like production through their environment, so each one's memory is measured on its own.
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	temporalPort, err := freeLocalPort()
	if err != nil {
		return err
	}
	httpPort, err := freeLocalPort()
	if err != nil {
		return err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(httpPort)
	env := []string{
		"TEMPORAL_ADDRESS=127.0.0.1:" + strconv.Itoa(temporalPort), "TEMPORAL_NAMESPACE=default",
		"HUBLINE_HTTP_ADDR=127.0.0.1:" + strconv.Itoa(httpPort), "HUBLINE_PUBLIC_URL=" + base,
		"HUBLINE_LOG_LEVEL=info", "HUBLINE_SHUTDOWN_TIMEOUT=5s", "HUBLINE_PAYLOAD_KEY=",
		"HUBSPOT_CLIENT_SECRET=" + benchSecret, "HUBSPOT_ACCESS_TOKEN=" + benchHSToken, "HUBSPOT_API_BASE_URL=" + hsURL,
		"HUBSPOT_RATE_LIMIT=" + hubspotBudget, "HUBSPOT_TIMELINE_EVENT_TEMPLATE_ID=bench-template",
		"LINE_CHANNEL_ACCESS_TOKEN=" + benchLineToken, "LINE_API_BASE_URL=" + lineURL,
		"HUBLINE_QUEUE_SHARDS=" + strconv.Itoa(*shards), "HUBLINE_QUEUE_BATCH_SIZE=" + strconv.Itoa(*batchSize),
	}
	profile := func(name string) []string {
		if *profDir == "" {
			return env
		}
		return append(slices.Clone(env), "HUBLINE_CPU_PROFILE="+filepath.Join(*profDir, name+".pprof"))
	}
	if *profDir != "" {
		if err := os.MkdirAll(*profDir, 0o755); err != nil {
			return err
		}
	}
	server, err := spawn(ctx, exe, []string{"bench", "server"}, profile("server"), "temporal server ready")
	if err != nil {
		return err
	}
	defer server.stop()
	workerProc, err := spawn(ctx, exe, []string{"worker"}, profile("worker"), "worker polling")
	if err != nil {
		return err
	}
	defer workerProc.stop()
	starterProc, err := spawn(ctx, exe, []string{"starter"}, profile("starter"), "starter listening")
	if err != nil {
		return err
	}
	defer starterProc.stop()

	fmt.Fprintf(stderr, "bench: baseline %.0f pushes/s; enqueueing %d recipients through %s ...\n", res.BaselinePerSecond, *n, base)
	start := time.Now()
	stopSampling := sampleRSS([]int{workerProc.cmd.Process.Pid, starterProc.cmd.Process.Pid}, 250*time.Millisecond)
	defer stopSampling()
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
	if med := stopSampling(); len(med) == 2 {
		res.WorkerMedianRSSMiB, res.StarterMedianRSSMiB = med[0], med[1]
	}
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
	res.WorkerPeakRSSMiB = workerProc.peakRSSMiB()
	res.StarterPeakRSSMiB = starterProc.peakRSSMiB()
	res.TemporalPeakRSSMiB = server.peakRSSMiB()
	res.BenchPeakRSSMiB = peakRSSMiB("self")
	res.WorkerCPUSeconds = cpuSeconds(strconv.Itoa(workerProc.cmd.Process.Pid))
	res.StarterCPUSeconds = cpuSeconds(strconv.Itoa(starterProc.cmd.Process.Pid))
	res.TemporalCPUSeconds = cpuSeconds(strconv.Itoa(server.cmd.Process.Pid))
	res.BenchCPUSeconds = cpuSeconds("self")
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

func freeLocalPort() (int, error) { return devserver.FreePort() }

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// cpuSeconds reads a process's user+system CPU time so far (Linux; pid or "self"), to show
// where a run's CPU went: on 2 cores the processes compete for it.
func cpuSeconds(pid string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the parenthesised command name; utime and stime are the 12th and 13th.
	rest := string(b[strings.LastIndexByte(string(b), ')')+1:])
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	sys, _ := strconv.ParseFloat(f[12], 64)
	return (u + sys) / 100 // USER_HZ is 100 on Linux
}

// peakRSSMiB reads a process's high-water resident set size (Linux; pid or "self").
func peakRSSMiB(pid string) float64 { return statusMiB(pid, "VmHWM:") }

// statusMiB reads a kB field of /proc/<pid>/status (VmHWM: peak, VmRSS: current).
func statusMiB(pid, field string) float64 {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if f := strings.Fields(ln); len(f) >= 2 && f[0] == field {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// sampleRSS samples the processes' resident sets every interval until stop, which returns
// each one's median: the peak alone catches one GC cycle's high point, and a longer run
// sees more of them, so the median is what shows whether memory grows with the broadcast.
func sampleRSS(pids []int, every time.Duration) (stop func() []float64) {
	samples := make([][]float64, len(pids))
	quit, done := make(chan struct{}), make(chan struct{})
	var once sync.Once
	go func() {
		defer close(done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			for i, pid := range pids {
				if v := statusMiB(strconv.Itoa(pid), "VmRSS:"); v > 0 {
					samples[i] = append(samples[i], v)
				}
			}
			select {
			case <-quit:
				return
			case <-t.C:
			}
		}
	}()
	return func() []float64 {
		once.Do(func() { close(quit) })
		<-done
		med := make([]float64, len(pids))
		for i, s := range samples {
			sort.Float64s(s)
			med[i] = percentile(s, 0.5)
		}
		return med
	}
}

// benchServer is the benchmark's Temporal server process: in-memory SQLite, no UI.
func benchServer(ctx context.Context, stderr io.Writer) error {
	cfg, err := config.FromEnv()
	if err != nil {
		return err
	}
	srv, err := devserver.Start(ctx, devserver.Config{
		Address: cfg.TemporalAddress, Namespace: cfg.TemporalNamespace, SearchAttributes: workflows.SearchAttributes(),
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, "temporal server ready")
	<-ctx.Done()
	return srv.Stop()
}

// proc is a child process of the benchmark.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	tail *lineTail
}

// spawn starts exe args with env added and waits until its stderr shows ready.
func spawn(ctx context.Context, exe string, args, env []string, ready string) (*proc, error) {
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), tail: &lineTail{}}
	found := make(chan struct{})
	go func() {
		defer close(p.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			p.tail.add(sc.Text())
			if !seen && strings.Contains(sc.Text(), ready) {
				seen = true
				close(found)
			}
		}
	}()
	select {
	case <-found:
		return p, nil
	case <-p.done:
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s exited before it was ready:\n%s", strings.Join(args, " "), p.tail.String())
	case <-time.After(2 * time.Minute):
	case <-ctx.Done():
	}
	p.stop()
	return nil, fmt.Errorf("%s did not become ready:\n%s", strings.Join(args, " "), p.tail.String())
}

func (p *proc) peakRSSMiB() float64 { return peakRSSMiB(strconv.Itoa(p.cmd.Process.Pid)) }

// stop asks the process to shut down gracefully, then kills it if it lingers.
func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	_ = p.cmd.Wait()
}

// lineTail keeps a process's last log lines for error messages.
type lineTail struct {
	mu    sync.Mutex
	lines []string
}

func (t *lineTail) add(s string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, s)
	if len(t.lines) > 20 {
		t.lines = t.lines[1:]
	}
}

func (t *lineTail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.Join(t.lines, "\n")
}
