package config

import (
	"strings"
	"testing"
)

func TestHubSpotModes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		env     []string
		multi   bool
		errWith []string // every name the error must mention; nil: no error
	}{
		{"none", nil, false, nil},
		{"access token", []string{"HUBSPOT_ACCESS_TOKEN=t"}, false, nil},
		{"access token and secret", []string{"HUBSPOT_ACCESS_TOKEN=t", "HUBSPOT_CLIENT_SECRET=s"}, false, nil},
		{"refresh mode", []string{"HUBSPOT_CLIENT_ID=i", "HUBSPOT_CLIENT_SECRET=s", "HUBSPOT_REFRESH_TOKEN=r"}, false, nil},
		{"multi-portal", []string{"HUBSPOT_CLIENT_ID=i", "HUBSPOT_CLIENT_SECRET=s"}, true, nil},
		{"blank tokens count as unset", []string{"HUBSPOT_CLIENT_ID=i", "HUBSPOT_CLIENT_SECRET=s", "HUBSPOT_ACCESS_TOKEN= ", "HUBSPOT_REFRESH_TOKEN="}, true, nil},
		{"both modes", []string{"HUBSPOT_CLIENT_ID=i", "HUBSPOT_CLIENT_SECRET=s", "HUBSPOT_ACCESS_TOKEN=t"}, false, []string{"HUBSPOT_ACCESS_TOKEN", "HUBSPOT_CLIENT_ID"}},
		{"both modes with refresh", []string{"HUBSPOT_CLIENT_ID=i", "HUBSPOT_CLIENT_SECRET=s", "HUBSPOT_ACCESS_TOKEN=t", "HUBSPOT_REFRESH_TOKEN=r"}, false, []string{"HUBSPOT_ACCESS_TOKEN", "HUBSPOT_CLIENT_ID"}},
		{"refresh without client id", []string{"HUBSPOT_REFRESH_TOKEN=r", "HUBSPOT_CLIENT_SECRET=s"}, false, []string{"HUBSPOT_REFRESH_TOKEN", "HUBSPOT_CLIENT_ID"}},
		{"client id without secret", []string{"HUBSPOT_CLIENT_ID=i"}, false, []string{"HUBSPOT_CLIENT_ID", "HUBSPOT_CLIENT_SECRET"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(tc.env)
			if tc.errWith == nil {
				if err != nil || c.MultiPortal() != tc.multi {
					t.Fatalf("multi-portal %v, err %v", c.MultiPortal(), err)
				}
				return
			}
			for _, name := range tc.errWith {
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Fatalf("want an error naming %s, got %v", name, err)
				}
			}
		})
	}
}

func TestAllowedPortalsAndScopes(t *testing.T) {
	c, err := Load([]string{"HUBLINE_ALLOWED_PORTALS=102670506, 20001"})
	if err != nil || !c.PortalAllowed(102670506) || !c.PortalAllowed(20001) || c.PortalAllowed(3) {
		t.Fatalf("allowed %v, %v", c.AllowedPortals, err)
	}
	c, err = Load(nil)
	if err != nil || !c.PortalAllowed(3) || len(c.HubSpotScopes) != 6 || c.HubSpotScopes[0] != "automation" ||
		c.HubSpotAuthorizeURL != "https://app.hubspot.com/oauth/authorize" {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	for _, env := range []string{"HUBLINE_ALLOWED_PORTALS=1,x", "HUBLINE_ALLOWED_PORTALS=-4", "HUBSPOT_SCOPES=automation,oauth", "HUBSPOT_AUTHORIZE_URL=app.hubspot.com"} {
		name, _, _ := strings.Cut(env, "=")
		if _, err := Load([]string{env}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: want an error naming %s, got %v", env, name, err)
		}
	}
}
