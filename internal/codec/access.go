package codec

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
)

// HostList is the set of Host header values the codec endpoint answers
// (HUBLINE_CODEC_ALLOWED_HOSTS). Checking Host defeats DNS rebinding: a page of
// another site whose name an attacker points at the codec's address still sends
// its own name as Host.
type HostList struct {
	entries []hostEntry
}

type hostEntry struct {
	host, port string // port "" matches any port
}

// ParseHosts reads a comma-separated list of host[:port] (IPv6 in brackets). A host
// without a port matches that host on any port.
func ParseHosts(s string) (*HostList, error) {
	var l HostList
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if strings.ContainsAny(item, "/@ \t") {
			return nil, fmt.Errorf("%q: want host[:port], not a URL", item)
		}
		host, port := splitHost(item)
		if host == "" || strings.Contains(host, ":") && !strings.HasPrefix(item, "[") {
			return nil, fmt.Errorf("%q: want host[:port] (IPv6 addresses in brackets)", item)
		}
		if port != "" && strings.Trim(port, "0123456789") != "" {
			return nil, fmt.Errorf("%q: port is not a number", item)
		}
		l.entries = append(l.entries, hostEntry{strings.ToLower(host), port})
	}
	if len(l.entries) == 0 {
		return nil, errors.New("no hosts")
	}
	return &l, nil
}

// loopbackNames are the names a browser on this machine uses for a loopback
// listener. localhost is safe to allow: browsers resolve it to loopback
// themselves, so no rebinding page can present it as its Host.
var loopbackNames = []string{"localhost", "127.0.0.1", "::1"}

// DefaultHosts is the list for a listen address: the address itself and, when it
// is a loopback or unspecified address (0.0.0.0, as inside a container), the
// loopback names at its port. A listener on a specific host name or address
// answers that name only.
func DefaultHosts(listenAddr string) *HostList {
	host, port := splitHost(listenAddr)
	host = strings.ToLower(host)
	var l HostList
	ip := net.ParseIP(host)
	if host == "" || host == "localhost" || ip != nil && (ip.IsLoopback() || ip.IsUnspecified()) {
		for _, n := range loopbackNames {
			l.entries = append(l.entries, hostEntry{n, port})
		}
	}
	if host != "" && (ip == nil || !ip.IsUnspecified()) && !l.Allows(net.JoinHostPort(host, port)) {
		l.entries = append(l.entries, hostEntry{host, port})
	}
	return &l
}

// Allows reports whether a request's Host (r.Host) is in the list.
func (l *HostList) Allows(hostHeader string) bool {
	host, port := splitHost(hostHeader)
	host = strings.ToLower(host)
	for _, e := range l.entries {
		if e.host == host && (e.port == "" || e.port == port) {
			return true
		}
	}
	return false
}

// String lists the entries as HUBLINE_CODEC_ALLOWED_HOSTS would.
func (l *HostList) String() string {
	s := make([]string, len(l.entries))
	for i, e := range l.entries {
		switch {
		case e.port != "":
			s[i] = net.JoinHostPort(e.host, e.port)
		case strings.Contains(e.host, ":"):
			s[i] = "[" + e.host + "]"
		default:
			s[i] = e.host
		}
	}
	return strings.Join(s, ",")
}

// splitHost splits host[:port], removing IPv6 brackets.
func splitHost(s string) (host, port string) {
	if h, p, err := net.SplitHostPort(s); err == nil {
		return h, p
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"), ""
}

// Access decides which requests may use the codec endpoint. It exists because the
// endpoint decrypts every payload for whoever reaches it; CORS alone only keeps
// foreign pages from reading the answers, not from sending requests.
type Access struct {
	// UIOrigin is the Temporal UI's origin (HUBLINE_CODEC_UI_ORIGIN): a request
	// with any other Origin header is refused.
	UIOrigin string
	// Hosts the endpoint answers as; nil refuses every request.
	Hosts *HostList
	// Token, when set, is accepted as Authorization: Bearer <Token>.
	Token string
	// JWT, when set, accepts Authorization: Bearer <access token> it verifies.
	JWT *JWTVerifier
}

// Refusal is an error answer: HTTP status and error code.
type Refusal struct {
	Status        int
	Code, Message string
}

func (r *Refusal) Error() string { return r.Code + ": " + r.Message }

// CheckSource refuses a request for a Host outside the list or from a page of
// another origin. Requests without Origin (the temporal CLI, curl) pass.
func (a *Access) CheckSource(r *http.Request) *Refusal {
	if a.Hosts == nil || !a.Hosts.Allows(r.Host) {
		return &Refusal{http.StatusForbidden, "host_not_allowed",
			"the Host header is not one hubline codec answers (HUBLINE_CODEC_ALLOWED_HOSTS)"}
	}
	if origins := r.Header.Values("Origin"); len(origins) > 1 || len(origins) == 1 && !strings.EqualFold(origins[0], a.UIOrigin) {
		return &Refusal{http.StatusForbidden, "origin_not_allowed",
			"only pages of the Temporal UI at HUBLINE_CODEC_UI_ORIGIN may call hubline codec"}
	}
	return nil
}

// Authorize checks the bearer credential when a token or JWT verification is
// configured: either one accepted is enough.
func (a *Access) Authorize(ctx context.Context, r *http.Request) *Refusal {
	if a.Token == "" && a.JWT == nil {
		return nil
	}
	want := "Authorization: Bearer <HUBLINE_CODEC_TOKEN>"
	switch {
	case a.Token != "" && a.JWT != nil:
		want = "Authorization: Bearer <HUBLINE_CODEC_TOKEN or an access token of HUBLINE_CODEC_JWT_ISSUER>"
	case a.JWT != nil:
		want = "Authorization: Bearer <access token of HUBLINE_CODEC_JWT_ISSUER>"
	}
	auth := r.Header.Values("Authorization")
	scheme, cred, _ := strings.Cut(strings.Join(auth, ""), " ")
	if len(auth) != 1 || !strings.EqualFold(scheme, "Bearer") || cred == "" {
		return &Refusal{http.StatusUnauthorized, "unauthorized", want + " required"}
	}
	if a.Token != "" && subtle.ConstantTimeCompare([]byte(cred), []byte(a.Token)) == 1 {
		return nil
	}
	if a.JWT == nil {
		return &Refusal{http.StatusUnauthorized, "unauthorized", want + " required"}
	}
	if err := a.JWT.Verify(ctx, cred); err != nil {
		return &Refusal{http.StatusUnauthorized, "unauthorized", "access token refused: " + err.Error()}
	}
	return nil
}
