package config

import (
	"strings"
	"testing"
)

// TestSendDataAllowEntries: the entry forms are accepted, and a bad entry (a CIDR range with
// host bits set above all, which would silently widen) stops start-up naming the variable
// and the entry.
func TestSendDataAllowEntries(t *testing.T) {
	ok := "localhost,127.0.0.0/8,::1/128,hooks.example:9000,10.0.0.0/8:9000,[::1]:9000,[fd00::/8]:9000"
	if c, err := Load([]string{"HUBLINE_SEND_DATA_ALLOW=" + ok}); err != nil || c.SendDataAllow != ok {
		t.Fatalf("Load(%s) = %v", ok, err)
	}
	for _, bad := range []string{"10.0.0.1/8", "fd00::1/8", "[fd00::1/8]:9000", "hooks.example:0", "[10.0.0.1]:80", "::ffff:10.0.0.1"} {
		_, err := Load([]string{"HUBLINE_SEND_DATA_ALLOW=localhost, " + bad})
		if err == nil || !strings.Contains(err.Error(), "HUBLINE_SEND_DATA_ALLOW") || !strings.Contains(err.Error(), `entry "`+bad+`"`) {
			t.Errorf("HUBLINE_SEND_DATA_ALLOW=localhost, %s: error %v should name the variable and the entry", bad, err)
		}
	}
}
