package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/hubline/hubline/internal/hubspotsandbox"
)

const testDeveloperKey = "dev-key-never-printed"

// TestHubSpotRegister runs `hubline hubspot register` against the HubSpot sandbox.
func TestHubSpotRegister(t *testing.T) {
	box := hubspotsandbox.New(hubspotsandbox.Options{})
	box.SetDeveloperAPIKey(testDeveloperKey)
	srv := httptest.NewServer(box)
	defer srv.Close()

	registerCmd := func(t *testing.T, env map[string]string, args ...string) (string, error) {
		t.Helper()
		for _, k := range []string{"HUBSPOT_APP_ID", "HUBSPOT_DEVELOPER_API_KEY", "HUBLINE_PUBLIC_URL", "HUBSPOT_API_BASE_URL"} {
			t.Setenv(k, env[k])
		}
		var out, errOut bytes.Buffer
		err := run(context.Background(), append([]string{"hubspot", "register", "--dir", "../../hubspot"}, args...), &out, &errOut)
		all := out.String() + errOut.String()
		if err != nil {
			all += err.Error()
		}
		if strings.Contains(all, testDeveloperKey) {
			t.Errorf("the developer API key was printed:\n%s", all)
		}
		return out.String(), err
	}
	full := map[string]string{
		"HUBSPOT_APP_ID": "777", "HUBSPOT_DEVELOPER_API_KEY": testDeveloperKey,
		"HUBLINE_PUBLIC_URL": "https://hubline.example.com", "HUBSPOT_API_BASE_URL": srv.URL,
	}

	t.Run("missing settings are named", func(t *testing.T) {
		_, err := registerCmd(t, map[string]string{"HUBSPOT_DEVELOPER_API_KEY": testDeveloperKey})
		if err == nil || !strings.Contains(err.Error(), "needs HUBSPOT_APP_ID, HUBLINE_PUBLIC_URL") {
			t.Fatalf("err = %v", err)
		}
		_, err = registerCmd(t, map[string]string{})
		if err == nil || !strings.Contains(err.Error(), "needs HUBSPOT_APP_ID, HUBSPOT_DEVELOPER_API_KEY, HUBLINE_PUBLIC_URL") {
			t.Fatalf("err = %v", err)
		}
		bad := map[string]string{"HUBSPOT_APP_ID": "my-app"}
		for k, v := range full {
			if k != "HUBSPOT_APP_ID" {
				bad[k] = v
			}
		}
		if _, err = registerCmd(t, bad); err == nil || !strings.Contains(err.Error(), `HUBSPOT_APP_ID="my-app"`) {
			t.Fatalf("err = %v", err)
		}
		if box.DefinitionWrites() != 0 || box.Requests() != 0 {
			t.Errorf("HubSpot was called: %d requests", box.Requests())
		}
	})
	t.Run("dry run, register, register again", func(t *testing.T) {
		out, err := registerCmd(t, full, "--dry-run")
		if err != nil || !strings.Contains(out, "would be created") || box.DefinitionWrites() != 0 {
			t.Fatalf("dry run: %v, %d writes\n%s", err, box.DefinitionWrites(), out)
		}
		out, err = registerCmd(t, full)
		n := len(box.ActionDefinitions("777"))
		if err != nil || n < 4 || box.DefinitionWrites() != n || !strings.Contains(out, "send-line-message.action.json (/actions/send-line-message): created, id ") {
			t.Fatalf("register: %v, %d definitions, %d writes\n%s", err, n, box.DefinitionWrites(), out)
		}
		out, err = registerCmd(t, full)
		if err != nil || box.DefinitionWrites() != n || strings.Count(out, ": unchanged, id ") != n {
			t.Fatalf("second register: %v, %d writes\n%s", err, box.DefinitionWrites(), out)
		}
	})
	t.Run("wrong key", func(t *testing.T) {
		wrong := map[string]string{}
		for k, v := range full {
			wrong[k] = v
		}
		wrong["HUBSPOT_DEVELOPER_API_KEY"] = "wrong-" + testDeveloperKey
		_, err := registerCmd(t, wrong)
		if err == nil || !strings.Contains(err.Error(), "HTTP 401 INVALID_AUTHENTICATION") || strings.Contains(err.Error(), "wrong-") {
			t.Fatalf("err = %v", err)
		}
	})
}
