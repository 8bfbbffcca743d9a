package config

import (
	"strings"
	"testing"
)

func TestSendDataAndV2Settings(t *testing.T) {
	c, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.SendDataMaxAttempts != 10 || c.SendDataAllow != "" || c.LineUserIDProperty(1) != "line_user_id" || c.LineUserIDProperty(3) != "line_user_id_3" {
		t.Fatalf("defaults: attempts %d allow %q props %q %q", c.SendDataMaxAttempts, c.SendDataAllow, c.LineUserIDProperty(1), c.LineUserIDProperty(3))
	}
	c, err = Load([]string{
		"HUBLINE_SEND_DATA_MAX_ATTEMPTS=3", "HUBLINE_SEND_DATA_ALLOW=localhost, 127.0.0.1/32",
		"HUBSPOT_LINE_USER_ID_PROPERTY=line_id", "HUBSPOT_LINE_USER_ID_PROPERTY_2=line_id_second",
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.SendDataMaxAttempts != 3 || c.LineUserIDProperty(1) != "line_id" || c.LineUserIDProperty(2) != "line_id_second" {
		t.Fatalf("parsed: %+v", c)
	}
	for _, kv := range []string{
		"HUBLINE_SEND_DATA_MAX_ATTEMPTS=0", "HUBLINE_SEND_DATA_MAX_ATTEMPTS=ten",
		"HUBLINE_SEND_DATA_ALLOW=10.0.0.0/40", "HUBSPOT_LINE_USER_ID_PROPERTY=bad name",
	} {
		name, _, _ := strings.Cut(kv, "=")
		if _, err := Load([]string{kv}); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v should name the variable", kv, err)
		}
	}
}
