package codec

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "temporal-ui"
)

// jwksServer serves the public halves of its keys as a JWKS and counts fetches.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []jose.JSONWebKey
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...jose.JSONWebKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: s.keys})
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...jose.JSONWebKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = nil
	for _, k := range keys {
		s.keys = append(s.keys, k.Public())
	}
}

func rsaKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
}

func ecKey(t *testing.T, kid string) jose.JSONWebKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return jose.JSONWebKey{Key: k, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"}
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

// claims returns standard claims valid at now, changed by edit.
func claims(now time.Time, edit func(map[string]any)) map[string]any {
	c := map[string]any{
		"iss": testIssuer, "aud": []string{testAudience, "other"}, "sub": "operator-1",
		"iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix(),
	}
	if edit != nil {
		edit(c)
	}
	return c
}

// sign builds a compact JWS by hand (not with the library under test), with the
// key's kid and algorithm.
func sign(t *testing.T, k jose.JSONWebKey, c map[string]any) string {
	t.Helper()
	input := b64(map[string]string{"alg": k.Algorithm, "kid": k.KeyID, "typ": "JWT"}) + "." + b64(c)
	sum := sha256.Sum256([]byte(input))
	var sig []byte
	switch key := k.Key.(type) {
	case *rsa.PrivateKey:
		var err error
		if sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:]); err != nil {
			t.Fatal(err)
		}
	case *ecdsa.PrivateKey:
		r, s, err := ecdsa.Sign(rand.Reader, key, sum[:])
		if err != nil {
			t.Fatal(err)
		}
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		t.Fatalf("key type %T", k.Key)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func newVerifier(t *testing.T, url string, now *time.Time) *JWTVerifier {
	t.Helper()
	v, err := NewJWTVerifier(JWTConfig{JWKSURL: url, Issuer: testIssuer, Audience: testAudience,
		Now: func() time.Time { return *now }})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWTVerifier(t *testing.T) {
	now := time.Now()
	rs, es := rsaKey(t, "rsa-1"), ecKey(t, "ec-1")
	srv := newJWKSServer(t, rs, es)
	// An attacker's key under a kid the JWKS lists.
	forged := rsaKey(t, "rsa-1")
	// HS256 with the RSA public key as the HMAC secret: the classic confusion attack.
	pubJSON, _ := json.Marshal(rs.Public())
	hsInput := b64(map[string]string{"alg": "HS256", "kid": "rsa-1"}) + "." + b64(claims(now, nil))
	mac := hmac.New(sha256.New, pubJSON)
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	for _, tc := range []struct {
		name, token, wantErr string
	}{
		{"RS256 valid", sign(t, rs, claims(now, nil)), ""},
		{"ES256 valid", sign(t, es, claims(now, nil)), ""},
		{"audience as a string", sign(t, rs, claims(now, func(c map[string]any) { c["aud"] = testAudience })), ""},
		{"expired", sign(t, rs, claims(now, func(c map[string]any) { c["exp"] = now.Add(-5 * time.Minute).Unix() })), "expired"},
		{"no exp", sign(t, rs, claims(now, func(c map[string]any) { delete(c, "exp") })), "no exp"},
		{"not yet valid", sign(t, rs, claims(now, func(c map[string]any) { c["nbf"] = now.Add(5 * time.Minute).Unix() })), "not valid yet"},
		{"wrong issuer", sign(t, rs, claims(now, func(c map[string]any) { c["iss"] = "https://evil.example.com/" })), "iss"},
		{"wrong audience", sign(t, rs, claims(now, func(c map[string]any) { c["aud"] = []string{"another-app"} })), "aud"},
		{"no audience", sign(t, rs, claims(now, func(c map[string]any) { delete(c, "aud") })), "aud"},
		{"wrong key", sign(t, forged, claims(now, nil)), "does not verify"},
		{"EC key under the RSA kid", sign(t, jose.JSONWebKey{Key: es.Key, KeyID: "rsa-1", Algorithm: "ES256"}, claims(now, nil)), "does not verify"},
		{"alg none", b64(map[string]string{"alg": "none", "kid": "rsa-1"}) + "." + b64(claims(now, nil)) + ".", "algorithm"},
		{"alg none with a signature", b64(map[string]string{"alg": "none"}) + "." + b64(claims(now, nil)) + ".c2ln", "algorithm"},
		{"HS256 with the public key", hs256, "algorithm"},
		{"signature stripped", strings.Join(strings.Split(sign(t, rs, claims(now, nil)), ".")[:2], ".") + ".", "does not verify"},
		{"claims swapped", func() string {
			p := strings.Split(sign(t, rs, claims(now, nil)), ".")
			p[1] = b64(claims(now, func(c map[string]any) { c["sub"] = "admin" }))
			return strings.Join(p, ".")
		}(), "does not verify"},
		{"not a JWT", "s3cret", "not a JWT"},
		{"empty", "", "not a JWT"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := newVerifier(t, srv.URL, &now)
			err := v.Verify(context.Background(), tc.token)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q, want it to mention %q", err, tc.wantErr)
			}
			if tc.token != "" && strings.Contains(err.Error(), tc.token) {
				t.Fatal("error quotes the token")
			}
		})
	}
}

// Keys rotate: an unknown kid refetches the JWKS, at most once a minute, and the
// cache is kept between tokens.
func TestJWTVerifierRefresh(t *testing.T) {
	now := time.Now()
	old, rotated, later := rsaKey(t, "k1"), ecKey(t, "k2"), ecKey(t, "k3")
	srv := newJWKSServer(t, old)
	v := newVerifier(t, srv.URL, &now)
	ctx := context.Background()
	verify := func(k jose.JSONWebKey) error { return v.Verify(ctx, sign(t, k, claims(now, nil))) }

	if err := verify(old); err != nil {
		t.Fatal(err)
	}
	if err := verify(old); err != nil || srv.fetches.Load() != 1 {
		t.Fatalf("second token: %v, %d fetches (want the cache)", err, srv.fetches.Load())
	}
	srv.set(old, rotated)
	now = now.Add(30 * time.Second) // within a minute of the first fetch
	if err := verify(rotated); err == nil || srv.fetches.Load() != 1 {
		t.Fatalf("unknown kid within the minute: %v, %d fetches (want refused, no fetch)", err, srv.fetches.Load())
	}
	for range 20 { // forged kids do not make it fetch either
		_ = v.Verify(ctx, sign(t, jose.JSONWebKey{Key: rotated.Key, KeyID: "forged", Algorithm: "ES256"}, claims(now, nil)))
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("%d fetches after forged kids", n)
	}
	now = now.Add(31 * time.Second)
	if err := verify(rotated); err != nil || srv.fetches.Load() != 2 {
		t.Fatalf("unknown kid after a minute: %v, %d fetches (want one refetch)", err, srv.fetches.Load())
	}
	if err := verify(old); err != nil || srv.fetches.Load() != 2 {
		t.Fatalf("known kid: %v, %d fetches", err, srv.fetches.Load())
	}
	// The provider drops k1 and adds k3; an hour-old cache is refreshed.
	srv.set(later)
	now = now.Add(jwksMaxAge)
	if err := verify(old); err == nil {
		t.Fatal("a key the provider dropped an hour ago still verifies")
	}
	if err := verify(later); err != nil || srv.fetches.Load() != 3 {
		t.Fatalf("after the hour: %v, %d fetches", err, srv.fetches.Load())
	}
}

func TestJWTVerifierProviderDown(t *testing.T) {
	now := time.Now()
	k := rsaKey(t, "k1")
	var down atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case down.Load():
			http.Error(w, "down", http.StatusBadGateway)
		default:
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.Public(),
				{Key: []byte("a symmetric key is never used"), KeyID: "k1", Algorithm: "HS256"}}})
		}
	}))
	defer srv.Close()
	v := newVerifier(t, srv.URL, &now)
	down.Store(true)
	if err := v.Verify(context.Background(), sign(t, k, claims(now, nil))); err == nil || !strings.Contains(err.Error(), "status 502") {
		t.Fatalf("provider down: %v", err)
	}
	down.Store(false)
	now = now.Add(jwksMinRefresh)
	if err := v.Verify(context.Background(), sign(t, k, claims(now, nil))); err != nil {
		t.Fatal(err)
	}
	// Down again when the cache is old: the keys it has keep working.
	down.Store(true)
	now = now.Add(jwksMaxAge)
	if err := v.Verify(context.Background(), sign(t, k, claims(now, nil))); err != nil {
		t.Fatalf("stale cache while the provider is down: %v", err)
	}
}

func TestNewJWTVerifierNeedsIssuerAndAudience(t *testing.T) {
	for _, c := range []JWTConfig{{}, {JWKSURL: "https://idp/jwks"}, {JWKSURL: "https://idp/jwks", Issuer: testIssuer}} {
		if _, err := NewJWTVerifier(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// A weak RSA key in the JWKS is not used, even for a token it signed.
func TestJWTVerifierRefusesShortRSAKeys(t *testing.T) {
	now := time.Now()
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weak := jose.JSONWebKey{Key: k, KeyID: "weak", Algorithm: string(jose.RS256), Use: "sig"}
	srv := newJWKSServer(t, weak)
	if err := newVerifier(t, srv.URL, &now).Verify(context.Background(), sign(t, weak, claims(now, nil))); err == nil {
		t.Fatal("a token signed by a 1024-bit RSA key was accepted")
	}
}
