// Package webhook delivers Send Data requests: an HTTP client that refuses to reach
// internal networks (server-side request forgery guard), the X-Hubline-Signature signer and
// the Verify function receivers use to check it.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// DestinationError is a webhook URL or address hubline refuses to call.
type DestinationError struct {
	// Host is the URL's host (no path or query: those may carry secrets).
	Host   string
	Reason string
}

func (e *DestinationError) Error() string {
	if e.Host == "" {
		return "destination not allowed: " + e.Reason
	}
	return fmt.Sprintf("destination %q not allowed: %s", e.Host, e.Reason)
}

// URLError is a webhook URL that is not a usable http(s) URL at all.
type URLError struct{ Reason string }

func (e *URLError) Error() string { return "invalid webhook URL: " + e.Reason }

// AllowList opens exceptions to the guard: exact host names (as written in the URL) and
// address ranges (CIDR, or a single IP).
type AllowList struct {
	hosts map[string]bool
	nets  []netip.Prefix
}

// ParseAllowList parses "host or CIDR,..." (HUBLINE_SEND_DATA_ALLOW). Empty allows nothing.
func ParseAllowList(s string) (*AllowList, error) {
	a := &AllowList{hosts: map[string]bool{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.Contains(item, "/") {
			p, err := netip.ParsePrefix(item)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR range: %w", item, err)
			}
			a.nets = append(a.nets, p.Masked())
			continue
		}
		if ip, err := netip.ParseAddr(strings.Trim(item, "[]")); err == nil {
			a.nets = append(a.nets, netip.PrefixFrom(ip, ip.BitLen()))
			continue
		}
		if strings.ContainsAny(item, ":/?#@ ") {
			return nil, fmt.Errorf("%q is neither a host name nor a CIDR range", item)
		}
		a.hosts[normHost(item)] = true
	}
	return a, nil
}

// Empty reports whether the list opens no exception.
func (a *AllowList) Empty() bool { return a == nil || (len(a.hosts) == 0 && len(a.nets) == 0) }

func (a *AllowList) hostAllowed(host string) bool {
	return a != nil && a.hosts[normHost(host)]
}

func (a *AllowList) ipAllowed(ip netip.Addr) bool {
	if a == nil {
		return false
	}
	for _, p := range a.nets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// blockedRanges are refused on top of what netip's predicates catch (loopback, private,
// link-local, multicast, unspecified).
var blockedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),          // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),      // carrier-grade NAT
	netip.MustParsePrefix("169.254.169.254/32"), // cloud metadata (also link-local)
	netip.MustParsePrefix("192.0.0.0/24"),       // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"),      // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),        // reserved, broadcast
	netip.MustParsePrefix("fd00:ec2::254/128"),  // AWS metadata over IPv6 (also ULA)
	netip.MustParsePrefix("::/96"),              // IPv4-compatible (deprecated)
	netip.MustParsePrefix("64:ff9b::/96"),       // NAT64: reaches any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),     // local-use NAT64
	netip.MustParsePrefix("2001::/32"),          // Teredo
	netip.MustParsePrefix("2002::/16"),          // 6to4
	netip.MustParsePrefix("100::/64"),           // discard-only
}

// PublicIP reports whether ip is an ordinary public unicast address hubline may call
// without an allow-list entry. IPv4-mapped IPv6 addresses are never public here.
func PublicIP(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() {
		return false
	}
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() {
		return false
	}
	for _, p := range blockedRanges {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// allowedIP is the dial-time rule: public, or opened by the allow-list.
func (a *AllowList) allowedIP(ip netip.Addr) bool { return a.ipAllowed(ip) || PublicIP(ip) }

// CheckURL validates a webhook URL's form and refuses destinations that are visibly not
// allowed before any DNS lookup: non-http(s) schemes, IP literals of internal ranges and
// numeric host forms other than dotted decimal (2130706433, 0177.0.0.1, 0x7f.1, ...),
// which resolvers interpret inconsistently. Host names are checked again, on every
// address actually dialled, by the Client. Errors are *URLError or *DestinationError.
func CheckURL(raw string, allow *AllowList) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, &URLError{"empty"}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &URLError{"not a URL"}
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	case "":
		return nil, &URLError{"missing scheme (want http:// or https://)"}
	default:
		return nil, &DestinationError{Host: u.Hostname(), Reason: "only http and https URLs are allowed"}
	}
	host := u.Hostname()
	if host == "" || u.Opaque != "" {
		return nil, &URLError{"missing host"}
	}
	if port := u.Port(); port != "" {
		var n int
		if _, err := fmt.Sscanf(port, "%d", &n); err != nil || n < 1 || n > 65535 {
			return nil, &URLError{"invalid port"}
		}
	}
	if allow.hostAllowed(host) {
		return u, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return nil, &DestinationError{Host: host, Reason: "IPv6 zone identifiers are not allowed"}
		}
		if !allow.allowedIP(ip) {
			return nil, &DestinationError{Host: host, Reason: "not a public address"}
		}
		return u, nil
	}
	if numericHost(host) {
		return nil, &DestinationError{Host: host, Reason: "numeric host forms other than dotted decimal are not allowed"}
	}
	if strings.ContainsAny(host, "%[]") {
		return nil, &URLError{"invalid host"}
	}
	return u, nil
}

// numericHost reports whether a host that is not a canonical IP literal would still be
// read as an IPv4 address by some resolver or URL parser: its last label is a decimal,
// octal or 0x-hex number (inet_aton forms, e.g. 2130706433, 0177.0.0.1, 0x7f.1).
func numericHost(host string) bool {
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	last := strings.ToLower(labels[len(labels)-1])
	if last == "" {
		return false
	}
	if h, ok := strings.CutPrefix(last, "0x"); ok {
		return strings.Trim(h, "0123456789abcdef") == ""
	}
	return strings.Trim(last, "0123456789") == ""
}

// control runs on every connection attempt with the address actually being dialled, after
// DNS resolution: a name that resolves (or re-resolves) to an internal address is refused.
func (a *AllowList) control(host string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &DestinationError{Host: host, Reason: "unparsable dial address"}
		}
		if !a.allowedIP(ap.Addr()) {
			return &DestinationError{Host: host, Reason: "resolves to a non-public address"}
		}
		return nil
	}
}

// dialContext dials through the guard. Hosts on the allow-list skip the address check.
func (a *AllowList) dialContext(base net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		d := base
		if !a.hostAllowed(host) {
			if numericHost(host) {
				if _, perr := netip.ParseAddr(host); perr != nil {
					return nil, &DestinationError{Host: host, Reason: "numeric host forms other than dotted decimal are not allowed"}
				}
			}
			d.Control = a.control(host)
		}
		return d.DialContext(ctx, network, addr)
	}
}

// IsDestinationError reports whether err (at any depth) is a refused destination.
func IsDestinationError(err error) bool {
	var de *DestinationError
	return errors.As(err, &de)
}
