package starter

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/hubspot"
)

// TestSignatureDowngradeRefused: v1 signatures, and v2 under RequireSignatureV3
// (HUBLINE_REQUIRE_SIGNATURE_V3), get 401 signature_version_refused; a request carrying
// v3 headers is judged by v3 alone.
func TestSignatureDowngradeRefused(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: badAddr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	server := func(requireV3 bool) *Server {
		return New(Options{
			Temporal: c, ClientSecret: secret, PublicURL: public, RequireSignatureV3: requireV3,
			BlockExpiration: 24 * time.Hour, BlockExpirationISO: "P1D", Accounts: map[int]bool{1: false},
		})
	}
	body := action(map[string]any{"message_1": "hi"}, nil) // valid signature → validation answers
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	v1 := map[string]string{hubspot.HeaderSignatureVersion: "v1", hubspot.HeaderSignature: hubspot.SignV1(secret, body)}
	noVersion := map[string]string{hubspot.HeaderSignature: hubspot.SignV1(secret, body)}
	v2 := map[string]string{hubspot.HeaderSignatureVersion: "v2", hubspot.HeaderSignature: hubspot.SignV2(secret, http.MethodPost, public+route, body)}
	v3 := map[string]string{hubspot.HeaderTimestamp: ts, hubspot.HeaderSignatureV3: hubspot.SignV3(secret, http.MethodPost, public+route, body, ts)}
	badV3GoodV2 := map[string]string{hubspot.HeaderTimestamp: ts, hubspot.HeaderSignatureV3: hubspot.SignV3("other", http.MethodPost, public+route, body, ts)}
	for k, v := range v2 {
		badV3GoodV2[k] = v
	}
	for _, tc := range []struct {
		name      string
		requireV3 bool
		headers   map[string]string
		code      string // "" = accepted
	}{
		{"v1", false, v1, "signature_version_refused"},
		{"no version (v1)", false, noVersion, "signature_version_refused"},
		{"v2", false, v2, ""},
		{"v3", false, v3, ""},
		{"invalid v3 beside valid v2", false, badV3GoodV2, "invalid_signature"},
		{"require v3: v2", true, v2, "signature_version_refused"},
		{"require v3: v1", true, v1, "signature_version_refused"},
		{"require v3: v3", true, v3, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := post(t, server(tc.requireV3), route, body, tc.headers)
			switch {
			case tc.code == "" && (a.status != 200 || a.out["error_code"] != CodeMissingLineUserID):
				t.Fatalf("want the validation answer, got %d %s", a.status, a.raw)
			case tc.code != "" && (a.status != 401 || a.code != tc.code):
				t.Fatalf("want 401 %s, got %d %s", tc.code, a.status, a.raw)
			}
		})
	}
}
