package activities

import (
	"context"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/hubspot"
)

// Delivery history modes (HUBLINE_TIMELINE).
const (
	// TimelineNotes writes a note on the contact: works for every HubSpot app.
	TimelineNotes = "notes"
	// TimelineEvents writes a timeline event: only apps that already have a template.
	TimelineEvents = "events"
	// TimelineOff writes no history.
	TimelineOff = "off"
)

// DefaultNoteSearchSettle is how long a retried note write waits before it searches for
// the note an earlier attempt may have created: HubSpot's search index shows a new note
// only after a few seconds.
const DefaultNoteSearchSettle = 10 * time.Second

// timelineMode resolves Timeline: unset means events when a template is configured.
func (a *Activities) timelineMode() string {
	if a.Timeline != "" {
		return a.Timeline
	}
	if a.TimelineEventTemplateID != "" {
		return TimelineEvents
	}
	return TimelineNotes
}

// noteProgress is heartbeated: the deliveries whose note is known to exist.
type noteProgress struct {
	Done []string
}

type noteItem struct {
	eventID string
	note    hubspot.Note
}

// writeNotes writes one note per delivery, at most once each, even across retries.
//
// Notes have no idempotency key, so an attempt that got no definite answer (5xx, timeout,
// crash) may have created its notes. Every retry therefore first waits NoteSearchSettle,
// searches the notes with the deliveries' timestamps, and skips those whose body carries
// the delivery's marker. Notes confirmed by a 2xx are heartbeated and not searched again.
// What remains: HubSpot's index showing a note later than the settle time after the lost
// answer; see docs/history.md.
func (a *Activities) writeNotes(ctx context.Context, ins []TimelineInput) error {
	done := map[string]bool{}
	retry := activity.GetInfo(ctx).Attempt > 1
	if activity.HasHeartbeatDetails(ctx) {
		retry = true
		var p noteProgress
		if activity.GetHeartbeatDetails(ctx, &p) == nil {
			for _, id := range p.Done {
				done[id] = true
			}
		}
	}
	var order []int64
	byPortal := map[int64][]noteItem{}
	seen := map[string]bool{}
	for _, in := range ins {
		if done[in.EventID] || seen[in.EventID] {
			continue
		}
		seen[in.EventID] = true
		if _, ok := byPortal[in.PortalID]; !ok {
			order = append(order, in.PortalID)
		}
		byPortal[in.PortalID] = append(byPortal[in.PortalID], noteItem{eventID: in.EventID, note: hubspot.Note{
			ContactID: in.ObjectID, Timestamp: in.Timestamp.Truncate(time.Millisecond), Body: noteBody(in),
		}})
	}
	if len(order) == 0 {
		return nil
	}
	record := func() {
		ids := make([]string, 0, len(done))
		for id := range done {
			ids = append(ids, id)
		}
		activity.RecordHeartbeat(ctx, noteProgress{Done: ids})
	}
	if retry {
		settle := a.NoteSearchSettle
		if settle <= 0 {
			settle = DefaultNoteSearchSettle
		}
		select {
		case <-time.After(settle):
		case <-ctx.Done():
			return ctx.Err()
		}
		found := 0
		for _, portal := range order {
			n, err := a.findNotes(ctx, portal, byPortal[portal], done)
			found += n
			if err != nil {
				return noteError(err)
			}
		}
		if found > 0 {
			a.logger().Info("delivery notes written by an earlier attempt were found; not writing them again", zap.Int("found", found))
			record()
		}
	}
	for _, portal := range order {
		var todo []noteItem
		for _, it := range byPortal[portal] {
			if !done[it.eventID] {
				todo = append(todo, it)
			}
		}
		if len(todo) == 0 {
			continue
		}
		var created int
		var err error
		if len(todo) == 1 {
			if _, err = a.HubSpot.CreateNote(ctx, portal, todo[0].note); err == nil {
				created = 1
			}
		} else {
			notes := make([]hubspot.Note, len(todo))
			for i, it := range todo {
				notes[i] = it.note
			}
			created, err = a.HubSpot.CreateNotes(ctx, portal, notes)
		}
		for _, it := range todo[:created] {
			done[it.eventID] = true
		}
		if created > 0 {
			record()
		}
		if err != nil {
			return noteError(err)
		}
	}
	return nil
}

// findNotes marks done the items whose note the portal already has; it returns how many.
func (a *Activities) findNotes(ctx context.Context, portal int64, items []noteItem, done map[string]bool) (int, error) {
	byTime := map[int64][]noteItem{}
	var times []time.Time
	for _, it := range items {
		ms := it.note.Timestamp.UnixMilli()
		if _, ok := byTime[ms]; !ok {
			times = append(times, it.note.Timestamp)
		}
		byTime[ms] = append(byTime[ms], it)
	}
	found := 0
	for _, ts := range times {
		notes, err := a.HubSpot.SearchNotes(ctx, portal, hubspot.NoteQuery{Timestamp: ts})
		if err != nil {
			return found, err
		}
		for _, it := range byTime[ts.UnixMilli()] {
			marker := noteMarker(it.eventID)
			for _, n := range notes {
				if strings.Contains(n.Body, marker) {
					done[it.eventID] = true
					found++
					break
				}
			}
		}
	}
	return found, nil
}

func noteError(err error) error {
	if typ := hubspotErrorType(err); typ != "" {
		return temporal.NewNonRetryableApplicationError(err.Error(), typ, nil)
	}
	return err
}
