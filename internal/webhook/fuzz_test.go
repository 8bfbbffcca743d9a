package webhook

import (
	"net/netip"
	"strconv"
	"testing"
)

// FuzzAllowList parses arbitrary HUBLINE_SEND_DATA_ALLOW values and checks arbitrary
// addresses against them. Seeds: testdata/fuzz/FuzzAllowList. Invariants: parsing never
// panics; an accepted list is canonical (String parses back to itself), holds no range with
// host bits set and no IPv4-mapped range; an address is allowed exactly when a range entry
// for its port covers it (a metadata address: an entry for exactly it), or it is public on a
// default port or one its host's entry opens; zoned and IPv4-mapped addresses never are;
// and the URL check of an IP literal agrees with the dial-time check.
func FuzzAllowList(f *testing.F) {
	f.Fuzz(func(t *testing.T, list, addr string, port uint16) {
		a, err := ParseAllowList(list)
		if err != nil {
			return
		}
		canon := a.String()
		b, err := ParseAllowList(canon)
		if err != nil || b.String() != canon {
			t.Fatalf("ParseAllowList(%q): canonical %q parses to %q, %v", list, canon, b, err)
		}
		const host = "hooks.example"
		hostOpens := false
		for _, e := range a.entries {
			switch {
			case e.host != "":
				if validHostName(e.host) != nil {
					t.Fatalf("ParseAllowList(%q) kept host %q", list, e.host)
				}
				hostOpens = hostOpens || e.host == host && (e.port == 0 || e.port == port)
			case e.prefix != e.prefix.Masked():
				t.Fatalf("ParseAllowList(%q) kept %s with host bits set", list, e.prefix)
			case e.prefix.Addr().Is4In6() && e.prefix.Bits() >= 96:
				t.Fatalf("ParseAllowList(%q) kept IPv4-mapped %s", list, e.prefix)
			}
		}
		ip, err := netip.ParseAddr(addr)
		if err != nil || port == 0 {
			return
		}
		covered := false
		for _, e := range a.entries {
			if e.host == "" && e.prefix.Contains(ip) && (e.port == 0 || e.port == port) &&
				(!metadataAddr(ip) || e.prefix.Bits() == ip.BitLen()) {
				covered = true
			}
		}
		want := ip.Zone() == "" && !ip.Is4In6() &&
			(covered || PublicIP(ip) && (port == 80 || port == 443 || port == 8080 || port == 8443 || hostOpens))
		got := a.checkAddr(host, ip, port, true)
		if (got == nil) != want {
			t.Fatalf("list %q: %s port %d: checkAddr = %v, want allowed=%v", canon, ip, port, got, want)
		}
		if ip.Zone() != "" {
			return // not expressible as a URL host the same way
		}
		lit := ip.String()
		if ip.Is6() {
			lit = "[" + lit + "]"
		}
		_, err = CheckURL("http://"+lit+":"+strconv.Itoa(int(port))+"/", a)
		// The literal is its own host: no name entry applies.
		wantURL := !ip.Is4In6() && (covered || PublicIP(ip) && (port == 80 || port == 443 || port == 8080 || port == 8443))
		if (err == nil) != wantURL {
			t.Fatalf("list %q: CheckURL(%s:%d) = %v, want allowed=%v", canon, lit, port, err, wantURL)
		}
	})
}
