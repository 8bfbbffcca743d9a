// Package webhook delivers Send Data requests: an HTTP client that refuses to reach
// internal networks (server-side request forgery guard), the X-Hubline-Signature signer and
// the Verify functions receivers use to check it.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
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

// DefaultPorts are the ports Send Data may call without an allow-list entry naming them.
var DefaultPorts = []uint16{80, 443, 8080, 8443}

func defaultPort(p uint16) bool { return slices.Contains(DefaultPorts, p) }

// allowEntry is one HUBLINE_SEND_DATA_ALLOW entry: a host name or an address range, on one
// port or (port 0) on any.
type allowEntry struct {
	host   string       // normalised host name; "" for a range
	prefix netip.Prefix // the range (a single address is a full-length prefix)
	port   uint16
}

func (e allowEntry) portMatches(p uint16) bool { return e.port == 0 || e.port == p }

func (e allowEntry) String() string {
	var s string
	switch {
	case e.host != "":
		s = e.host
	case e.prefix.IsSingleIP():
		s = e.prefix.Addr().String()
	default:
		s = e.prefix.String()
	}
	if e.port == 0 {
		return s
	}
	if e.host == "" && e.prefix.Addr().Is6() {
		s = "[" + s + "]"
	}
	return s + ":" + strconv.Itoa(int(e.port))
}

// AllowList opens exceptions to the guard. A host name entry opens ports for that name
// only; the addresses it resolves to are checked like any other. A range entry (CIDR or a
// single IP) opens its addresses. Entries with a port open that port only; entries without
// open every port.
type AllowList struct {
	entries []allowEntry
}

// ParseAllowList parses HUBLINE_SEND_DATA_ALLOW: comma-separated entries, each a host name,
// an IP address or a CIDR range, optionally followed by ":port" (IPv6 in brackets:
// "[::1]:9000", "[fd00::/8]:9000"). Empty allows nothing. Errors name the entry.
func ParseAllowList(s string) (*AllowList, error) {
	a := &AllowList{}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		e, err := parseEntry(item)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %w", item, err)
		}
		a.entries = append(a.entries, e)
	}
	return a, nil
}

func parseEntry(item string) (allowEntry, error) {
	var e allowEntry
	target, bracketed := item, false
	if rest, ok := strings.CutPrefix(item, "["); ok {
		inner, after, ok := strings.Cut(rest, "]")
		if !ok {
			return e, errors.New("missing ']'")
		}
		target, bracketed = inner, true
		if after != "" {
			p, ok := strings.CutPrefix(after, ":")
			if !ok {
				return e, errors.New("want [IPv6]:port or [IPv6 CIDR]:port")
			}
			port, err := parsePort(p)
			if err != nil {
				return e, err
			}
			e.port = port
		}
	} else if strings.Count(item, ":") == 1 {
		// host:port, IPv4:port or CIDR:port. IPv6 has at least two colons, and needs
		// brackets to carry a port.
		h, p, _ := strings.Cut(item, ":")
		port, err := parsePort(p)
		if err != nil {
			return e, err
		}
		target, e.port = h, port
	}
	switch {
	case strings.Contains(target, "/"):
		p, err := netip.ParsePrefix(target)
		if err != nil {
			return e, fmt.Errorf("not a CIDR range: %w", err)
		}
		if p != p.Masked() {
			// 10.0.0.1/8 would silently open all of 10.0.0.0/8.
			return e, fmt.Errorf("host bits set (did you mean %s?)", p.Masked())
		}
		e.prefix = p
	default:
		ip, err := netip.ParseAddr(target)
		if err != nil {
			if bracketed {
				return e, errors.New("brackets hold an IPv6 address or range only")
			}
			if err := validHostName(target); err != nil {
				return e, err
			}
			e.host = normHost(target)
			return e, nil
		}
		if ip.Zone() != "" {
			return e, errors.New("IPv6 zone identifiers are not allowed")
		}
		e.prefix = netip.PrefixFrom(ip, ip.BitLen())
	}
	if bracketed && !e.prefix.Addr().Is6() {
		return e, errors.New("brackets hold an IPv6 address or range only")
	}
	if e.prefix.Addr().Is4In6() && e.prefix.Bits() >= 96 {
		// Never dialled as such: the dialler uses the embedded IPv4 address.
		return e, errors.New("IPv4-mapped IPv6 addresses are refused; write the IPv4 form")
	}
	return e, nil
}

func parsePort(s string) (uint16, error) {
	if s == "" || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("port %q is not a number", s)
	}
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || n == 0 {
		return 0, fmt.Errorf("port %q is out of range (1-65535)", s)
	}
	return uint16(n), nil
}

// validHostName accepts DNS names (international ones too) and refuses anything a URL
// parser or resolver could read as an address or as more than a host.
func validHostName(h string) error {
	if h == "" || len(h) > 253 {
		return errors.New("not a host name")
	}
	for _, r := range h {
		ok := r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' ||
			r >= 'A' && r <= 'Z' || r > 0x7f && r != 0xfffd
		if !ok {
			return errors.New("neither a host name, an IP address nor a CIDR range")
		}
	}
	if slices.Contains(strings.Split(strings.TrimSuffix(h, "."), "."), "") {
		return errors.New("empty label in host name")
	}
	if numericHost(h) {
		return errors.New("a numeric host form; write the address in dotted decimal")
	}
	return nil
}

// String is the list in canonical form (it parses back to the same list).
func (a *AllowList) String() string {
	if a == nil {
		return ""
	}
	s := make([]string, len(a.entries))
	for i, e := range a.entries {
		s[i] = e.String()
	}
	return strings.Join(s, ",")
}

// Empty reports whether the list opens no exception.
func (a *AllowList) Empty() bool { return a == nil || len(a.entries) == 0 }

// hostPortAllowed reports whether a host name entry opens port for host.
func (a *AllowList) hostPortAllowed(host string, port uint16) bool {
	if a == nil {
		return false
	}
	h := normHost(host)
	for _, e := range a.entries {
		if e.host != "" && e.host == h && e.portMatches(port) {
			return true
		}
	}
	return false
}

// rangeAllows reports whether a range entry opens ip on port. A cloud metadata address is
// opened only by an entry for exactly that address, never by a wider range around it.
func (a *AllowList) rangeAllows(ip netip.Addr, port uint16) bool {
	if a == nil {
		return false
	}
	meta := metadataAddr(ip)
	for _, e := range a.entries {
		if e.host != "" || !e.portMatches(port) || !e.prefix.Contains(ip) {
			continue
		}
		if meta && !e.prefix.IsSingleIP() {
			continue
		}
		return true
	}
	return false
}

// rangeMayOpen reports whether some range entry could open port for an address that is
// not known yet (a host name before DNS).
func (a *AllowList) rangeMayOpen(port uint16) bool {
	if a == nil {
		return false
	}
	for _, e := range a.entries {
		if e.host == "" && e.portMatches(port) {
			return true
		}
	}
	return false
}

func normHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// metadataAddrs are cloud instance-metadata and credential endpoints. Most lie in ranges
// refused anyway; they are listed so that a wider allow-list range never opens them.
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"), // AWS, GCP, Azure, OpenStack, DigitalOcean, Oracle, ...
	netip.MustParseAddr("169.254.170.2"),   // AWS ECS task credentials
	netip.MustParseAddr("169.254.170.23"),  // AWS EKS Pod Identity credentials
	netip.MustParseAddr("168.63.129.16"),   // Azure WireServer (a public address)
	netip.MustParseAddr("100.100.100.200"), // Alibaba Cloud
	netip.MustParseAddr("192.0.0.192"),     // Oracle Cloud (classic)
	netip.MustParseAddr("fd00:ec2::254"),   // AWS metadata over IPv6
	netip.MustParseAddr("fd00:ec2::23"),    // AWS EKS Pod Identity over IPv6
	netip.MustParseAddr("fd20:ce::254"),    // GCP metadata over IPv6
}

func metadataAddr(ip netip.Addr) bool { return slices.Contains(metadataAddrs, ip.Unmap().WithZone("")) }

// blockedRanges are refused on top of what netip's predicates catch (loopback, private,
// link-local, multicast, unspecified) and metadataAddrs.
var blockedRanges = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation (TEST-NET-1)
	netip.MustParsePrefix("192.88.99.0/24"),  // 6to4 relay anycast (deprecated)
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation (TEST-NET-2)
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation (TEST-NET-3)
	netip.MustParsePrefix("240.0.0.0/4"),     // reserved, broadcast
	netip.MustParsePrefix("::/96"),           // IPv4-compatible (deprecated)
	netip.MustParsePrefix("::ffff:0:0/96"),   // IPv4-mapped: refused whole (write the IPv4 form)
	netip.MustParsePrefix("64:ff9b::/96"),    // NAT64: reaches any IPv4 address
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use NAT64
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001::/32"),       // Teredo
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4
	netip.MustParsePrefix("3fff::/20"),       // documentation (RFC 9637)
	netip.MustParsePrefix("fec0::/10"),       // site-local (deprecated)
}

// PublicIP reports whether ip is an ordinary public unicast address hubline may call
// without an allow-list entry. IPv4-mapped IPv6 addresses are never public here.
func PublicIP(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" || ip.Is4In6() || metadataAddr(ip) {
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

// checkAddr is the rule for one address about to be called on port, for a URL whose host
// is host (a name, or the address itself; resolved when a name): the address must be
// public or inside a range entry for that port, and a public address's port must be a
// default one or opened by an entry.
func (a *AllowList) checkAddr(host string, ip netip.Addr, port uint16, resolved bool) error {
	refuse := func(reason string) error { return &DestinationError{Host: host, Reason: reason} }
	switch {
	case ip.Zone() != "":
		return refuse("IPv6 zone identifiers are not allowed")
	case ip.Is4In6():
		return refuse("IPv4-mapped IPv6 addresses are not allowed (use the IPv4 form)")
	}
	if a.rangeAllows(ip, port) {
		return nil
	}
	if !PublicIP(ip) {
		if a.rangeMayOpenAddr(ip) {
			return refuse(fmt.Sprintf("port %d is not allowed for this address (its HUBLINE_SEND_DATA_ALLOW entry names other ports)", port))
		}
		if resolved {
			return refuse("resolves to a non-public address")
		}
		return refuse("not a public address")
	}
	if !defaultPort(port) && !a.hostPortAllowed(host, port) {
		return refuse(portReason(port))
	}
	return nil
}

// rangeMayOpenAddr reports whether a range entry opens ip on some port.
func (a *AllowList) rangeMayOpenAddr(ip netip.Addr) bool {
	if a == nil {
		return false
	}
	for _, e := range a.entries {
		if e.host == "" && e.prefix.Contains(ip) && (!metadataAddr(ip) || e.prefix.IsSingleIP()) {
			return true
		}
	}
	return false
}

func portReason(port uint16) string {
	return fmt.Sprintf("port %d is not allowed (80, 443, 8080 and 8443 are; HUBLINE_SEND_DATA_ALLOW can open others)", port)
}

// CheckURL validates a webhook URL's form and refuses destinations that are visibly not
// allowed before any DNS lookup: non-http(s) schemes, IP literals of internal ranges,
// ports no allow-list entry opens, and numeric host forms other than dotted decimal
// (2130706433, 0177.0.0.1, 0x7f.1, ...), which resolvers interpret inconsistently. Host
// names are checked again, on every address actually dialled, by the Client. Errors are
// *URLError or *DestinationError.
func CheckURL(raw string, allow *AllowList) (*url.URL, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, &URLError{"empty"}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, &URLError{"not a URL"}
	}
	var port uint16
	switch strings.ToLower(u.Scheme) {
	case "http":
		port = 80
	case "https":
		port = 443
	case "":
		return nil, &URLError{"missing scheme (want http:// or https://)"}
	default:
		return nil, &DestinationError{Host: u.Hostname(), Reason: "only http and https URLs are allowed"}
	}
	host := u.Hostname()
	if host == "" || u.Opaque != "" {
		return nil, &URLError{"missing host"}
	}
	if p := u.Port(); p != "" {
		n, err := strconv.ParseUint(p, 10, 16)
		if err != nil || n == 0 {
			return nil, &URLError{"invalid port"}
		}
		port = uint16(n)
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := allow.checkAddr(host, ip, port, false); err != nil {
			return nil, err
		}
		return u, nil
	}
	if numericHost(host) {
		return nil, &DestinationError{Host: host, Reason: "numeric host forms other than dotted decimal are not allowed"}
	}
	if strings.ContainsAny(host, "%[]") {
		return nil, &URLError{"invalid host"}
	}
	if !defaultPort(port) && !allow.hostPortAllowed(host, port) && !allow.rangeMayOpen(port) {
		return nil, &DestinationError{Host: host, Reason: portReason(port)}
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
// DNS resolution: a name that resolves (or re-resolves) to an internal address is refused,
// whether or not the name is on the allow list. An IPv4-mapped address reaches it as the
// embedded IPv4 address, which is what is dialled.
func (a *AllowList) control(host string) func(network, address string, c syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return &DestinationError{Host: host, Reason: "unparsable dial address"}
		}
		_, notLiteral := netip.ParseAddr(host)
		return a.checkAddr(host, ap.Addr(), ap.Port(), notLiteral != nil)
	}
}

// dialContext dials through the guard: every address is checked, for every host.
func (a *AllowList) dialContext(base net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if numericHost(host) {
			if _, perr := netip.ParseAddr(host); perr != nil {
				return nil, &DestinationError{Host: host, Reason: "numeric host forms other than dotted decimal are not allowed"}
			}
		}
		d := base
		d.Control = a.control(host)
		return d.DialContext(ctx, network, addr)
	}
}

// IsDestinationError reports whether err (at any depth) is a refused destination.
func IsDestinationError(err error) bool {
	var de *DestinationError
	return errors.As(err, &de)
}
