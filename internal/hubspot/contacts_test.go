package hubspot

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspotsandbox"
)

func TestContactsCreateSearchUpdate(t *testing.T) {
	ctx := context.Background()
	sb, c := sandbox(t, hubspotsandbox.Options{})
	sb.SetContactProperty(hubspotsandbox.Property{Name: "line_user_id", Label: "LINE user ID", GroupName: "hubline", Type: "string", FieldType: "text", HasUniqueValue: true})
	sb.SetContactSearchLag(300 * time.Millisecond)

	id, err := c.CreateContact(ctx, 1, map[string]string{"line_user_id": "Uaaa", "firstname": "Aiko"})
	if err != nil || id == "" {
		t.Fatalf("create: %q %v", id, err)
	}
	// The index lags: not found at once, found after the lag.
	if ids, err := c.SearchContactIDs(ctx, 1, "line_user_id", "Uaaa"); err != nil || len(ids) != 0 {
		t.Fatalf("search before the index caught up: %v %v", ids, err)
	}
	time.Sleep(400 * time.Millisecond)
	if ids, err := c.SearchContactIDs(ctx, 1, "line_user_id", "Uaaa"); err != nil || len(ids) != 1 || ids[0] != id {
		t.Fatalf("search: %v %v, want [%s]", ids, err, id)
	}
	// A unique property's value on a second contact: 409 naming the first.
	_, err = c.CreateContact(ctx, 1, map[string]string{"line_user_id": "Uaaa"})
	var ce *ConflictError
	if !errors.As(err, &ce) || ce.ExistingID != id {
		t.Fatalf("duplicate create: %v", err)
	}
	if err := c.UpdateContact(ctx, 1, id, map[string]string{"line_follow_status": "blocked"}); err != nil {
		t.Fatalf("update: %v", err)
	}
	if err := c.UpdateContact(ctx, 1, "999999", map[string]string{"line_follow_status": "blocked"}); !errors.Is(err, ErrContactNotFound) {
		t.Fatalf("update of an unknown contact: %v", err)
	}
	var props map[string]string
	for _, r := range sb.Contacts() {
		if r.ID == id {
			props = r.Properties
		}
	}
	if props["firstname"] != "Aiko" || props["line_follow_status"] != "blocked" || sb.ContactWrites() != 2 {
		t.Fatalf("contact %v, writes %d", props, sb.ContactWrites())
	}
}
