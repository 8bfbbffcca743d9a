package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"go.uber.org/zap"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/hubline/hubline/internal/codec"
)

func TestCodecHandler(t *testing.T) {
	key, err := codec.ParseKey(payloadKey)
	if err != nil {
		t.Fatal(err)
	}
	cd, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := converter.GetDefaultDataConverter().ToPayload("Hello Aiko")
	if err != nil {
		t.Fatal(err)
	}
	enc, err := cd.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	body, err := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	if err != nil {
		t.Fatal(err)
	}
	plainBody, err := protojson.Marshal(&commonpb.Payloads{Payloads: []*commonpb.Payload{plain}})
	if err != nil {
		t.Fatal(err)
	}
	const origin = "https://temporal-ui.example.com"
	jwks := newTestJWKS(t)
	now := time.Now()
	operator := jwks.token(t, map[string]any{"iss": jwks.issuer, "aud": "temporal-ui", "exp": now.Add(time.Hour).Unix()})
	expired := jwks.token(t, map[string]any{"iss": jwks.issuer, "aud": "temporal-ui", "exp": now.Add(-time.Hour).Unix()})
	otherAud := jwks.token(t, map[string]any{"iss": jwks.issuer, "aud": "another-app", "exp": now.Add(time.Hour).Unix()})
	for _, tc := range []struct {
		name, method, path, auth, token string
		host, origin                    string // default 127.0.0.1:8081 and none
		jwt                             bool   // accept access tokens of jwks
		body                            []byte
		status                          int
		code                            string
		decoded                         bool
	}{
		{name: "decode", method: "POST", path: "/decode", body: body, status: 200, decoded: true},
		{name: "token accepted", method: "POST", path: "/decode", token: "s3cret", auth: "Bearer s3cret", body: body, status: 200, decoded: true},
		{name: "token missing", method: "POST", path: "/decode", token: "s3cret", body: body, status: 401},
		{name: "token wrong", method: "POST", path: "/decode", token: "s3cret", auth: "Bearer guess", body: body, status: 401},
		{name: "behind a path prefix", method: "POST", path: "/codec//decode", body: body, status: 200, decoded: true},
		{name: "encode", method: "POST", path: "/encode", body: plainBody, status: 200},
		{name: "other path", method: "POST", path: "/decoder", body: body, status: 404},
		{name: "GET", method: "GET", path: "/decode", status: 405},
		{name: "preflight", method: "OPTIONS", path: "/decode", status: 204},
		{name: "not payloads", method: "POST", path: "/decode", body: []byte("{"), status: 400},
		{name: "too large", method: "POST", path: "/decode", body: bytes.Repeat([]byte(" "), maxCodecBody+1), status: 400},

		// Only the UI's pages, and only under the codec's own Host names.
		{name: "from the UI", method: "POST", path: "/decode", origin: origin, body: body, status: 200, decoded: true},
		{name: "as localhost", method: "POST", path: "/decode", host: "localhost:8081", origin: origin, body: body, status: 200, decoded: true},
		{name: "preflight from the UI", method: "OPTIONS", path: "/decode", origin: origin, status: 204},
		{name: "DNS rebinding", method: "POST", path: "/decode", host: "rebind.attacker.example:8081", origin: "http://rebind.attacker.example:8081", body: body, status: 403, code: "host_not_allowed"},
		{name: "rebinding preflight", method: "OPTIONS", path: "/decode", host: "rebind.attacker.example:8081", origin: "http://rebind.attacker.example:8081", status: 403, code: "host_not_allowed"},
		{name: "foreign page", method: "POST", path: "/decode", origin: "https://evil.example", body: body, status: 403, code: "origin_not_allowed"},
		{name: "foreign preflight", method: "OPTIONS", path: "/decode", origin: "https://evil.example", status: 403, code: "origin_not_allowed"},
		{name: "foreign page with the token", method: "POST", path: "/decode", origin: "https://evil.example", token: "s3cret", auth: "Bearer s3cret", body: body, status: 403, code: "origin_not_allowed"},

		// The Temporal UI passing its user's access token on.
		{name: "jwt", method: "POST", path: "/decode", origin: origin, jwt: true, auth: "Bearer " + operator, body: body, status: 200, decoded: true},
		{name: "jwt missing", method: "POST", path: "/decode", origin: origin, jwt: true, body: body, status: 401, code: "unauthorized"},
		{name: "jwt expired", method: "POST", path: "/decode", origin: origin, jwt: true, auth: "Bearer " + expired, body: body, status: 401, code: "unauthorized"},
		{name: "jwt for another audience", method: "POST", path: "/decode", origin: origin, jwt: true, auth: "Bearer " + otherAud, body: body, status: 401, code: "unauthorized"},
		{name: "jwt or token: token", method: "POST", path: "/decode", jwt: true, token: "s3cret", auth: "Bearer s3cret", body: body, status: 200, decoded: true},
		{name: "jwt or token: jwt", method: "POST", path: "/decode", origin: origin, jwt: true, token: "s3cret", auth: "Bearer " + operator, body: body, status: 200, decoded: true},
		{name: "token only: a jwt is refused", method: "POST", path: "/decode", origin: origin, token: "s3cret", auth: "Bearer " + operator, body: body, status: 401, code: "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			access, err := codecAccess("", origin, "127.0.0.1:8081")
			if err != nil {
				t.Fatal(err)
			}
			access.Token = tc.token
			if tc.jwt {
				access.JWT = jwks.verifier(t)
			}
			h := codecHandler(cd, access, zap.NewNop())
			req := httptest.NewRequest(tc.method, tc.path, bytes.NewReader(tc.body))
			req.Host = "127.0.0.1:8081"
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tc.status {
				t.Fatalf("status %d, want %d: %s", rec.Code, tc.status, rec.Body.String())
			}
			if tc.code != "" {
				var e struct{ Error struct{ Code string } }
				if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Error.Code != tc.code {
					t.Fatalf("answer %s, want error code %s", rec.Body.String(), tc.code)
				}
			}
			if got := rec.Header().Get("Access-Control-Allow-Origin"); got != origin {
				t.Errorf("Access-Control-Allow-Origin %q", got)
			}
			if !tc.decoded {
				if strings.Contains(rec.Body.String(), "Aiko") {
					t.Fatalf("answer holds the plaintext: %s", rec.Body.String())
				}
				return
			}
			var out commonpb.Payloads
			if err := protojson.Unmarshal(rec.Body.Bytes(), &out); err != nil || len(out.Payloads) != 1 {
				t.Fatalf("answer %s: %v", rec.Body.String(), err)
			}
			var s string
			if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &s); err != nil || s != "Hello Aiko" {
				t.Fatalf("decoded %q, %v", s, err)
			}
		})
	}
}

func TestCodecAccessSettings(t *testing.T) {
	a, err := codecAccess("", "http://127.0.0.1:8233", "127.0.0.1:8080")
	if err != nil || a.Hosts.String() != "localhost:8080,127.0.0.1:8080,[::1]:8080" {
		t.Fatalf("dev default: %v %v", a, err)
	}
	a, err = codecAccess("codec.example.com", "https://ui.example.com", "0.0.0.0:8081")
	if err != nil || a.Hosts.String() != "codec.example.com" {
		t.Fatalf("HUBLINE_CODEC_ALLOWED_HOSTS: %v %v", a, err)
	}
	if _, err := codecAccess("https://codec.example.com", "https://ui.example.com", "0.0.0.0:8081"); err == nil ||
		!strings.Contains(err.Error(), "HUBLINE_CODEC_ALLOWED_HOSTS") {
		t.Fatalf("a URL as a host: %v", err)
	}
}

// testJWKS is an identity provider's JWKS endpoint with one ES256 key made for the test.
type testJWKS struct {
	url, issuer string
	signer      jose.Signer
}

func newTestJWKS(t *testing.T) *testJWKS {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwk := jose.JSONWebKey{Key: key, KeyID: "test-1", Algorithm: "ES256", Use: "sig"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk.Public()}})
	}))
	t.Cleanup(srv.Close)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jwk}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	return &testJWKS{url: srv.URL, issuer: srv.URL + "/", signer: signer}
}

func (j *testJWKS) token(t *testing.T, claims map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(claims)
	sig, err := j.signer.Sign(b)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (j *testJWKS) verifier(t *testing.T) *codec.JWTVerifier {
	t.Helper()
	v, err := codec.NewJWTVerifier(codec.JWTConfig{JWKSURL: j.url, Issuer: j.issuer, Audience: "temporal-ui"})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
