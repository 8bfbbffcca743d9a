// Package lineprops defines the HubSpot contact properties hubline keeps about LINE friends,
// one set per LINE account, and sets them up in a portal: idempotently, creating what is
// missing and reporting, never changing, what exists with another definition.
package lineprops

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"github.com/hubline/hubline/internal/hubspot"
)

// GroupName is the contact property group hubline's properties belong to.
const GroupName = "hubline"

// Group is the property group, as created.
func Group() hubspot.PropertyGroup {
	return hubspot.PropertyGroup{Name: GroupName, Label: "LINE (hubline)"}
}

// Follow status values (contract: the webhook workflow writes them).
const (
	Following = "following"
	Blocked   = "blocked"
)

// Names are the contact properties of one LINE account.
type Names struct {
	UserID            string
	FollowStatus      string
	DisplayName       string
	PictureURL        string
	Language          string
	FollowedAt        string
	LastInteractionAt string
}

// NamesFor returns account n's property names: the base names for account 1, _<n> after
// them for the others. userIDProperty is HUBSPOT_LINE_USER_ID_PROPERTY[_<n>] (or its
// default, config.LineUserIDProperty).
func NamesFor(n int, userIDProperty string) Names {
	sfx := ""
	if n > 1 {
		sfx = "_" + strconv.Itoa(n)
	}
	return Names{
		UserID: userIDProperty, FollowStatus: "line_follow_status" + sfx, DisplayName: "line_display_name" + sfx,
		PictureURL: "line_picture_url" + sfx, Language: "line_language" + sfx, FollowedAt: "line_followed_at" + sfx,
		LastInteractionAt: "line_last_interaction_at" + sfx,
	}
}

// Account is one LINE account whose properties are set up.
type Account struct {
	Number         int
	UserIDProperty string
}

// Definitions returns account n's property definitions. HubSpot has no per-language
// property labels, so labels are English and descriptions carry the Japanese too.
func Definitions(a Account) []hubspot.Property {
	n := NamesFor(a.Number, a.UserIDProperty)
	acct := "LINE account " + strconv.Itoa(a.Number)
	acctJA := "LINE アカウント " + strconv.Itoa(a.Number)
	label := func(s string) string {
		if a.Number > 1 {
			return s + " (account " + strconv.Itoa(a.Number) + ")" // HubSpot labels must differ
		}
		return s
	}
	text := func(name, l, desc string, order int) hubspot.Property {
		return hubspot.Property{Name: name, Label: label(l), Description: desc, GroupName: GroupName,
			Type: "string", FieldType: "text", DisplayOrder: order}
	}
	when := func(name, l, desc string, order int) hubspot.Property {
		return hubspot.Property{Name: name, Label: label(l), Description: desc, GroupName: GroupName,
			Type: "datetime", FieldType: "date", DisplayOrder: order}
	}
	userID := text(n.UserID, "LINE user ID",
		"The contact's LINE user ID as a friend of "+acct+", set by hubline. / "+acctJA+" の友だちとしての LINE ユーザー ID（hubline が設定）。", 1)
	userID.HasUniqueValue = true
	return []hubspot.Property{
		userID,
		{Name: n.FollowStatus, Label: label("LINE follow status"), GroupName: GroupName, Type: "enumeration", FieldType: "select", DisplayOrder: 2,
			Description: "following: the contact has " + acct + " as a friend; blocked: the contact blocked it. Set by hubline from LINE webhooks. / " +
				"following: " + acctJA + " を友だち追加中、blocked: ブロック中。hubline が LINE の Webhook から設定します。",
			Options: []hubspot.PropertyOption{
				{Label: "Following (友だち追加中)", Value: Following, DisplayOrder: 0},
				{Label: "Blocked (ブロック中)", Value: Blocked, DisplayOrder: 1},
			}},
		text(n.DisplayName, "LINE display name", "The contact's LINE display name, from "+acct+"'s profile of them. / LINE の表示名（"+acctJA+" から見たプロフィール）。", 3),
		text(n.PictureURL, "LINE picture URL", "URL of the contact's LINE profile picture. / LINE のプロフィール画像の URL。", 4),
		text(n.Language, "LINE language", "Language of the contact's LINE app (ja, en, ...). / LINE アプリの言語設定（ja、en など）。", 5),
		when(n.FollowedAt, "LINE followed at", "When the contact last added "+acct+" as a friend or unblocked it. / "+acctJA+" を最後に友だち追加（またはブロック解除）した日時。", 6),
		when(n.LastInteractionAt, "LINE last interaction", "When the contact last sent "+acct+" a message or another event. / "+acctJA+" に最後にメッセージなどを送った日時。", 7),
	}
}

// Plan lists the definitions of every account once: accounts may share a LINE user ID
// property (user IDs are per LINE provider), and the first account's definition wins.
func Plan(accounts []Account) []hubspot.Property {
	var out []hubspot.Property
	seen := map[string]bool{}
	for _, a := range accounts {
		for _, p := range Definitions(a) {
			if !seen[p.Name] {
				seen[p.Name] = true
				out = append(out, p)
			}
		}
	}
	return out
}

// API is what Setup needs of the HubSpot client (*hubspot.Client).
type API interface {
	ContactProperty(ctx context.Context, portalID int64, name string) (hubspot.Property, bool, error)
	CreateContactProperty(ctx context.Context, portalID int64, p hubspot.Property) (bool, error)
	ContactPropertyGroup(ctx context.Context, portalID int64, name string) (hubspot.PropertyGroup, bool, error)
	CreateContactPropertyGroup(ctx context.Context, portalID int64, g hubspot.PropertyGroup) (bool, error)
}

// Outcome is what Setup did with one definition.
type Outcome string

// Outcomes.
const (
	Created     Outcome = "created"
	WouldCreate Outcome = "would be created"
	Found       Outcome = "found"
	Differs     Outcome = "differs"
	Failed      Outcome = "failed"
)

// Result is one group or property.
type Result struct {
	Name    string
	Group   bool
	Outcome Outcome
	// Unique: the property requires unique values (as created or found).
	Unique bool
	// Differences between the existing definition and hubline's (Outcome Differs).
	Differences []string
	// Incompatible: hubline's writes to the existing property would fail.
	Incompatible bool
	// Note says something worth knowing that is not a failure.
	Note string
	Err  error
}

// Setup creates the group and the properties that are missing in the portal; dryRun only
// reads. An existing property is never changed: differences are reported. It stops at the
// first error that would repeat for every definition (authentication, scopes, rate limits,
// network); a definition HubSpot refuses (400) is reported in its Result and the others
// continue.
func Setup(ctx context.Context, api API, portalID int64, plan []hubspot.Property, dryRun bool) ([]Result, error) {
	var out []Result
	g := Group()
	res := Result{Name: g.Name, Group: true}
	_, found, err := api.ContactPropertyGroup(ctx, portalID, g.Name)
	switch {
	case err != nil:
		return out, fmt.Errorf("property group %s: %w", g.Name, hint(err))
	case found:
		res.Outcome = Found
	case dryRun:
		res.Outcome = WouldCreate
	default:
		created, err := api.CreateContactPropertyGroup(ctx, portalID, g)
		if err != nil {
			return out, fmt.Errorf("property group %s: %w", g.Name, hint(err))
		}
		res.Outcome = Found // created meanwhile by someone else
		if created {
			res.Outcome = Created
		}
	}
	out = append(out, res)

	for _, want := range plan {
		r, err := setupOne(ctx, api, portalID, want, dryRun)
		if err != nil {
			return out, fmt.Errorf("property %s: %w", want.Name, hint(err))
		}
		out = append(out, r)
	}
	return out, nil
}

func setupOne(ctx context.Context, api API, portalID int64, want hubspot.Property, dryRun bool) (Result, error) {
	r := Result{Name: want.Name}
	have, found, err := api.ContactProperty(ctx, portalID, want.Name)
	if err != nil {
		return r, err
	}
	if !found {
		if dryRun {
			r.Outcome, r.Unique = WouldCreate, want.HasUniqueValue
			return r, nil
		}
		created, err := api.CreateContactProperty(ctx, portalID, want)
		var ae *hubspot.APIError
		switch {
		case errors.As(err, &ae) && ae.StatusCode == http.StatusBadRequest:
			r.Outcome, r.Err = Failed, err
			if want.HasUniqueValue {
				r.Note = "HubSpot allows at most 10 unique contact properties: free one, or set HUBSPOT_LINE_USER_ID_PROPERTY to an existing property"
			}
			return r, nil
		case err != nil:
			return r, err
		case created:
			r.Outcome, r.Unique = Created, want.HasUniqueValue
			return r, nil
		}
		// 409: created since we looked. Compare with what is there.
		if have, found, err = api.ContactProperty(ctx, portalID, want.Name); err != nil {
			return r, err
		} else if !found {
			return r, fmt.Errorf("HubSpot answered that it exists, then that it does not")
		}
	}
	r.Outcome, r.Unique = Found, have.HasUniqueValue
	r.Differences, r.Incompatible = Compare(want, have)
	if len(r.Differences) > 0 {
		r.Outcome = Differs
	}
	if want.HasUniqueValue && !have.HasUniqueValue {
		r.Note = "not unique: HubSpot cannot make an existing property unique; hubline's own mapping still keeps one contact per LINE user"
	}
	return r, nil
}

// Compare lists how have differs from hubline's definition want, and whether hubline's
// writes would fail on it: a string property takes any value hubline writes, an enumeration
// needs hubline's values among its options, and another type must be the same. Labels,
// descriptions and uniqueness are the portal's choice and not compared.
func Compare(want, have hubspot.Property) (diffs []string, incompatible bool) {
	if have.Type != want.Type {
		diffs = append(diffs, fmt.Sprintf("type %s, hubline's is %s", have.Type, want.Type))
		incompatible = have.Type != "string"
	} else if have.FieldType != want.FieldType {
		diffs = append(diffs, fmt.Sprintf("field type %s, hubline's is %s", have.FieldType, want.FieldType))
	}
	if have.Type == "enumeration" {
		for _, o := range want.Options {
			if !slices.ContainsFunc(have.Options, func(h hubspot.PropertyOption) bool { return h.Value == o.Value }) {
				diffs = append(diffs, fmt.Sprintf("no option %q", o.Value))
				incompatible = true
			}
		}
	}
	if have.GroupName != want.GroupName {
		diffs = append(diffs, fmt.Sprintf("group %s, hubline's is %s", have.GroupName, want.GroupName))
	}
	return diffs, incompatible
}

// hint adds what to do about errors a user can fix.
func hint(err error) error {
	var ae *hubspot.APIError
	if errors.As(err, &ae) && ae.StatusCode == http.StatusForbidden {
		return fmt.Errorf("%w (creating contact properties needs the crm.schemas.contacts.write scope)", err)
	}
	return err
}
