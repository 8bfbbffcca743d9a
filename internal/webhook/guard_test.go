package webhook_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hubline/hubline/internal/webhook"
)

func TestParseAllowListEntries(t *testing.T) {
	for _, c := range []struct{ in, canonical string }{
		{"", ""},
		{"localhost,127.0.0.0/8,::1/128", "localhost,127.0.0.0/8,::1"},
		{" Hooks.Example. : 9000 ", ""}, // spaces inside an entry
		{"hooks.example:9000", "hooks.example:9000"},
		{"10.1.2.3:09000, 10.0.0.0/8:8000", "10.1.2.3:9000,10.0.0.0/8:8000"},
		{"[::1]:9000, [fd00::/8]:9000, [::1], fd00::/8, 2001:4860::1", "[::1]:9000,[fd00::/8]:9000,::1,fd00::/8,2001:4860::1"},
		{"日本.example:8000", "日本.example:8000"},
		{"10.0.0.5/32", "10.0.0.5"},
	} {
		a, err := webhook.ParseAllowList(c.in)
		if c.canonical == "" && c.in != "" {
			if err == nil {
				t.Errorf("ParseAllowList(%q) accepted", c.in)
			}
			continue
		}
		if err != nil || a.String() != c.canonical {
			t.Errorf("ParseAllowList(%q) = %q, %v; want %q", c.in, a, err, c.canonical)
		}
	}
	for _, c := range []struct{ in, says string }{
		{"10.0.0.1/8", `"10.0.0.1/8": host bits set (did you mean 10.0.0.0/8?)`},
		{"fd00::1/8", "did you mean fd00::/8?"},
		{"192.168.1.1/24:9000", "did you mean 192.168.1.0/24?"},
		{"[fd00::1/8]:9000", "did you mean fd00::/8?"},
		{"10.0.0.0/33", "not a CIDR range"},
		{"hooks.example:0", "out of range"},
		{"hooks.example:65536", "out of range"},
		{"hooks.example:+80", "not a number"},
		{"hooks.example:", "not a number"},
		{"[::1]:", "not a number"},
		{"[::1]9000", "want [IPv6]:port"},
		{"[::1:9000", "missing ']'"},
		{"[10.0.0.1]:9000", "brackets hold an IPv6"},
		{"[hooks.example]:9000", "brackets hold an IPv6"},
		{"::ffff:10.0.0.1", "IPv4-mapped"},
		{"::ffff:0:0/96", "IPv4-mapped"},
		{"[::ffff:127.0.0.0/104]:80", "IPv4-mapped"},
		{"fe80::1%eth0", "zone"},
		{"2130706433", "numeric host form"},
		{"0x7f.1:80", "numeric host form"},
		{"http://x", "not a number"},
		{"a b", "neither"},
		{"a..b", "empty label"},
		{"user@host", "neither"},
	} {
		_, err := webhook.ParseAllowList("localhost, " + c.in)
		if err == nil || !strings.Contains(err.Error(), c.says) || !strings.Contains(err.Error(), `"`+c.in+`"`) {
			t.Errorf("ParseAllowList(%q) = %v; want an error naming the entry and saying %q", c.in, err, c.says)
		}
	}
}

// TestGuardPorts: 80, 443, 8080 and 8443 are open; other ports only through an entry that
// names them, or a bare entry (any port). Refusals name the port.
func TestGuardPorts(t *testing.T) {
	for _, c := range []struct {
		list, url string
		ok        bool
	}{
		{"", "http://example.com/", true},
		{"", "https://example.com/", true},
		{"", "http://example.com:8080/", true},
		{"", "https://example.com:8443/", true},
		{"", "https://example.com:443/", true},
		{"", "https://example.com:9000/", false},
		{"", "http://example.com:22/", false},
		{"", "http://8.8.8.8:6379/", false},
		{"", "http://[2606:4700:4700::1111]:9000/", false},
		{"example.com:9000", "https://example.com:9000/", true},
		{"EXAMPLE.com.:9000", "https://example.com:9000/", true},
		{"example.com:9000", "https://example.com:9001/", false},
		{"example.com:9000", "https://other.example:9000/", false},
		{"example.com", "https://example.com:9001/", true},
		{"8.8.8.0/24:6379", "http://8.8.8.8:6379/", true},
		{"8.8.8.0/24:6379", "http://8.8.8.8:6380/", false},
		{"8.8.8.8", "http://8.8.8.8:6380/", true},
		{"[2606:4700::/32]:9000", "http://[2606:4700:4700::1111]:9000/", true},
		{"10.0.0.0/8:9000", "http://10.1.2.3:9000/", true},
		{"10.0.0.0/8:9000", "http://10.1.2.3/", false}, // the entry opens 10/8 on 9000 only
		{"10.0.0.0/8", "http://10.1.2.3:1/", true},
		{"[::1]:9000", "http://[::1]:9000/", true},
		{"[::1]:9000", "http://[::1]:9001/", false},
		{"[fd00::/8]:9000", "http://[fd12::1]:9000/", true},
		{"[fd00::/8]:9000", "http://[fd12::1]/", false},
		// A name on a port only a range opens passes the URL check; the dialler decides.
		{"10.0.0.0/8:9000", "http://hooks.example:9000/", true},
		{"10.0.0.0/8:9000", "http://hooks.example:9001/", false},
	} {
		_, err := webhook.CheckURL(c.url, allow(t, c.list))
		if c.ok && err != nil {
			t.Errorf("%q: CheckURL(%s) = %v, want allowed", c.list, c.url, err)
		}
		if !c.ok {
			var de *webhook.DestinationError
			if !errors.As(err, &de) || !strings.Contains(de.Reason, "port") {
				t.Errorf("%q: CheckURL(%s) = %v, want a DestinationError about the port", c.list, c.url, err)
			}
		}
	}
	_, err := webhook.CheckURL("https://example.com:9000/x?token=secret", allow(t, ""))
	if err == nil || !strings.Contains(err.Error(), "port 9000") || strings.Contains(err.Error(), "secret") {
		t.Errorf("refusal %v: want the port named and no path or query", err)
	}
}

// TestGuardMappedDocumentationAndMetadata: IPv4-mapped IPv6 is refused whole, whatever the
// allow list; documentation ranges are not public; a metadata address is opened only by an
// entry for exactly that address, never by a wider range.
func TestGuardMappedDocumentationAndMetadata(t *testing.T) {
	for _, c := range []struct {
		list, url string
		ok        bool
	}{
		{"::/0", "http://[::ffff:127.0.0.1]/", false},
		{"::/0", "http://[::ffff:8.8.8.8]/", false},
		{"::/0, 127.0.0.0/8", "http://[::ffff:7f00:1]/", false},
		{"", "http://192.0.2.10/", false},
		{"", "http://198.51.100.10/", false},
		{"", "http://203.0.113.10/", false},
		{"", "http://[2001:db8::10]/", false},
		{"203.0.113.0/24", "http://203.0.113.10/", true},
		{"", "http://168.63.129.16/", false},
		{"168.63.0.0/16", "http://168.63.129.16/", false},
		{"168.63.0.0/16", "http://168.63.129.15/", true},
		{"168.63.129.16", "http://168.63.129.16/", true},
		{"169.254.0.0/16", "http://169.254.169.254/latest/meta-data/", false},
		{"169.254.0.0/16", "http://169.254.170.2/v2/credentials", false},
		{"169.254.0.0/16", "http://169.254.1.1/", true},
		{"169.254.169.254/32", "http://169.254.169.254/", true},
		{"100.64.0.0/10", "http://100.100.100.200/latest/meta-data/", false},
		{"fd00::/8", "http://[fd00:ec2::254]/", false},
		{"fd00::/8", "http://[fd00:ec2::23]/", false},
		{"fd00::/8", "http://[fd20:ce::254]/", false},
		{"fd00::/8", "http://[fd20:ce::253]/", true},
	} {
		_, err := webhook.CheckURL(c.url, allow(t, c.list))
		if c.ok != (err == nil) {
			t.Errorf("%q: CheckURL(%s) = %v, want ok=%v", c.list, c.url, err, c.ok)
		}
		if err != nil && !webhook.IsDestinationError(err) {
			t.Errorf("%q: CheckURL(%s) = %v, want a DestinationError", c.list, c.url, err)
		}
	}
}
