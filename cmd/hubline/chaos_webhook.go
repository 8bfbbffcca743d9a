package main

// The line-webhook scenario: LINE friends follow one after another, and the LINE fake sends
// each signed webhook to the starter as LINE does, then redelivers it 1 to 5 times (same
// webhookEventId, deliveryContext.isRedelivery true): for a third of the friends all at
// once, for a third one after another, for a third after the worker was SIGKILLed and
// restarted mid-stream. A fifth of the friends block the account once their contact exists.
// LINE's profile endpoint answers 500 at random, HubSpot's contact search lags 2 s and the
// first contact creates lose their answers. Counted at the HubSpot fake: one contact per
// friend with the right follow status; at Temporal: every LineEvent completed, none open.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.uber.org/zap"

	"github.com/hubline/hubline/activities"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/internal/logging"
	"github.com/hubline/hubline/starter"
	"github.com/hubline/hubline/workflows"
)

// chaosChannelSecret is the chaos stack's LINE channel secret (LINE_CHANNEL_SECRET), which
// signs the LINE fake's webhooks.
const chaosChannelSecret = "chaos-line-channel-secret"

// chaosFriendGap spaces the friends' follows, so the worker is killed mid-stream.
const chaosFriendGap = 40 * time.Millisecond

// webhookRun is one line-webhook scenario's senders and counts.
type webhookRun struct {
	s         *chaosStack
	restarted chan struct{} // closed once the killed worker runs again

	followed atomic.Int64 // friends whose follow was answered 200
	events   atomic.Int64 // distinct webhookEventIds sent

	mu          sync.Mutex
	answered    int // deliveries answered 200
	unavailable int // answered 503 (Temporal unreachable), then redelivered
	unanswered  int // no answer (connection error, timeout), then redelivered
	waiting     map[string]chan struct{}
}

// deliver makes one delivery (send: the first one, or one of LINE's duplicates) and, as LINE
// does with redelivery on, sends it again a second later, marked as a redelivery, until the
// starter answers 200. Any answer but 200 and 503 is an error.
func (w *webhookRun) deliver(ctx context.Context, send func() (linesandbox.FriendEvent, error)) (string, error) {
	ev, err := send()
	for {
		if ev.WebhookEventID == "" {
			return "", err // the fake refused the action
		}
		w.mu.Lock()
		switch ev.Status {
		case http.StatusOK:
			w.answered++
		case http.StatusServiceUnavailable:
			w.unavailable++
		case 0:
			w.unanswered++
		}
		w.mu.Unlock()
		switch ev.Status {
		case http.StatusOK:
			return ev.WebhookEventID, nil
		case http.StatusServiceUnavailable, 0:
		default:
			return "", fmt.Errorf("a %s webhook was answered %d %s", ev.Type, ev.Status, ev.Answer)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("a %s webhook was not answered 200 before the scenario's timeout", ev.Type)
		case <-time.After(time.Second):
		}
		ev, err = w.s.line.Redeliver(ctx, ev.WebhookEventID)
	}
}

// act makes friend i follow or block the account and delivers the webhook.
func (w *webhookRun) act(ctx context.Context, i int, action string) (string, error) {
	id, err := w.deliver(ctx, func() (linesandbox.FriendEvent, error) {
		return w.s.line.Act(ctx, linesandbox.FriendAction{Account: 1, UserID: chaosUser(i), DisplayName: "Friend " + strconv.Itoa(i), Action: action})
	})
	if err != nil {
		return "", fmt.Errorf("friend %d, %s: %w", i, action, err)
	}
	w.events.Add(1)
	return id, nil
}

// redeliver sends the event again 1 to 5 times (k picks how many and how): all at once, one
// after another, or after the worker's restart.
func (w *webhookRun) redeliver(ctx context.Context, k int, id string) error {
	times := 1 + (k/3)%5
	again := func() error {
		_, err := w.deliver(ctx, func() (linesandbox.FriendEvent, error) { return w.s.line.Redeliver(ctx, id) })
		return err
	}
	switch k % 3 {
	case 0:
		var wg sync.WaitGroup
		errs := make([]error, times)
		for j := range times {
			wg.Add(1)
			go func() { defer wg.Done(); errs[j] = again() }()
		}
		wg.Wait()
		return errors.Join(errs...)
	case 2:
		select {
		case <-w.restarted:
		case <-ctx.Done():
			return ctx.Err()
		}
		time.Sleep(rand.N(2 * time.Second))
	}
	for range times {
		if err := again(); err != nil {
			return err
		}
	}
	return nil
}

// friend is one LINE user's part of the stream.
func (w *webhookRun) friend(ctx context.Context, i int) error {
	id, err := w.act(ctx, i, "follow")
	if err != nil {
		return err
	}
	w.followed.Add(1)
	if err := w.redeliver(ctx, i, id); err != nil {
		return fmt.Errorf("friend %d, follow redelivered: %w", i, err)
	}
	if i%5 != 0 {
		return nil
	}
	// A user blocks a while after following, once hubline made their contact: a block before
	// the follow's profile read leaves no contact at all (the profile answers 404).
	select {
	case <-w.contactOf(chaosUser(i)):
	case <-ctx.Done():
		return fmt.Errorf("friend %d: no contact before the scenario's timeout", i)
	}
	if id, err = w.act(ctx, i, "unfollow"); err != nil {
		return err
	}
	if err := w.redeliver(ctx, i+1, id); err != nil {
		return fmt.Errorf("friend %d, unfollow redelivered: %w", i, err)
	}
	return nil
}

// contactOf is closed once the HubSpot fake holds a contact with the user's LINE user ID.
func (w *webhookRun) contactOf(user string) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	ch := make(chan struct{})
	w.waiting[user] = ch
	return ch
}

// watchContacts closes contactOf's channels as contacts appear, until ctx ends.
func (w *webhookRun) watchContacts(ctx context.Context) {
	prop := starter.DefaultLineUserIDProperty(1)
	for ctx.Err() == nil {
		time.Sleep(250 * time.Millisecond)
		have := map[string]bool{}
		for _, c := range w.s.hubspot.Contacts() {
			have[c.Properties[prop]] = true
		}
		w.mu.Lock()
		for user, ch := range w.waiting {
			if have[user] {
				close(ch)
				delete(w.waiting, user)
			}
		}
		w.mu.Unlock()
	}
}

// lineEventCounts counts the LineEvent workflows, and those open and completed.
func lineEventCounts(ctx context.Context, c client.Client) (total, running, completed int64, err error) {
	q := "WorkflowType = '" + workflows.LineEventWorkflow + "'"
	for _, x := range []struct {
		n     *int64
		query string
	}{{&total, q}, {&running, q + " AND ExecutionStatus = 'Running'"}, {&completed, q + " AND ExecutionStatus = 'Completed'"}} {
		resp, err := c.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Namespace: "default", Query: x.query})
		if err != nil {
			return 0, 0, 0, err
		}
		*x.n = resp.GetCount()
	}
	return total, running, completed, nil
}

func runLineWebhookScenario(ctx context.Context, n int, stderr io.Writer) chaosRow {
	const name = "line-webhook"
	row := chaosRow{Scenario: name, Recipients: n}
	s, err := newChaosStack(ctx)
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer s.close()
	tc, err := client.Dial(client.Options{HostPort: s.temporal, Namespace: "default", Logger: logging.Temporal(zap.NewNop())})
	if err != nil {
		row.Error = err.Error()
		return row
	}
	defer tc.Close()
	s.line.UseWebhooks(linesandbox.Webhooks{
		BaseURL:  s.base,
		Accounts: map[int]linesandbox.WebhookAccount{1: {Label: "account 1", ChannelSecret: chaosChannelSecret}},
		Client:   &http.Client{Timeout: 30 * time.Second},
		Keep:     20 * n, // every event stays redeliverable
	})
	s.lineFaults.profile.Store(true)
	s.hubspot.SetContactSearchLag(2 * time.Second)
	s.hubspot.FailNextContactCreates(http.StatusBadGateway, max(2, n/50))
	w := &webhookRun{s: s, restarted: make(chan struct{}), waiting: map[string]chan struct{}{}}
	wctx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	go w.watchContacts(wctx)
	start := time.Now()

	// The worker dies once a quarter of the friends followed, and is back 2 s later.
	faultDone := make(chan error, 1)
	go func() {
		defer close(w.restarted)
		for w.followed.Load() < int64(n/4) && ctx.Err() == nil {
			time.Sleep(20 * time.Millisecond)
		}
		kill(s.worker)
		time.Sleep(2 * time.Second)
		faultDone <- s.startWorker(ctx)
	}()

	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = w.friend(ctx, i) }()
		time.Sleep(chaosFriendGap)
	}
	wg.Wait()
	if err := <-faultDone; err != nil {
		row.Error = "restart: " + err.Error()
	}
	if err := errors.Join(errs...); err != nil && row.Error == "" {
		row.Error = err.Error()
	}

	// Drained: every event's workflow exists and none is still open.
	want := w.events.Load()
	var total, running, completed int64
	for ctx.Err() == nil {
		if total, running, completed, err = lineEventCounts(ctx, tc); err == nil && total >= want && running == 0 {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	row.Drain = time.Since(start).Seconds()
	// Anything still to come (a late second contact) has time to show.
	time.Sleep(2 * time.Second)
	if t, r, c, err := lineEventCounts(ctx, tc); err == nil {
		total, running, completed = t, r, c
	}

	prop := starter.DefaultLineUserIDProperty(1)
	contacts := map[string][]string{} // user -> follow statuses, one per contact
	for _, c := range s.hubspot.Contacts() {
		u := c.Properties[prop]
		contacts[u] = append(contacts[u], c.Properties["line_follow_status"])
	}
	for i := range n {
		statuses := contacts[chaosUser(i)]
		switch len(statuses) {
		case 0:
			row.Lost++
			continue
		case 1:
			row.Once++
		default:
			row.Once++
			row.Duplicates += len(statuses) - 1
		}
		want := activities.LineFollowing
		if i%5 == 0 {
			want = activities.LineBlocked
		}
		for _, st := range statuses {
			if st != want {
				row.WrongStatus++
				break
			}
		}
	}
	w.mu.Lock()
	row.Webhooks200, row.Webhooks503, row.WebhooksUnanswered = w.answered, w.unavailable, w.unanswered
	w.mu.Unlock()
	row.Events, row.EventsCompleted = int(want), int(completed)
	if row.Error == "" && (running > 0 || total != want) {
		row.Error = fmt.Sprintf("%d LineEvent workflows, %d still running, for %d events", total, running, want)
	}
	if ctx.Err() != nil && row.Error == "" {
		row.Error = "timed out"
	}
	fmt.Fprintf(stderr, "chaos: %s: %d/%d friends with one contact, %d extra contacts, %d without, %d wrong follow status; %d/%d events completed; webhooks: %d answered 200, %d 503, %d unanswered; %d profile reads answered 500; in %.1fs\n",
		name, row.Once, n, row.Duplicates, row.Lost, row.WrongStatus, row.EventsCompleted, row.Events,
		row.Webhooks200, row.Webhooks503, row.WebhooksUnanswered, s.lineFaults.profile500.Load(), row.Drain)
	return row
}
