package actiondefs_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hubline/hubline/internal/actiondefs"
	"github.com/hubline/hubline/internal/hubspotsandbox"
)

const (
	appID     = "4242"
	apiKey    = "dev-key-must-stay-secret"
	publicURL = "https://hubline.example.com"
)

type env struct {
	box    *hubspotsandbox.Server
	srv    *httptest.Server
	client *actiondefs.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	box := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "portal-token"})
	box.SetDeveloperAPIKey(apiKey)
	srv := httptest.NewServer(box)
	t.Cleanup(srv.Close)
	return &env{box: box, srv: srv, client: &actiondefs.Client{BaseURL: srv.URL, AppID: appID, APIKey: apiKey}}
}

// register runs Register and checks the key is in none of its output.
func (e *env) register(t *testing.T, defs []actiondefs.Definition, dryRun bool, public string) (actiondefs.Result, string, error) {
	t.Helper()
	var out bytes.Buffer
	res, err := actiondefs.Register(context.Background(), defs, actiondefs.Options{Client: e.client, PublicURL: public, DryRun: dryRun, Out: &out})
	noKey(t, out.String())
	if err != nil {
		noKey(t, err.Error())
	}
	return res, out.String(), err
}

func noKey(t *testing.T, s string) {
	t.Helper()
	if strings.Contains(s, apiKey) || strings.Contains(s, "stay-secret") {
		t.Errorf("the developer API key appears in %q", s)
	}
}

// withLabel returns defs with one definition's English action name changed.
func withLabel(t *testing.T, defs []actiondefs.Definition, file, name string) []actiondefs.Definition {
	t.Helper()
	out := make([]actiondefs.Definition, len(defs))
	copy(out, defs)
	for i, d := range out {
		if d.File != file {
			continue
		}
		b, err := os.ReadFile("../../hubspot/" + file)
		if err != nil {
			t.Fatal(err)
		}
		old := d.Labels("en")["actionName"].(string)
		changed := strings.Replace(string(b), `"actionName": "`+old+`"`, `"actionName": "`+name+`"`, 1)
		if out[i], err = actiondefs.Parse(file, []byte(changed)); err != nil {
			t.Fatal(err)
		}
		return out
	}
	t.Fatalf("no %s", file)
	return nil
}

func TestRegister(t *testing.T) {
	e := newEnv(t)
	e.box.SetDefinitionsPageSize(1) // every list below pages
	defs := loadRepo(t)
	n := len(defs)

	// Dry run on an empty app: the plan, no writes.
	res, out, err := e.register(t, defs, true, publicURL)
	if err != nil || res.Created != n || e.box.DefinitionWrites() != 0 {
		t.Fatalf("dry run: %+v %v, writes %d\n%s", res, err, e.box.DefinitionWrites(), out)
	}
	if !strings.Contains(out, "send-line-message.action.json (/actions/send-line-message): would be created") ||
		!strings.Contains(out, "nothing was written") {
		t.Errorf("dry-run output:\n%s", out)
	}

	// First run creates everything, with absolute URLs.
	res, out, err = e.register(t, defs, false, publicURL)
	if err != nil || res.Created != n || e.box.DefinitionWrites() != n {
		t.Fatalf("first run: %+v %v, writes %d\n%s", res, err, e.box.DefinitionWrites(), out)
	}
	if !strings.Contains(out, "send-data.action.json (/actions/send-data): created, id ") {
		t.Errorf("first-run output:\n%s", out)
	}
	remote := e.box.ActionDefinitions(appID)
	if len(remote) != n {
		t.Fatalf("HubSpot has %d definitions, want %d", len(remote), n)
	}
	urls := map[string]bool{}
	for _, r := range remote {
		urls[r["actionUrl"].(string)] = true
	}
	if !urls[publicURL+"/actions/send-line-message"] || !urls[publicURL+"/actions/send-line-message-queue"] {
		t.Errorf("actionUrls = %v", urls)
	}

	// Second run: nothing changes, nothing is written (though every list is paged).
	res, out, err = e.register(t, defs, false, publicURL)
	if err != nil || res.Unchanged != n || res.Created+res.Updated != 0 || e.box.DefinitionWrites() != n {
		t.Fatalf("second run: %+v %v, writes %d\n%s", res, err, e.box.DefinitionWrites(), out)
	}

	// A changed label updates that definition only, and only its labels.
	changed := withLabel(t, defs, "send-data.action.json", "Send Data to a webhook")
	res, out, err = e.register(t, changed, true, publicURL)
	if err != nil || res.Updated != 1 || e.box.DefinitionWrites() != n {
		t.Fatalf("dry run of a change: %+v %v, writes %d\n%s", res, err, e.box.DefinitionWrites(), out)
	}
	res, out, err = e.register(t, changed, false, publicURL)
	if err != nil || res.Updated != 1 || res.Unchanged != n-1 || e.box.DefinitionWrites() != n+1 {
		t.Fatalf("label change: %+v %v, writes %d\n%s", res, err, e.box.DefinitionWrites(), out)
	}
	if !strings.Contains(out, "send-data.action.json (/actions/send-data): updated (labels), id ") {
		t.Errorf("label-change output:\n%s", out)
	}
	for _, r := range e.box.ActionDefinitions(appID) {
		if strings.HasSuffix(r["actionUrl"].(string), "/actions/send-data") {
			if got := r["labels"].(map[string]any)["en"].(map[string]any)["actionName"]; got != "Send Data to a webhook" {
				t.Errorf("HubSpot's actionName = %v", got)
			}
			if r["revisionId"] != "2" {
				t.Errorf("send-data revision = %v, want 2", r["revisionId"])
			}
		} else if r["revisionId"] != "1" {
			t.Errorf("%v was written (revision %v)", r["actionUrl"], r["revisionId"])
		}
	}
	if res, _, _ := e.register(t, changed, false, publicURL); res.Unchanged != n {
		t.Errorf("after the update: %+v, want all unchanged", res)
	}

	// A new public URL updates every definition in place (matched by path), no duplicates;
	// those with an optionsUrl update it too.
	res, out, err = e.register(t, changed, false, "https://new.example.com")
	if err != nil || res.Updated != n || res.Created != 0 || len(e.box.ActionDefinitions(appID)) != n {
		t.Fatalf("new public URL: %+v %v\n%s", res, err, out)
	}
	if !strings.Contains(out, "send-line-message.action.json (/actions/send-line-message): updated (actionUrl, inputFields)") ||
		!strings.Contains(out, "send-data.action.json (/actions/send-data): updated (actionUrl), id") {
		t.Errorf("new-URL output:\n%s", out)
	}
}

func TestRegisterStraysAndDuplicates(t *testing.T) {
	e := newEnv(t)
	defs := loadRepo(t)
	other := map[string]any{
		"actionUrl": "https://elsewhere.example.com/hook", "objectTypes": []any{"CONTACT"},
		"labels": map[string]any{"en": map[string]any{"actionName": "Not ours"}},
		// A field HubSpot has and the file does not is still compared.
	}
	stray, err := e.client.Create(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	// A definition of ours with an extra field the file lacks.
	withDeps := defs[0].Body(publicURL)
	withDeps["inputFieldDependencies"] = []any{map[string]any{
		"dependencyType": "SINGLE_FIELD", "controllingFieldName": "message_1", "dependentFieldNames": []any{"message_2"}}}
	if _, err := e.client.Create(context.Background(), withDeps); err != nil {
		t.Fatal(err)
	}
	res, out, err := e.register(t, defs, false, publicURL)
	if err != nil || res.Updated != 1 || res.Created != len(defs)-1 {
		t.Fatalf("%+v %v\n%s", res, err, out)
	}
	if !strings.Contains(out, "HubSpot definition "+stray.ID()+" (https://elsewhere.example.com/hook) matches no file: left as it is") {
		t.Errorf("output does not mention the stray definition:\n%s", out)
	}
	if !strings.Contains(out, defs[0].File+" ("+defs[0].Route+"): updated (inputFieldDependencies)") {
		t.Errorf("output does not show the removed field:\n%s", out)
	}
	if res, _, _ := e.register(t, defs, false, publicURL); res.Unchanged != len(defs) {
		t.Errorf("after removing the field: %+v, want all unchanged", res)
	}

	// Two HubSpot definitions on one route: refuse, write nothing.
	if _, err := e.client.Create(context.Background(), defs[1].Body("https://old.example.com")); err != nil {
		t.Fatal(err)
	}
	writes := e.box.DefinitionWrites()
	_, out, err = e.register(t, defs, false, publicURL)
	if err == nil || !strings.Contains(err.Error(), "HubSpot has 2 definitions with actionUrl path "+defs[1].Route) {
		t.Fatalf("duplicates: %v\n%s", err, out)
	}
	if e.box.DefinitionWrites() != writes {
		t.Errorf("duplicates: %d writes", e.box.DefinitionWrites()-writes)
	}
}

// TestRegisterNeverShowsTheKey: HubSpot errors carry their status and message; the API key
// (a query parameter, so in every URL Go's errors quote) appears in no error or output.
func TestRegisterNeverShowsTheKey(t *testing.T) {
	defs := loadRepo(t)
	t.Run("wrong key", func(t *testing.T) {
		e := newEnv(t)
		e.box.SetDeveloperAPIKey("another-key")
		_, _, err := e.register(t, defs, false, publicURL)
		var ae *actiondefs.APIError
		if !errors.As(err, &ae) || ae.Status != 401 || !strings.Contains(err.Error(), "HTTP 401 INVALID_AUTHENTICATION: The API key provided is invalid") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("server error while creating", func(t *testing.T) {
		e := newEnv(t)
		e.box.FailNext("/automation/v4/actions/"+appID, http.StatusInternalServerError, 1)
		if _, _, err := e.register(t, defs, false, publicURL); err == nil || !strings.Contains(err.Error(), "HTTP 500") {
			t.Fatalf("list: err = %v", err)
		}
		// The list succeeds; HubSpot fails the create.
		e.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost {
				e.box.FailNext(r.URL.Path, http.StatusInternalServerError, 1)
			}
			e.box.ServeHTTP(w, r)
		})
		_, out, err := e.register(t, defs, false, publicURL)
		if err == nil || !strings.Contains(err.Error(), "creating: HubSpot answered POST /automation/v4/actions/"+appID+" with HTTP 500 INTERNAL_ERROR: Injected failure") {
			t.Fatalf("create: err = %v\n%s", err, out)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		e := newEnv(t)
		e.srv.Close()
		if _, _, err := e.register(t, defs, false, publicURL); err == nil || !strings.Contains(err.Error(), "hapikey=REDACTED") {
			t.Fatalf("err = %v, want the redacted URL", err)
		}
	})
	t.Run("key echoed by the server, percent-encoded key", func(t *testing.T) {
		key := "k+y/=&" + apiKey
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"status":"error","category":"VALIDATION_ERROR","message":"bad key ` + r.URL.Query().Get("hapikey") + ` in ` + r.URL.RawQuery + `"}`))
		}))
		defer srv.Close()
		c := &actiondefs.Client{BaseURL: srv.URL, AppID: appID, APIKey: key}
		_, err := c.List(context.Background())
		if err == nil || !strings.Contains(err.Error(), "HTTP 400 VALIDATION_ERROR: bad key REDACTED in hapikey=REDACTED") {
			t.Fatalf("err = %v", err)
		}
		noKey(t, err.Error())
	})
	t.Run("redirect not followed", func(t *testing.T) {
		var hits atomic.Int32
		elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
		defer elsewhere.Close()
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+r.URL.RequestURI(), http.StatusFound)
		}))
		defer srv.Close()
		c := &actiondefs.Client{BaseURL: srv.URL, AppID: appID, APIKey: apiKey}
		if _, err := c.List(context.Background()); err == nil || !strings.Contains(err.Error(), "HTTP 302") {
			t.Fatalf("err = %v", err)
		}
		if hits.Load() != 0 {
			t.Error("the redirect was followed: the key went to another server")
		}
	})
}
