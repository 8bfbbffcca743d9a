package starter

import (
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/accounts"
)

const portalA, portalB = 111, 222

// storedAccounts stands in for the store's list: tests add to it while the server runs.
type storedAccounts struct {
	mu   sync.Mutex
	list []accounts.Account
}

func (s *storedAccounts) add(a accounts.Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.list = append(s.list, a)
}

func (s *storedAccounts) get(context.Context) ([]accounts.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]accounts.Account(nil), s.list...), nil
}

// tenantServer has environment accounts 1 (LINE_CHANNEL_PORTAL=B) and 2 (_2=A) and stored
// accounts 3 (B) and 4 (A, named), with Temporal down: every answer here comes before a start.
func tenantServer(t *testing.T) (*Server, *storedAccounts) {
	t.Helper()
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	st := &storedAccounts{list: []accounts.Account{
		{Number: 3, PortalID: portalB, AccessToken: "t3"},
		{Number: 4, PortalID: portalA, AccessToken: "t4", Name: "Tokyo store"},
	}}
	r, err := accounts.New(context.Background(), accounts.Options{
		Env:    []accounts.Account{{Number: 1, PortalID: portalB, AccessToken: "t1"}, {Number: 2, PortalID: portalA, AccessToken: "t2"}},
		Stored: st.get, MinReload: time.Nanosecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	return New(Options{
		Temporal: c, ClientSecret: secret, PublicURL: public, BlockExpiration: 24 * time.Hour,
		BlockExpirationISO: "P1D", LineAccounts: r,
	}), st
}

func portalAction(portal int64, inputs map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{
		"callbackId": "ap-1-2-3", "origin": map[string]any{"portalId": portal}, "context": map[string]any{"workflowId": 2},
		"object": map[string]any{"objectId": 3, "objectType": "CONTACT"}, "inputFields": inputs,
	})
	return b
}

// TestPortalCannotUseAnotherPortalsAccount: through every action that takes line_account,
// portal A asking for B's environment or stored account gets exactly the answer it gets for
// an account that does not exist; nothing is started.
func TestPortalCannotUseAnotherPortalsAccount(t *testing.T) {
	s, _ := tenantServer(t)
	for _, path := range []string{"/actions/send-line-message", "/actions/send-line-message-v2", "/actions/send-line-message-queue"} {
		t.Run(path, func(t *testing.T) {
			answer := func(account string) answer {
				return post(t, s, path, portalAction(portalA, map[string]any{
					"line_user_id": userID, "line_account": account, "message_1": "hi",
				}), nil)
			}
			missing := answer("9")
			if missing.status != 200 || missing.out["error_code"] != CodeUnknownLineAccount {
				t.Fatalf("non-existent account: %d %s", missing.status, missing.raw)
			}
			for _, other := range []string{"1", "3"} { // B's environment and stored account
				a := answer(other)
				if a.status != 200 || a.out["error_code"] != CodeUnknownLineAccount {
					t.Fatalf("B's account %s: %d %s", other, a.status, a.raw)
				}
				if strings.ReplaceAll(a.raw, "account "+other, "account 9") != missing.raw {
					t.Errorf("B's account %s answers differently from a missing one:\n%s\n%s", other, a.raw, missing.raw)
				}
			}
		})
	}
}

// TestEmptyLineAccountIsThePortalsLowest: the v2 action shows which account was chosen
// through the property it reads (line_user_id_<n>), before anything is started.
func TestEmptyLineAccountIsThePortalsLowest(t *testing.T) {
	s, _ := tenantServer(t)
	for portal, prop := range map[int64]string{portalA: "line_user_id_2", portalB: "line_user_id"} {
		body, _ := json.Marshal(map[string]any{
			"callbackId": "ap-1", "origin": map[string]any{"portalId": portal},
			"object":      map[string]any{"objectId": 3, "properties": map[string]any{prop: ""}},
			"inputFields": map[string]any{"message_1": "hi"},
		})
		a := post(t, s, "/actions/send-line-message-v2", body, nil)
		if a.out["error_code"] != CodeNoLineUserID || !strings.Contains(a.out["error_message"], prop) {
			t.Errorf("portal %d, empty line_account: want its lowest account's property %s, got %s", portal, prop, a.raw)
		}
	}
}

type optionsAnswer struct {
	Options []struct{ Label, Value string } `json:"options"`
}

func TestLineAccountOptionsListOnlyThePortalsAccounts(t *testing.T) {
	s, st := tenantServer(t)
	const path = "/actions/options/line-account"
	ask := func(portal int64, headers map[string]string) (answer, optionsAnswer) {
		body, _ := json.Marshal(map[string]any{
			"origin":         map[string]any{"portalId": portal, "actionDefinitionId": 7, "actionDefinitionVersion": 1},
			"objectTypeId":   "0-1",
			"inputFieldName": "line_account", "inputFields": map[string]any{}, "fetchOptions": map[string]any{},
		})
		a := post(t, s, path, body, headers)
		var o optionsAnswer
		_ = json.Unmarshal([]byte(a.raw), &o)
		return a, o
	}
	type opt = struct{ Label, Value string }
	a, o := ask(portalA, nil)
	if a.status != 200 || !reflect.DeepEqual(o.Options, []opt{{"LINE account 2", "2"}, {"Tokyo store", "4"}}) {
		t.Fatalf("portal A: %d %s", a.status, a.raw)
	}
	st.add(accounts.Account{Number: 5, PortalID: portalB, AccessToken: "t5"})
	if _, o := ask(portalB, nil); !reflect.DeepEqual(o.Options, []opt{{"LINE account 1", "1"}, {"LINE account 3", "3"}, {"LINE account 5", "5"}}) {
		t.Fatalf("portal B: %+v", o.Options)
	}
	body, _ := json.Marshal(map[string]any{"origin": map[string]any{"portalId": portalA}, "fetchOptions": map[string]any{"q": "tokyo"}})
	if a := post(t, s, path, body, nil); a.raw != `{"options":[{"label":"Tokyo store","value":"4"}]}` {
		t.Fatalf("portal A searching tokyo: %s", a.raw)
	}
	if a := post(t, s, path, body[:0:0], nil); a.status != 400 {
		t.Fatalf("empty body: %d %s", a.status, a.raw)
	}
	if a, o := ask(333, nil); a.status != 200 || a.raw != `{"options":[]}` || len(o.Options) != 0 {
		t.Fatalf("portal without accounts: %d %s", a.status, a.raw)
	}
	// Verified like the actions: unsigned or badly signed requests learn nothing.
	for name, h := range map[string]map[string]string{
		"unsigned":   {"Content-Type": "application/json"},
		"bad v3":     {"X-HubSpot-Signature-v3": "bm9wZQ==", "X-HubSpot-Request-Timestamp": "1"},
		"wrong hash": {"X-HubSpot-Signature": strings.Repeat("0", 64), "X-HubSpot-Signature-Version": "v2"},
	} {
		if a, _ := ask(portalA, h); a.status != http.StatusUnauthorized || strings.Contains(a.raw, "LINE account") {
			t.Errorf("%s: %d %s", name, a.status, a.raw)
		}
	}
	if a := post(t, s, path, []byte(`{"inputFieldName":"line_account"}`), nil); a.status != 400 || a.code != "missing_portal_id" {
		t.Errorf("no portal: %d %s", a.status, a.raw)
	}
}
