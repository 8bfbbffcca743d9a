package lineprops

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
)

const token = "setup-test-token"

func newBox(t *testing.T) (*hubspotsandbox.Server, *hubspot.Client) {
	t.Helper()
	box := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: token})
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	return box, hubspot.NewClient(hubspot.Options{BaseURL: srv.URL, Tokens: hubspot.StaticToken(token), RequestsPerInterval: 10000})
}

var twoAccounts = []Account{{1, "line_user_id"}, {2, "line_user_id_2"}}

func byName(rs []Result) map[string]Result {
	m := map[string]Result{}
	for _, r := range rs {
		m[r.Name] = r
	}
	return m
}

func TestSetupCreatesThenFinds(t *testing.T) {
	box, c := newBox(t)
	ctx := context.Background()
	plan := Plan(twoAccounts)
	if len(plan) != 14 {
		t.Fatalf("plan has %d properties, want 14", len(plan))
	}
	rs, err := Setup(ctx, c, 0, plan, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 15 {
		t.Fatalf("%d results, want the group and 14 properties", len(rs))
	}
	for _, r := range rs {
		if r.Outcome != Created {
			t.Errorf("%s: %s, want created", r.Name, r.Outcome)
		}
	}
	if got := box.PropertyWrites(); got != 15 {
		t.Errorf("%d definitions written, want 15", got)
	}
	// Only the LINE user ID properties are unique, and each type is as planned.
	defs := map[string]hubspotsandbox.Property{}
	for _, p := range box.ContactProperties() {
		defs[p.Name] = p
	}
	for _, want := range []struct {
		name, typ string
		unique    bool
	}{
		{"line_user_id", "string", true}, {"line_user_id_2", "string", true},
		{"line_follow_status", "enumeration", false}, {"line_follow_status_2", "enumeration", false},
		{"line_display_name", "string", false}, {"line_picture_url_2", "string", false}, {"line_language", "string", false},
		{"line_followed_at", "datetime", false}, {"line_last_interaction_at_2", "datetime", false},
	} {
		p, ok := defs[want.name]
		if !ok || p.Type != want.typ || p.HasUniqueValue != want.unique || p.GroupName != GroupName {
			t.Errorf("%s: %+v, want type %s unique %v in %s", want.name, p, want.typ, want.unique, GroupName)
		}
		if box.UniqueContactProperty(want.name) != want.unique {
			t.Errorf("UniqueContactProperty(%s) != %v", want.name, want.unique)
		}
	}
	if p := defs["line_follow_status"]; len(p.Options) != 2 || p.Options[0].Value != Following || p.Options[1].Value != Blocked {
		t.Errorf("follow status options %+v", p.Options)
	}
	if p := defs["line_user_id_2"]; p.Label == defs["line_user_id"].Label || !strings.Contains(p.Description, "LINE アカウント 2") {
		t.Errorf("account 2's user ID property: label %q, description %q", p.Label, p.Description)
	}

	rs, err = Setup(ctx, c, 0, plan, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != Found || r.Note != "" || len(r.Differences) > 0 {
			t.Errorf("second run: %+v, want found", r)
		}
	}
	if got := box.PropertyWrites(); got != 15 {
		t.Errorf("second run wrote: %d definitions in all, want 15", got)
	}
}

func TestSetupDryRunWritesNothing(t *testing.T) {
	box, c := newBox(t)
	rs, err := Setup(context.Background(), c, 0, Plan(twoAccounts), true)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.Outcome != WouldCreate {
			t.Errorf("%s: %s, want would be created", r.Name, r.Outcome)
		}
	}
	if byName(rs)["line_user_id"].Unique != true {
		t.Error("dry run does not say the user ID property would be unique")
	}
	if box.PropertyWrites() != 0 || len(box.ContactPropertyGroups()) != 1 {
		t.Errorf("dry run wrote %d definitions, groups %v", box.PropertyWrites(), box.ContactPropertyGroups())
	}
}

func TestSetupReportsExisting(t *testing.T) {
	box, c := newBox(t)
	// A portal set up by hand, or by the product hubline replaces.
	box.SetContactProperty(hubspotsandbox.Property{Name: "line_user_id", Label: "LINE ID", GroupName: "contactinformation", Type: "string", FieldType: "text"})
	box.SetContactProperty(hubspotsandbox.Property{Name: "line_follow_status", Label: "Status", GroupName: GroupName, Type: "enumeration", FieldType: "radio",
		Options: []hubspotsandbox.PropertyOption{{Label: "Following", Value: "following"}}})
	box.SetContactProperty(hubspotsandbox.Property{Name: "line_display_name", Label: "Name", GroupName: GroupName, Type: "string", FieldType: "textarea"})
	box.SetContactProperty(hubspotsandbox.Property{Name: "line_followed_at", Label: "Followed", GroupName: GroupName, Type: "date", FieldType: "date"})
	box.SetContactProperty(hubspotsandbox.Property{Name: "line_last_interaction_at", Label: "Last", GroupName: GroupName, Type: "string", FieldType: "text"})
	before := box.ContactProperties()

	rs, err := Setup(context.Background(), c, 0, Plan(twoAccounts[:1]), false)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(rs)
	if r := got["line_user_id"]; r.Outcome != Differs || r.Unique || r.Incompatible || !strings.Contains(r.Note, "not unique") {
		t.Errorf("existing non-unique user ID property: %+v", r)
	}
	if r := got["line_follow_status"]; r.Outcome != Differs || !r.Incompatible || !strings.Contains(strings.Join(r.Differences, ";"), `no option "blocked"`) {
		t.Errorf("follow status without blocked: %+v", r)
	}
	if r := got["line_display_name"]; r.Outcome != Differs || r.Incompatible {
		t.Errorf("display name as a textarea: %+v", r)
	}
	if r := got["line_followed_at"]; r.Outcome != Differs || !r.Incompatible {
		t.Errorf("followed at as a date: %+v", r)
	}
	if r := got["line_last_interaction_at"]; r.Outcome != Differs || r.Incompatible {
		t.Errorf("last interaction as a string: %+v", r)
	}
	if r := got["line_picture_url"]; r.Outcome != Created {
		t.Errorf("missing property: %+v", r)
	}
	// Nothing that existed was changed.
	after := map[string]hubspotsandbox.Property{}
	for _, p := range box.ContactProperties() {
		after[p.Name] = p
	}
	for _, p := range before {
		if a := after[p.Name]; fmt.Sprint(a) != fmt.Sprint(p) {
			t.Errorf("%s changed: %+v -> %+v", p.Name, p, a)
		}
	}
}

func TestSetupUniqueLimit(t *testing.T) {
	box, c := newBox(t)
	for i := range 10 {
		box.SetContactProperty(hubspotsandbox.Property{Name: fmt.Sprintf("other_id_%d", i), Label: fmt.Sprint(i), GroupName: "contactinformation",
			Type: "string", FieldType: "text", HasUniqueValue: true})
	}
	rs, err := Setup(context.Background(), c, 0, Plan(twoAccounts[:1]), false)
	if err != nil {
		t.Fatal(err)
	}
	got := byName(rs)
	if r := got["line_user_id"]; r.Outcome != Failed || r.Err == nil || !strings.Contains(r.Note, "at most 10 unique") {
		t.Errorf("unique property over the limit: %+v", r)
	}
	if r := got["line_last_interaction_at"]; r.Outcome != Created {
		t.Errorf("the other properties: %+v", r)
	}
}

func TestPlanSharedUserIDProperty(t *testing.T) {
	plan := Plan([]Account{{1, "line_user_id"}, {2, "line_user_id"}})
	n := 0
	for _, p := range plan {
		if p.Name == "line_user_id" {
			n++
		}
	}
	if n != 1 || len(plan) != 13 {
		t.Errorf("line_user_id planned %d times, %d properties; want once, 13", n, len(plan))
	}
}

func TestSetupStopsOnAuthErrors(t *testing.T) {
	box, c := newBox(t)
	box.FailNext("/crm/v3/properties/contacts", http.StatusForbidden, 1)
	rs, err := Setup(context.Background(), c, 0, Plan(twoAccounts), false)
	if err == nil || !strings.Contains(err.Error(), "crm.schemas.contacts.write") || len(rs) != 0 {
		t.Fatalf("err = %v, %d results", err, len(rs))
	}
	if box.PropertyWrites() != 0 {
		t.Error("wrote after a 403")
	}
}
