package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hubline/hubline/internal/hubspot"
)

const chaosLoadUsage = "chaos load [--rate 300] [--duration 30s] [--drain 10m] [--json]"

// loadResult is what `hubline chaos load` measured.
type loadResult struct {
	Rate     int     `json:"requests_per_second"`
	Seconds  float64 `json:"seconds"`
	Requests int     `json:"requests"`
	Invalid  int     `json:"invalid_requests"`
	// Statuses counts first answers by HTTP status.
	Statuses map[string]int `json:"answers_by_status"`
	// Unexpected lists answers that are neither what the request deserved nor a 429 with
	// Retry-After (5xx included).
	Unexpected []string `json:"unexpected,omitempty"`
	Accepted   int      `json:"valid_accepted"`
	Once       int      `json:"delivered_once"`
	Duplicates int      `json:"duplicates"`
	Lost       int      `json:"lost"`
	Callbacks  int      `json:"callbacks_completed"`
	// Goroutines of the starter before the load and after it drained; RSS of the starter in
	// the first and the last quarter of the load (medians).
	GoroutinesBefore int     `json:"starter_goroutines_before"`
	GoroutinesAfter  int     `json:"starter_goroutines_after"`
	RSSFirstMiB      float64 `json:"starter_rss_first_quarter_mib"`
	RSSLastMiB       float64 `json:"starter_rss_last_quarter_mib"`
}

func (r loadResult) ok() bool {
	return len(r.Unexpected) == 0 && r.Once == r.Accepted && r.Duplicates == 0 && r.Lost == 0 && r.Callbacks == r.Accepted &&
		r.GoroutinesAfter <= r.GoroutinesBefore+20 && (r.RSSFirstMiB == 0 || r.RSSLastMiB <= r.RSSFirstMiB*1.25+8)
}

// runChaosLoad sends signed requests at a fixed rate (open loop, like many HubSpot
// workflows at once): one in ten invalid in one of four ways, the rest Send LINE Message v1
// and by Queue. Every answer must be what the request deserves or a 429 with Retry-After
// (retried as HubSpot does); never a 5xx. Then every accepted recipient must be delivered
// once and its callback completed, and the starter must not keep goroutines or memory.
func runChaosLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("chaos load", flag.ContinueOnError)
	rate := fs.Int("rate", 300, "requests per second")
	dur := fs.Duration("duration", 30*time.Second, "how long to send")
	drain := fs.Duration("drain", 10*time.Minute, "how long to wait, after the load, for every accepted recipient's callback")
	asJSON := fs.Bool("json", false, "print JSON only")
	if err := parseFlags(fs, args, chaosLoadUsage, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 || *rate < 1 || *dur <= 0 || *drain <= 0 {
		return fmt.Errorf("%w: hubline %s", errUsage, chaosLoadUsage)
	}
	s, err := newChaosStack(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	res := loadResult{Rate: *rate, Statuses: map[string]int{}}
	res.GoroutinesBefore = starterGoroutines(s.base)

	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var rss []float64
	accepted := map[int]bool{}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(*rate))
	defer tick.Stop()
	stopRSS := make(chan struct{})
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		for {
			select {
			case <-stopRSS:
				return
			case <-time.After(250 * time.Millisecond):
				mu.Lock()
				rss = append(rss, statusMiB(strconv.Itoa(s.starter.cmd.Process.Pid), "VmRSS:"))
				mu.Unlock()
			}
		}
	}()
	for i := 0; time.Since(start) < *dur && ctx.Err() == nil; i++ {
		<-tick.C
		res.Requests++
		kind := ""
		if i%10 == 9 {
			kind = []string{"bad-signature", "malformed", "missing-user", "unknown-route"}[(i/10)%4]
			res.Invalid++
		}
		wg.Add(1)
		go func(i int, kind string) {
			defer wg.Done()
			status, note := loadRequest(ctx, hc, s.base, i, kind)
			mu.Lock()
			defer mu.Unlock()
			res.Statuses[strconv.Itoa(status)]++
			if note != "" {
				res.Unexpected = append(res.Unexpected, note)
			}
			if kind == "" && note == "" {
				accepted[i] = true
			}
		}(i, kind)
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	close(stopRSS)
	<-rssDone
	if q := len(rss) / 4; q > 0 {
		res.RSSFirstMiB, res.RSSLastMiB = median(rss[:q]), median(rss[len(rss)-q:])
	}
	res.Accepted = len(accepted)
	// Bounded: a recipient that never completes is counted below, not waited for forever.
	for deadline := time.Now().Add(*drain); len(s.hubspot.Callbacks()) < res.Accepted && ctx.Err() == nil && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second) // late duplicates would show up here
	done := map[string]bool{}
	for _, cb := range s.hubspot.Callbacks() {
		done[cb.ID] = true
	}
	for i := range accepted {
		if done[fmt.Sprintf("chaos-%d", i)] {
			res.Callbacks++
		}
		switch d := s.line.DeliveredTo(chaosUser(i)); {
		case d == 0:
			res.Lost++
		default:
			res.Once++
			res.Duplicates += d - 1
		}
	}
	// Idle keep-alive connections each hold a server goroutine: close ours, then give the
	// starter a few seconds to settle before judging it.
	hc.CloseIdleConnections()
	for settle := time.Now().Add(10 * time.Second); ; time.Sleep(250 * time.Millisecond) {
		res.GoroutinesAfter = starterGoroutines(s.base)
		if res.GoroutinesAfter <= res.GoroutinesBefore+20 || time.Now().After(settle) {
			break
		}
	}
	sort.Strings(res.Unexpected)
	if len(res.Unexpected) > 20 {
		res.Unexpected = append(res.Unexpected[:20], fmt.Sprintf("... and %d more", len(res.Unexpected)-20))
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		return err
	}
	if !*asJSON {
		fmt.Fprintf(stderr, "chaos load: %d requests in %.0fs, %d accepted, %d delivered once, %d duplicates, %d lost, %d unexpected answers\n",
			res.Requests, res.Seconds, res.Accepted, res.Once, res.Duplicates, res.Lost, len(res.Unexpected))
	}
	if !res.ok() {
		return fmt.Errorf("chaos load: the starter misbehaved under load (see unexpected, lost, duplicates, goroutines, RSS)")
	}
	return nil
}

// loadRequest sends request i (of the given invalid kind, or valid) and checks its answer;
// it returns the first answer's status and a note when the answer was not what it deserved.
func loadRequest(ctx context.Context, hc *http.Client, base string, i int, kind string) (int, string) {
	route := "/actions/send-line-message-queue"
	if i%5 == 0 {
		route = "/actions/send-line-message"
	}
	inputs := map[string]string{"line_user_id": chaosUser(i), "message_1": "Hello {{contact.firstname}}"}
	if kind == "missing-user" {
		delete(inputs, "line_user_id")
	}
	if kind == "unknown-route" {
		route = "/actions/no-such-action"
	}
	body, _ := json.Marshal(map[string]any{
		"callbackId":  fmt.Sprintf("chaos-%d", i),
		"origin":      map[string]any{"portalId": 1, "actionDefinitionId": 1, "actionDefinitionVersion": 1},
		"context":     map[string]any{"source": "WORKFLOWS", "workflowId": 1},
		"object":      map[string]any{"objectId": i + 1, "objectType": "CONTACT", "properties": map[string]string{"firstname": "Contact"}},
		"inputFields": inputs,
	})
	if kind == "malformed" {
		body = body[:len(body)/2]
	}
	url := base + route
	first := 0
	for try := 0; ; try++ {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-HubSpot-Request-Timestamp", ts)
		secret := benchSecret
		if kind == "bad-signature" {
			secret = "not-the-secret"
		}
		req.Header.Set("X-HubSpot-Signature-v3", hubspot.SignV3(secret, http.MethodPost, url, body, ts))
		resp, err := hc.Do(req)
		if err != nil {
			return 0, fmt.Sprintf("%d %s: %v", i, kind, err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if first == 0 {
			first = resp.StatusCode
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || s < 1 {
				return first, fmt.Sprintf("%d: 429 without Retry-After", i)
			}
			time.Sleep(time.Duration(s) * time.Second)
			continue
		}
		want := http.StatusOK
		switch kind {
		case "bad-signature":
			want = http.StatusUnauthorized
		case "malformed":
			want = http.StatusBadRequest
		case "unknown-route":
			want = http.StatusNotFound
		}
		if resp.StatusCode != want {
			return first, fmt.Sprintf("%d %s: %d %s", i, kind, resp.StatusCode, raw)
		}
		if kind == "missing-user" && !bytes.Contains(raw, []byte(`"missing_line_user_id"`)) {
			return first, fmt.Sprintf("%d %s: %s", i, kind, raw)
		}
		return first, ""
	}
}

// starterGoroutines reads go_goroutines from the starter's /metrics (0 if unreadable).
func starterGoroutines(base string) int {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return 0
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}
