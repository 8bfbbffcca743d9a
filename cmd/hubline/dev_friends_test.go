package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestDevLineFriendLoop follows the README's "LINE friends in dev": a friend added on the
// LINE sandbox becomes a HubSpot sandbox contact through the signed webhook and the
// LineEvent workflow, a send to the friend reaches the LINE sandbox, a redelivery changes
// nothing, and a block marks the contact.
func TestDevLineFriendLoop(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	httpAddr, uiAddr, temporalAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	p := startDev(t, []string{
		"TEMPORAL_ADDRESS=" + temporalAddr, "HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_UI_ADDR=" + uiAddr,
		"HUBLINE_DATA_DIR=" + t.TempDir(), "LINE_CHANNEL_ACCESS_TOKEN=", "HUBSPOT_ACCESS_TOKEN=", "HUBSPOT_CLIENT_ID=",
		"HUBSPOT_CLIENT_SECRET=", "HUBLINE_PUBLIC_URL=", "LINE_CHANNEL_SECRET=",
	})
	defer p.stop(t)

	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %d %v\nlogs:\n%s", path, resp.StatusCode, out, p.output.String())
		}
		return out
	}
	contactsOf := func(userID string) []map[string]any {
		t.Helper()
		resp, err := http.Get(base + "/sandbox/hubspot/sandbox?format=json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var dump struct {
			Contacts []map[string]any `json:"contacts"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&dump); err != nil {
			t.Fatal(err)
		}
		var out []map[string]any
		for _, c := range dump.Contacts {
			if props, _ := c["properties"].(map[string]any); props["line_user_id"] == userID {
				out = append(out, c)
			}
		}
		return out
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(time.Minute)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not within a minute; logs:\n%s", what, p.output.String())
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	prop := func(c map[string]any, name string) any { return c["properties"].(map[string]any)[name] }

	follow := post("/sandbox/line/sandbox/friends", `{"account":1,"action":"follow","displayName":"Aiko"}`)
	user, _ := follow["userId"].(string)
	if follow["status"] != float64(200) {
		t.Fatalf("the starter answered the follow webhook %v", follow)
	}
	waitFor("contact created", func() bool { return len(contactsOf(user)) == 1 })
	c := contactsOf(user)[0]
	if prop(c, "line_follow_status") != "following" || prop(c, "line_display_name") != "Aiko" || prop(c, "firstname") != "Aiko" {
		t.Errorf("contact after the follow: %v", c)
	}

	// A workflow sends to the friend (the README's sample with its user ID and contact).
	body, _ := json.Marshal(map[string]any{
		"callbackId": "dev-friend-1", "origin": map[string]any{"portalId": 1},
		"object":      map[string]any{"objectId": json.Number(c["id"].(string)), "properties": map[string]string{"firstname": "Aiko"}},
		"inputFields": map[string]string{"line_user_id": user, "message_1": "Welcome, {{contact.firstname}}"},
	})
	resp, err := http.Post(base+"/actions/send-line-message", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("send to the friend: HTTP %d", resp.StatusCode)
	}
	waitFor("message delivered", func() bool {
		r, err := http.Get(base + "/sandbox/line/sandbox/messages")
		if err != nil {
			return false
		}
		defer r.Body.Close()
		var ds []struct {
			To string `json:"to"`
		}
		_ = json.NewDecoder(r.Body).Decode(&ds)
		for _, d := range ds {
			if d.To == user {
				return true
			}
		}
		return false
	})

	again := post("/sandbox/line/sandbox/friends/redeliver", `{"webhookEventId":"`+follow["webhookEventId"].(string)+`"}`)
	if again["isRedelivery"] != true || again["status"] != float64(200) {
		t.Errorf("redelivery: %v", again)
	}
	post("/sandbox/line/sandbox/friends", `{"account":1,"action":"unfollow","userId":"`+user+`"}`)
	waitFor("contact blocked", func() bool {
		cs := contactsOf(user)
		return len(cs) == 1 && prop(cs[0], "line_follow_status") == "blocked"
	})
	if n := len(contactsOf(user)); n != 1 {
		t.Errorf("%d contacts for one LINE user", n)
	}
}
