package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hubline/hubline/internal/hubspot"
)

// TestDevCodecAndSignatureChecks: dev's /codec answers the embedded UI under dev's own
// address only, and HUBLINE_REQUIRE_SIGNATURE_V3 reaches dev's starter.
func TestDevCodecAndSignatureChecks(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the whole stack")
	}
	httpAddr, uiAddr, temporalAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	base := "http://" + httpAddr
	_, port, _ := strings.Cut(httpAddr, ":")
	p := startDev(t, []string{
		"TEMPORAL_ADDRESS=" + temporalAddr, "HUBLINE_HTTP_ADDR=" + httpAddr, "HUBLINE_UI_ADDR=" + uiAddr,
		"HUBLINE_DATA_DIR=" + t.TempDir(), "HUBSPOT_CLIENT_SECRET=dev-secret", "HUBLINE_PAYLOAD_KEY=" + payloadKey,
		"HUBLINE_REQUIRE_SIGNATURE_V3=true",
		"LINE_CHANNEL_ACCESS_TOKEN=", "HUBSPOT_ACCESS_TOKEN=", "HUBLINE_PUBLIC_URL=", "HUBLINE_CODEC_ALLOWED_HOSTS=",
	})
	defer p.stop(t)

	do := func(method, url, host string, header map[string]string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, bytes.NewReader(body))
		if host != "" {
			req.Host = host
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var e struct{ Error struct{ Code string } }
		_ = json.NewDecoder(resp.Body).Decode(&e)
		return resp.StatusCode, e.Error.Code
	}
	ui := map[string]string{"Origin": "http://" + uiAddr, "Content-Type": "application/json"}
	empty := []byte(`{"payloads":[]}`)
	for _, tc := range []struct {
		name, method, host string
		header             map[string]string
		status             int
		code               string
	}{
		{"the embedded UI", "POST", "", ui, 200, ""},
		{"as localhost", "POST", "localhost:" + port, ui, 200, ""},
		{"preflight", "OPTIONS", "", ui, 204, ""},
		{"DNS rebinding", "POST", "rebind.attacker.example:" + port, map[string]string{"Origin": "http://rebind.attacker.example:" + port}, 403, "host_not_allowed"},
		{"foreign page", "POST", "", map[string]string{"Origin": "https://evil.example"}, 403, "origin_not_allowed"},
	} {
		if status, code := do(tc.method, base+codecPath+"/decode", tc.host, tc.header, empty); status != tc.status || code != tc.code {
			t.Errorf("codec, %s: %d %q, want %d %q", tc.name, status, code, tc.status, tc.code)
		}
	}

	body, _ := json.Marshal(map[string]any{
		"callbackId": "ap-dev-codec-1", "origin": map[string]any{"portalId": 5},
		"object":      map[string]any{"objectId": 904, "properties": map[string]string{"firstname": "Aiko"}},
		"inputFields": map[string]string{"line_user_id": "U4af4980629aaaaaaaaaaaaaaaaaaaaaa", "message_1": "Hello"},
	})
	url := base + "/actions/send-line-message"
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	for _, tc := range []struct {
		name   string
		header map[string]string
		status int
		code   string
	}{
		{"v1", map[string]string{hubspot.HeaderSignatureVersion: "v1", hubspot.HeaderSignature: hubspot.SignV1("dev-secret", body)}, 401, "signature_version_refused"},
		{"v2 under HUBLINE_REQUIRE_SIGNATURE_V3", map[string]string{hubspot.HeaderSignatureVersion: "v2",
			hubspot.HeaderSignature: hubspot.SignV2("dev-secret", http.MethodPost, url, body)}, 401, "signature_version_refused"},
		{"v3", map[string]string{hubspot.HeaderTimestamp: ts,
			hubspot.HeaderSignatureV3: hubspot.SignV3("dev-secret", http.MethodPost, url, body, ts)}, 200, ""},
	} {
		tc.header["Content-Type"] = "application/json" // action routes take JSON only (415 otherwise)
		if status, code := do(http.MethodPost, url, "", tc.header, body); status != tc.status || code != tc.code {
			t.Errorf("action signed %s: %d %q, want %d %q", tc.name, status, code, tc.status, tc.code)
		}
	}
}
