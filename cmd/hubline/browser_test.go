package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/starter"
)

// chromium is the path of a Chromium (or Chrome) binary, or "".
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserDevStack drives headless Chromium through `hubline dev` in multi-portal mode
// with HUBLINE_PAYLOAD_KEY set, as a new user would click through it: the OAuth install, a
// delivery seen on the LINE and HubSpot sandbox pages, the run in the Temporal UI (found by
// AnalyticsTag and DeliveryStatus, its input decoded through the codec while the stored
// history holds only ciphertext), and a LINE Login link. Screenshots of each page go to a
// temporary directory (HUBLINE_TEST_SCREENSHOTS keeps them in a directory of your choice).
func TestBrowserDevStack(t *testing.T) {
	chrome := chromium()
	if chrome == "" {
		t.Skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run installs it): the browser test of the dev stack did not run")
	}
	shots := os.Getenv("HUBLINE_TEST_SCREENSHOTS")
	if shots == "" {
		shots = t.TempDir()
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	httpAddr, uiAddr, temporalAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	base, ui := "http://"+httpAddr, "http://"+uiAddr
	p := startDev(t, []string{
		"TEMPORAL_ADDRESS=" + temporalAddr, "HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_UI_ADDR=" + uiAddr,
		"HUBLINE_DATA_DIR=" + t.TempDir(), "HUBLINE_PAYLOAD_KEY=" + base64.StdEncoding.EncodeToString(key),
		"HUBSPOT_CLIENT_ID=dev", "HUBSPOT_CLIENT_SECRET=dev-secret", // multi-portal mode
		"LINE_CHANNEL_ACCESS_TOKEN=", "HUBSPOT_ACCESS_TOKEN=", "HUBSPOT_REFRESH_TOKEN=", "HUBLINE_PUBLIC_URL=",
	})

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chrome), chromedp.NoSandbox, chromedp.WindowSize(1280, 1000))...)
	defer cancelAlloc()
	browser, cancelBrowser := chromedp.NewContext(alloc)
	defer cancelBrowser()
	if err := chromedp.Do(browser); err != nil { // starts Chromium, with no deadline of its own
		t.Fatalf("start %s: %v", chrome, err)
	}
	ctx, cancel := context.WithTimeout(browser, 100*time.Second)
	defer cancel()
	b := &page{t: t, ctx: ctx, shots: shots, reload: 10 * time.Second}

	// 1. The OAuth install, through the HubSpot sandbox's install screen.
	b.open(base + starter.RouteOAuthInstall)
	b.waitText("HubSpot sandbox: install an app", "アプリのインストール", "Approve / 承認")
	b.shot("1-install-screen")
	b.do(chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
	b.waitText("hubline is installed", "hubline のインストールが完了しました")
	b.shot("2-installed")

	// 2. A Send LINE Message execution of portal 1, as HubSpot sends it.
	const tag, text = "browser_check", "Hello Aiko from the browser test"
	callbackID := fmt.Sprintf("ap-browser-%d", time.Now().UnixNano())
	out := signedAction(t, base, "/actions/send-line-message", map[string]any{
		"callbackId": callbackID, "origin": map[string]any{"portalId": 1},
		"object":      map[string]any{"objectId": 904, "objectType": "CONTACT", "properties": map[string]string{"firstname": "Aiko"}},
		"inputFields": map[string]string{"line_user_id": "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "message_1": "Hello {{contact.firstname}} from the browser test", "analytics_tag": tag},
	})
	if out["hs_execution_state"] != "BLOCK" {
		t.Fatalf("send: %v\n%s", out, p.output.String())
	}

	// 3. The sandboxes' pages show the message, the callback and the note.
	b.open(base + lineSandboxPath + "/sandbox")
	b.waitText("LINE sandbox", text)
	b.shot("3-line-sandbox")
	b.open(base + hubspotSandboxPath + "/sandbox")
	b.waitText(callbackID, text) // the callback completed, the note on the contact
	b.shot("4-hubspot-sandbox")

	// 4. The Temporal UI finds the run by AnalyticsTag and DeliveryStatus...
	workflowID := "hubspot-" + callbackID
	query := fmt.Sprintf(`AnalyticsTag = %q AND DeliveryStatus = "delivered"`, tag)
	b.open(ui + "/namespaces/default/workflows?query=" + url.QueryEscape(query))
	b.waitText(workflowID, "SendLineMessage")
	if !strings.Contains(strings.ToLower(b.text()), "completed") {
		t.Errorf("the UI does not list the run as completed:\n%s", b.text())
	}
	b.shot("5-ui-list")
	b.open(ui + "/namespaces/default/workflows?query=" + url.QueryEscape(fmt.Sprintf(`AnalyticsTag = %q AND DeliveryStatus = "failed"`, tag)))
	b.waitText("No Workflows")
	if got := b.text(); strings.Contains(got, workflowID) {
		t.Errorf("the delivered run is listed among failures:\n%s", got)
	}

	// ...and shows its input decoded by the codec, while the stored history is ciphertext.
	c, err := client.Dial(client.Options{HostPort: temporalAddr, Namespace: "default"}) // no codec
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	desc, err := c.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		t.Fatal(err)
	}
	runID := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId()
	b.open(ui + "/namespaces/default/workflows/" + workflowID + "/" + runID + "/history")
	b.waitText(text, "U4af4980629aaaaaaaaaaaaaaaaaaaaaa")
	b.shot("6-ui-history-decoded")
	var stored bytes.Buffer
	encrypted := 0
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enums.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if in := ev.GetWorkflowExecutionStartedEventAttributes().GetInput(); in != nil {
			for _, pl := range in.GetPayloads() {
				if string(pl.GetMetadata()["encoding"]) == "binary/encrypted" {
					encrypted++
				}
			}
		}
		j, _ := protojson.Marshal(ev)
		stored.Write(j)
		stored.WriteString(ev.String()) // protojson base64-encodes payload data; the text form does not
	}
	if encrypted == 0 {
		t.Errorf("the run's input is not stored encrypted:\n%s", stored.String())
	}
	for _, secret := range []string{text, "Hello {{contact.firstname}}", "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "Aiko"} {
		if strings.Contains(stored.String(), secret) || strings.Contains(stored.String(), base64.StdEncoding.EncodeToString([]byte(secret))) {
			t.Errorf("the stored history holds %q in clear", secret)
		}
	}

	// 5. A LINE Login link for a contact, clicked through the LINE Login stand-in.
	contactID := sandboxContact(t, base)
	out = signedAction(t, base, "/actions/create-line-link", map[string]any{
		"callbackId": callbackID + "-link", "origin": map[string]any{"portalId": 1},
		"object":      map[string]any{"objectId": contactID, "objectType": "CONTACT"},
		"inputFields": map[string]string{"line_account": "1"},
	})
	link := out["line_link_url"]
	if out["hs_execution_state"] != "SUCCESS" || !strings.HasPrefix(link, base+starter.RouteLineLink) {
		t.Fatalf("create-line-link: %v", out)
	}
	b.open(link)
	b.waitText("LINE Login (sandbox)", "Allow")
	b.shot("7-line-login")
	b.do(chromedp.Click(chromedp.CSS(`button[value="approve"]`)))
	b.waitText("Linked with LINE", "LINE と連携しました")
	b.shot("8-linked")

	// Viewing the UI's pages logged no warnings (the server's page-size warning is routine).
	if strings.Contains(p.output.String(), "GetHistory page size is larger than threshold") {
		t.Errorf("dev logged the server's page-size warning for a UI page view:\n%s", p.output.String())
	}
	t.Logf("screenshots in %s", shots)
}

// page is one browser tab and the test that drives it.
type page struct {
	t     *testing.T
	ctx   context.Context
	shots string
	// reload is how long waitText waits before reloading the page: long enough for the
	// Temporal UI's scripts to load and render (seconds on 2 busy cores).
	reload time.Duration
}

func (b *page) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func (b *page) open(u string) {
	b.t.Helper()
	b.do(chromedp.Navigate(u))
}

func (b *page) text() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return s
}

// waitText waits until the page shows every string (the UI renders after its API calls;
// the sandbox pages may need a reload while the run finishes).
func (b *page) waitText(want ...string) {
	b.t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for reload := time.Now().Add(b.reload); ; time.Sleep(200 * time.Millisecond) {
		got := b.text()
		missing := ""
		for _, w := range want {
			if !strings.Contains(got, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.ctx, chromedp.Location())
			b.shot("failed")
			b.t.Fatalf("%s does not show %q; it shows:\n%s", loc, missing, got)
		}
		if time.Now().After(reload) {
			b.do(chromedp.Reload())
			reload = time.Now().Add(b.reload)
		}
	}
}

func (b *page) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signedAction posts a HubSpot action request signed as HubSpot signs it (v2) and returns
// its outputFields.
func signedAction(t *testing.T, base, route string, body map[string]any) map[string]string {
	t.Helper()
	raw, _ := json.Marshal(body)
	u := base + route
	req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Signature-Version", "v2")
	req.Header.Set("X-HubSpot-Signature", hubspot.SignV2("dev-secret", http.MethodPost, u, raw))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ OutputFields map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s answered %d, %v", route, resp.StatusCode, err)
	}
	return out.OutputFields
}

// sandboxContact creates a contact in dev's HubSpot sandbox, through its CRM API with the
// sandbox token, and returns its ID.
func sandboxContact(t *testing.T, base string) int64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+hubspotSandboxPath+"/crm/v3/objects/contacts",
		strings.NewReader(`{"properties":{"firstname":"Ren","email":"ren@example.com"}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+sandboxHubSpotToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var c struct{ ID string }
	if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create contact: %d %v", resp.StatusCode, err)
	}
	var id int64
	if _, err := fmt.Sscan(c.ID, &id); err != nil {
		t.Fatalf("contact ID %q", c.ID)
	}
	return id
}
