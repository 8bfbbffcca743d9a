package hubspot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Notes are the delivery history any HubSpot app can write (timeline events are closed to
// new apps). They have no idempotency key: see the activities for how retries avoid
// duplicates.

const (
	opCreateNote  = "create note"
	opCreateNotes = "create notes (batch)"
	opSearchNotes = "search notes"
)

// NoteToContact is HubSpot's association type ID for note → contact.
const NoteToContact = 202

// MaxNoteBody is HubSpot's limit on hs_note_body, in characters.
const MaxNoteBody = 65536

// searchPageSize and searchMaxResults are HubSpot's CRM search limits: 200 per page, and
// no page beyond the first 10,000 results.
const (
	searchPageSize   = 200
	searchMaxResults = 10000
)

// Note is a note on one contact's activity timeline.
type Note struct {
	ContactID int64
	// Timestamp is when the activity happened (hs_timestamp), sent with millisecond precision.
	Timestamp time.Time
	// Body is HTML (hs_note_body), at most MaxNoteBody characters.
	Body string
}

type noteJSON struct {
	Properties   map[string]string `json:"properties"`
	Associations []associationJSON `json:"associations,omitempty"`
}

type associationJSON struct {
	To    map[string]string `json:"to"`
	Types []associationType `json:"types"`
}

type associationType struct {
	Category string `json:"associationCategory"`
	TypeID   int    `json:"associationTypeId"`
}

func (n Note) toJSON() noteJSON {
	j := noteJSON{Properties: map[string]string{
		"hs_timestamp": strconv.FormatInt(n.Timestamp.UnixMilli(), 10),
		"hs_note_body": n.Body,
	}}
	if n.ContactID != 0 {
		j.Associations = []associationJSON{{
			To:    map[string]string{"id": strconv.FormatInt(n.ContactID, 10)},
			Types: []associationType{{Category: "HUBSPOT_DEFINED", TypeID: NoteToContact}},
		}}
	}
	return j
}

// CreateNote creates one note and returns its ID. A retried call creates a second note:
// HubSpot has no idempotency key for notes.
func (c *Client) CreateNote(ctx context.Context, portalID int64, n Note) (string, error) {
	resp, err := c.do(ctx, portalID, opCreateNote, http.MethodPost, "/crm/v3/objects/notes", n.toJSON())
	if err != nil {
		return "", err
	}
	if !ok2xx(resp.status) {
		return "", newAPIError(opCreateNote, resp.status, resp.body)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(resp.body, &out); err != nil {
		return "", fmt.Errorf("hubspot %s: decoding response: %w", opCreateNote, err)
	}
	return out.ID, nil
}

// CreateNotes creates notes in batches of up to 100. It returns how many of notes (a
// prefix) are known to exist. On error the notes of the failed call may exist: a 5xx or a
// lost connection can come after HubSpot stored them.
func (c *Client) CreateNotes(ctx context.Context, portalID int64, notes []Note) (int, error) {
	done := 0
	for chunk := range slices.Chunk(notes, batchSize) {
		inputs := make([]noteJSON, len(chunk))
		for i, n := range chunk {
			inputs[i] = n.toJSON()
		}
		resp, err := c.do(ctx, portalID, opCreateNotes, http.MethodPost,
			"/crm/v3/objects/notes/batch/create", map[string]any{"inputs": inputs})
		if err != nil {
			return done, err
		}
		if !ok2xx(resp.status) {
			return done, newAPIError(opCreateNotes, resp.status, resp.body)
		}
		done += len(chunk)
	}
	return done, nil
}

// FoundNote is a note returned by SearchNotes.
type FoundNote struct {
	ID   string
	Body string
}

// NoteQuery selects notes by their exact hs_timestamp (to the millisecond).
type NoteQuery struct {
	Timestamp time.Time
}

// SearchNotes returns the notes matching q, with their bodies. HubSpot's search index is
// eventually consistent: a note created a few seconds ago may be missing.
func (c *Client) SearchNotes(ctx context.Context, portalID int64, q NoteQuery) ([]FoundNote, error) {
	filters := []map[string]string{{
		"propertyName": "hs_timestamp", "operator": "EQ", "value": strconv.FormatInt(q.Timestamp.UnixMilli(), 10),
	}}
	var out []FoundNote
	after := ""
	for len(out) < searchMaxResults {
		req := map[string]any{
			"filterGroups": []map[string]any{{"filters": filters}},
			"properties":   []string{"hs_note_body", "hs_timestamp"},
			"limit":        searchPageSize,
		}
		if after != "" {
			req["after"] = after
		}
		resp, err := c.do(ctx, portalID, opSearchNotes, http.MethodPost, "/crm/v3/objects/notes/search", req)
		if err != nil {
			return out, err
		}
		if !ok2xx(resp.status) {
			return out, newAPIError(opSearchNotes, resp.status, resp.body)
		}
		var page struct {
			Results []struct {
				ID         string             `json:"id"`
				Properties map[string]*string `json:"properties"`
			} `json:"results"`
			Paging *struct {
				Next *struct {
					After string `json:"after"`
				} `json:"next"`
			} `json:"paging"`
		}
		if err := json.Unmarshal(resp.body, &page); err != nil {
			return out, fmt.Errorf("hubspot %s: decoding response: %w", opSearchNotes, err)
		}
		for _, r := range page.Results {
			f := FoundNote{ID: r.ID}
			if b := r.Properties["hs_note_body"]; b != nil {
				f.Body = *b
			}
			out = append(out, f)
		}
		if page.Paging == nil || page.Paging.Next == nil || page.Paging.Next.After == "" {
			break
		}
		after = page.Paging.Next.After
	}
	return out, nil
}
