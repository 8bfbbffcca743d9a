package actiondefs

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"reflect"
	"sort"
	"strings"
)

// readOnly are fields HubSpot adds to what it returns; they are never compared or sent.
var readOnly = map[string]bool{
	"id": true, "revisionId": true, "functions": true, "archivedAt": true, "createdAt": true, "updatedAt": true,
}

// Step is what Register does, or would do, with one definition file.
type Step struct {
	Definition Definition
	Action     string   // "create", "update" or "unchanged"
	ID         string   // HubSpot's definition ID ("" until created)
	Fields     []string // update: the top-level fields that differ
	body       map[string]any
	patch      map[string]any
}

// Stray is a HubSpot definition that matches no file; Register leaves it alone.
type Stray struct {
	ID, ActionURL string
}

// Plan matches each definition to the app's existing one by the path of its actionUrl (so
// a new HUBLINE_PUBLIC_URL updates the definitions rather than duplicating them) and says
// what must change.
func Plan(defs []Definition, remote []Remote, publicURL string) ([]Step, []Stray, error) {
	byPath := map[string][]Remote{}
	for _, r := range remote {
		byPath[urlPath(r["actionUrl"])] = append(byPath[urlPath(r["actionUrl"])], r)
	}
	used := map[string]bool{}
	var steps []Step
	for _, d := range defs {
		body := d.Body(publicURL)
		p := urlPath(body["actionUrl"])
		used[p] = true
		matches := byPath[p]
		switch len(matches) {
		case 0:
			steps = append(steps, Step{Definition: d, Action: "create", body: body})
			continue
		case 1:
		default:
			var ids []string
			for _, m := range matches {
				ids = append(ids, m.ID())
			}
			return nil, nil, fmt.Errorf("%s: HubSpot has %d definitions with actionUrl path %s (ids %s); delete all but one "+
				"(DELETE /automation/v4/actions/{appId}/{definitionId}) and run again", d.File, len(matches), p, strings.Join(ids, ", "))
		}
		r := matches[0]
		fields, patch := diff(body, r)
		s := Step{Definition: d, Action: "unchanged", ID: r.ID(), body: body}
		if len(fields) > 0 {
			s.Action, s.Fields, s.patch = "update", fields, patch
		}
		steps = append(steps, s)
	}
	var strays []Stray
	for _, r := range remote {
		if !used[urlPath(r["actionUrl"])] {
			u, _ := r["actionUrl"].(string)
			strays = append(strays, Stray{ID: r.ID(), ActionURL: u})
		}
	}
	return steps, strays, nil
}

func urlPath(v any) string {
	s, _ := v.(string)
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Path
}

// diff compares the wanted definition with HubSpot's as JSON values, ignoring the fields
// HubSpot adds and empty values (HubSpot may echo an absent list as []). It returns the
// top-level fields that differ and the PATCH that makes them equal: a field HubSpot has
// and the file no longer does is sent empty.
func diff(want map[string]any, have Remote) ([]string, map[string]any) {
	keys := map[string]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range have {
		keys[k] = true
	}
	var fields []string
	patch := map[string]any{}
	for k := range keys {
		if readOnly[k] {
			continue
		}
		w, h := normalize(want[k]), normalize(have[k])
		if reflect.DeepEqual(w, h) {
			continue
		}
		fields = append(fields, k)
		if v, ok := want[k]; ok {
			patch[k] = v
		} else {
			patch[k] = emptyLike(have[k])
		}
	}
	sort.Strings(fields)
	return fields, patch
}

// normalize drops nulls, empty lists and empty objects, recursively, and reads every
// value back from JSON so numbers and types compare alike.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var x any
	if json.Unmarshal(b, &x) != nil {
		return v
	}
	return prune(x)
}

func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, e := range t {
			if e = prune(e); e != nil {
				out[k] = e
			}
		}
		if len(out) == 0 {
			return nil
		}
		return out
	case []any:
		if len(t) == 0 {
			return nil
		}
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = prune(e)
		}
		return out
	}
	return v
}

func emptyLike(v any) any {
	switch v.(type) {
	case []any:
		return []any{}
	case map[string]any:
		return map[string]any{}
	}
	return nil
}

// Options configure Register.
type Options struct {
	Client    *Client
	PublicURL string // HUBLINE_PUBLIC_URL
	DryRun    bool   // print the plan, write nothing
	Out       io.Writer
}

// Result counts what Register did (or, in a dry run, would do).
type Result struct {
	Created, Updated, Unchanged int
}

// Register brings the app's definitions in line with defs and prints one line per
// definition: created, updated (which top-level fields) or unchanged.
func Register(ctx context.Context, defs []Definition, o Options) (Result, error) {
	remote, err := o.Client.List(ctx)
	if err != nil {
		return Result{}, fmt.Errorf("listing the app's action definitions: %w", err)
	}
	steps, strays, err := Plan(defs, remote, o.PublicURL)
	if err != nil {
		return Result{}, err
	}
	would := ""
	if o.DryRun {
		would = "would be "
	}
	var res Result
	for _, s := range steps {
		name := fmt.Sprintf("%s (%s)", s.Definition.File, s.Definition.Route)
		switch s.Action {
		case "unchanged":
			res.Unchanged++
			fmt.Fprintf(o.Out, "%s: unchanged, id %s\n", name, s.ID)
		case "create":
			if !o.DryRun {
				r, err := o.Client.Create(ctx, s.body)
				if err != nil {
					return res, fmt.Errorf("%s: creating: %w", s.Definition.File, err)
				}
				s.ID = r.ID()
			}
			res.Created++
			if o.DryRun {
				fmt.Fprintf(o.Out, "%s: %screated\n", name, would)
			} else {
				fmt.Fprintf(o.Out, "%s: created, id %s\n", name, s.ID)
			}
		case "update":
			if !o.DryRun {
				if _, err := o.Client.Update(ctx, s.ID, s.patch); err != nil {
					return res, fmt.Errorf("%s: updating definition %s: %w", s.Definition.File, s.ID, err)
				}
			}
			res.Updated++
			fmt.Fprintf(o.Out, "%s: %supdated (%s), id %s\n", name, would, strings.Join(s.Fields, ", "), s.ID)
		}
	}
	for _, s := range strays {
		fmt.Fprintf(o.Out, "HubSpot definition %s (%s) matches no file: left as it is\n", s.ID, s.ActionURL)
	}
	if o.DryRun {
		fmt.Fprintf(o.Out, "dry run: %d to create, %d to update, %d unchanged; nothing was written\n", res.Created, res.Updated, res.Unchanged)
	} else {
		fmt.Fprintf(o.Out, "%d created, %d updated, %d unchanged\n", res.Created, res.Updated, res.Unchanged)
	}
	return res, nil
}
