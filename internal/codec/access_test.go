package codec

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseHosts(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{in: "codec.example.com", want: "codec.example.com"},
		{in: " Codec.Example.com:8443 , 127.0.0.1:8081,[::1]:8081,[fe80::1]", want: "codec.example.com:8443,127.0.0.1:8081,[::1]:8081,[fe80::1]"},
		{in: "", bad: true},
		{in: " , ", bad: true},
		{in: "https://codec.example.com", bad: true},
		{in: "codec.example.com/decode", bad: true},
		{in: "user@codec.example.com", bad: true},
		{in: "::1", bad: true},
		{in: "codec.example.com:port", bad: true},
		{in: ":8081", bad: true},
	} {
		l, err := ParseHosts(tc.in)
		switch {
		case tc.bad && err == nil:
			t.Errorf("ParseHosts(%q) = %s, want an error", tc.in, l)
		case !tc.bad && err != nil:
			t.Errorf("ParseHosts(%q): %v", tc.in, err)
		case !tc.bad && l.String() != tc.want:
			t.Errorf("ParseHosts(%q) = %s, want %s", tc.in, l, tc.want)
		}
	}
}

func TestHostsAllow(t *testing.T) {
	loopback := []string{"127.0.0.1:8081", "localhost:8081", "LOCALHOST:8081", "[::1]:8081"}
	for _, tc := range []struct {
		name    string
		list    *HostList
		allowed []string
		refused []string
	}{
		{"default on 127.0.0.1", DefaultHosts("127.0.0.1:8081"), loopback,
			[]string{"attacker.example:8081", "127.0.0.1:8082", "127.0.0.1", "localhost", "127.0.0.2:8081", "0.0.0.0:8081", "", "localhost.:8081"}},
		{"default on localhost", DefaultHosts("localhost:8081"), loopback, []string{"attacker.example:8081", "localhost:80"}},
		{"default on all addresses (a container)", DefaultHosts("0.0.0.0:8081"), loopback, []string{"0.0.0.0:8081", "10.0.0.5:8081", "attacker.example:8081"}},
		{"default on [::]", DefaultHosts("[::]:8081"), loopback, []string{"[::]:8081"}},
		{"default on a named host", DefaultHosts("codec.internal:8081"), []string{"codec.internal:8081", "CODEC.internal:8081"},
			[]string{"localhost:8081", "127.0.0.1:8081", "codec.internal:8082"}},
		{"default on a private address", DefaultHosts("10.0.0.5:8081"), []string{"10.0.0.5:8081"}, []string{"localhost:8081", "attacker.example:8081"}},
		{"name without port", mustHosts(t, "codec.example.com"), []string{"codec.example.com", "codec.example.com:443", "codec.example.com:8443"},
			[]string{"evil.codec.example.com", "codec.example.com.evil.example"}},
		{"name with port", mustHosts(t, "codec.example.com:8443"), []string{"codec.example.com:8443"}, []string{"codec.example.com", "codec.example.com:443"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, h := range tc.allowed {
				if !tc.list.Allows(h) {
					t.Errorf("%s refuses Host %q", tc.list, h)
				}
			}
			for _, h := range tc.refused {
				if tc.list.Allows(h) {
					t.Errorf("%s allows Host %q", tc.list, h)
				}
			}
		})
	}
}

func mustHosts(t *testing.T, s string) *HostList {
	t.Helper()
	l, err := ParseHosts(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestAccessCheckSource(t *testing.T) {
	const ui = "https://temporal-ui.example.com"
	a := &Access{UIOrigin: ui, Hosts: DefaultHosts("127.0.0.1:8081")}
	for _, tc := range []struct {
		name, host string
		origins    []string
		code       string // "" = allowed
	}{
		{"CLI, no Origin", "127.0.0.1:8081", nil, ""},
		{"the UI", "127.0.0.1:8081", []string{ui}, ""},
		{"the UI, letter case", "localhost:8081", []string{"HTTPS://Temporal-UI.example.com"}, ""},
		{"DNS rebinding", "attacker.example:8081", []string{"http://attacker.example:8081"}, "host_not_allowed"},
		{"rebinding without Origin", "attacker.example:8081", nil, "host_not_allowed"},
		{"foreign page", "127.0.0.1:8081", []string{"https://evil.example"}, "origin_not_allowed"},
		{"UI origin over http", "127.0.0.1:8081", []string{"http://temporal-ui.example.com"}, "origin_not_allowed"},
		{"null origin (sandboxed frame, file:)", "127.0.0.1:8081", []string{"null"}, "origin_not_allowed"},
		{"empty origin", "127.0.0.1:8081", []string{""}, "origin_not_allowed"},
		{"two origins", "127.0.0.1:8081", []string{ui, "https://evil.example"}, "origin_not_allowed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/decode", nil)
			r.Host = tc.host
			for _, o := range tc.origins {
				r.Header.Add("Origin", o)
			}
			got := ""
			if ref := a.CheckSource(r); ref != nil {
				if ref.Status != 403 {
					t.Errorf("status %d", ref.Status)
				}
				got = ref.Code
			}
			if got != tc.code {
				t.Fatalf("refusal %q, want %q", got, tc.code)
			}
		})
	}
	if (&Access{UIOrigin: ui}).CheckSource(httptest.NewRequest("POST", "http://127.0.0.1:8081/decode", nil)) == nil {
		t.Error("no host list must refuse everything")
	}
}

// TestAccessAuthorize: with a token and/or a JWKS configured, either credential opens
// the endpoint; with neither, none is needed.
func TestAccessAuthorize(t *testing.T) {
	now := time.Now()
	rs := rsaKey(t, "k1")
	srv := newJWKSServer(t, rs)
	jwtv := newVerifier(t, srv.URL, &now)
	good := sign(t, rs, claims(now, nil))
	expired := sign(t, rs, claims(now, func(c map[string]any) { c["exp"] = now.Add(-time.Hour).Unix() }))
	const token = "fixed-codec-token"

	for _, tc := range []struct {
		name   string
		access Access
		auth   []string
		ok     bool
	}{
		{"nothing configured", Access{}, nil, true},
		{"token: right", Access{Token: token}, []string{"Bearer " + token}, true},
		{"token: scheme letter case", Access{Token: token}, []string{"bearer " + token}, true},
		{"token: missing", Access{Token: token}, nil, false},
		{"token: wrong", Access{Token: token}, []string{"Bearer guess"}, false},
		{"token: a prefix", Access{Token: token}, []string{"Bearer " + token[:5]}, false},
		{"token: Basic", Access{Token: token}, []string{"Basic " + token}, false},
		{"token: twice", Access{Token: token}, []string{"Bearer " + token, "Bearer " + token}, false},
		{"token: a JWT is not enough without a JWKS", Access{Token: token}, []string{"Bearer " + good}, false},
		{"jwt: valid", Access{JWT: jwtv}, []string{"Bearer " + good}, true},
		{"jwt: expired", Access{JWT: jwtv}, []string{"Bearer " + expired}, false},
		{"jwt: missing", Access{JWT: jwtv}, nil, false},
		{"jwt: empty bearer", Access{JWT: jwtv}, []string{"Bearer "}, false},
		{"both: token", Access{Token: token, JWT: jwtv}, []string{"Bearer " + token}, true},
		{"both: jwt", Access{Token: token, JWT: jwtv}, []string{"Bearer " + good}, true},
		{"both: expired jwt", Access{Token: token, JWT: jwtv}, []string{"Bearer " + expired}, false},
		{"both: wrong", Access{Token: token, JWT: jwtv}, []string{"Bearer guess"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/decode", nil)
			for _, a := range tc.auth {
				r.Header.Add("Authorization", a)
			}
			ref := tc.access.Authorize(context.Background(), r)
			if tc.ok != (ref == nil) {
				t.Fatalf("refusal %v, want ok=%v", ref, tc.ok)
			}
			if ref != nil && (ref.Status != 401 || ref.Code != "unauthorized") {
				t.Fatalf("refusal %+v", ref)
			}
		})
	}
}
