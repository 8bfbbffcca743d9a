package codec

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Limits of the JWKS cache. A token naming a key the cache does not hold makes it
// refetch, at most once per minRefresh, so forged key IDs cannot turn the codec into
// a request flood against the identity provider.
const (
	jwksTimeout    = 10 * time.Second
	jwksMaxBytes   = 1 << 20
	jwksMinRefresh = time.Minute
	jwksMaxAge     = time.Hour // keys removed by the provider stop working within this
	jwtLeeway      = 30 * time.Second
	minRSABits     = 2048
)

// jwtAlgorithms are the signature algorithms accepted: asymmetric only. "none" and
// HMAC (which a public key could be abused as the secret of) are refused when the
// token is parsed.
var jwtAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512,
}

// JWTConfig configures access-token verification (HUBLINE_CODEC_JWKS_URL,
// HUBLINE_CODEC_JWT_ISSUER, HUBLINE_CODEC_JWT_AUDIENCE).
type JWTConfig struct {
	JWKSURL  string
	Issuer   string
	Audience string
	// HTTPClient fetches the JWKS (default: a client with a 10 s timeout).
	HTTPClient *http.Client
	// Now is the clock (tests move it).
	Now func() time.Time
}

// JWTVerifier checks the access tokens the Temporal UI passes on for its
// signed-in user: signature by a key of the provider's JWKS, iss, aud, exp, nbf.
type JWTVerifier struct {
	cfg JWTConfig

	fetchMu sync.Mutex // one fetch at a time; held across the request

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time // last attempt, successful or not
	loadedAt  time.Time // last success
}

// NewJWTVerifier checks the configuration; keys are fetched when a token first needs
// them, so a provider that is down does not stop the codec from starting.
func NewJWTVerifier(cfg JWTConfig) (*JWTVerifier, error) {
	switch {
	case cfg.JWKSURL == "":
		return nil, errors.New("no JWKS URL")
	case cfg.Issuer == "" || cfg.Audience == "":
		return nil, errors.New("an issuer and an audience are required with a JWKS URL")
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: jwksTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &JWTVerifier{cfg: cfg}, nil
}

// Verify checks a compact JWS access token. Errors say why without quoting it.
func (v *JWTVerifier) Verify(ctx context.Context, token string) error {
	tok, err := jwt.ParseSigned(token, jwtAlgorithms)
	if err != nil {
		return errors.New("not a JWT signed with an accepted algorithm (RS*, PS*, ES*)")
	}
	if len(tok.Headers) != 1 {
		return errors.New("want exactly one signature")
	}
	hdr := tok.Headers[0]
	keys, err := v.keysFor(ctx, hdr.KeyID)
	if err != nil {
		return err
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys {
		if !usable(k, hdr.Algorithm) {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return errors.New("signature does not verify with any key of HUBLINE_CODEC_JWKS_URL")
	}
	if claims.Expiry == nil {
		return errors.New("token has no exp")
	}
	err = claims.ValidateWithLeeway(jwt.Expected{
		Issuer: v.cfg.Issuer, AnyAudience: jwt.Audience{v.cfg.Audience}, Time: v.cfg.Now(),
	}, jwtLeeway)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrExpired):
		return errors.New("token expired")
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return errors.New("token not valid yet")
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return errors.New("iss is not HUBLINE_CODEC_JWT_ISSUER")
	case errors.Is(err, jwt.ErrInvalidAudience):
		return errors.New("aud does not include HUBLINE_CODEC_JWT_AUDIENCE")
	default:
		return errors.New("claims rejected")
	}
}

// usable reports whether a JWKS key may check a signature of alg: a public RSA
// (at least 2048 bits) or ECDSA key, meant for signatures, of that algorithm if
// it names one.
func usable(k jose.JSONWebKey, alg string) bool {
	if k.Use != "" && k.Use != "sig" || k.Algorithm != "" && k.Algorithm != alg {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return pub.N.BitLen() >= minRSABits
	case *ecdsa.PublicKey:
		return true
	}
	return false
}

// keysFor returns the cached keys with this key ID (all keys when the token names
// none), refetching the JWKS first when none match or the cache is old, at most once
// per jwksMinRefresh.
func (v *JWTVerifier) keysFor(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if ks, fresh := v.cached(kid); len(ks) > 0 && fresh {
		return ks, nil
	}
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	ks, fresh := v.cached(kid) // another request may have refetched meanwhile
	if len(ks) > 0 && fresh {
		return ks, nil
	}
	v.mu.Lock()
	now := v.cfg.Now()
	mayFetch := v.fetchedAt.IsZero() || now.Sub(v.fetchedAt) >= jwksMinRefresh
	if mayFetch {
		v.fetchedAt = now
	}
	v.mu.Unlock()
	if !mayFetch {
		if len(ks) > 0 {
			return ks, nil
		}
		return nil, errors.New("token names a key that HUBLINE_CODEC_JWKS_URL does not list")
	}
	// Detached from the request: its cancellation should not waste the minute's fetch.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksTimeout)
	defer cancel()
	keys, err := v.fetch(fctx)
	if err != nil {
		if len(ks) > 0 {
			return ks, nil // an old cache beats none while the provider is down
		}
		return nil, err
	}
	v.mu.Lock()
	v.keys, v.loadedAt = keys, now
	v.mu.Unlock()
	if ks, _ := v.cached(kid); len(ks) > 0 {
		return ks, nil
	}
	return nil, errors.New("token names a key that HUBLINE_CODEC_JWKS_URL does not list")
}

func (v *JWTVerifier) cached(kid string) (keys []jose.JSONWebKey, fresh bool) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, k := range v.keys {
		if kid == "" || k.KeyID == kid {
			keys = append(keys, k)
		}
	}
	return keys, v.cfg.Now().Sub(v.loadedAt) < jwksMaxAge
}

// fetch reads the JWKS. Keys it cannot use (unknown types, symmetric keys) are
// skipped rather than failing the whole set.
func (v *JWTVerifier) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKSURL, nil)
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_CODEC_JWKS_URL: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch HUBLINE_CODEC_JWKS_URL: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("fetch HUBLINE_CODEC_JWKS_URL: status %d", resp.StatusCode)
	}
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, jwksMaxBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("HUBLINE_CODEC_JWKS_URL is not a JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil || !k.Valid() {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // a provider should never publish private keys; use only the public half
		}
		if k.Key != nil { // symmetric keys have no public half
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("HUBLINE_CODEC_JWKS_URL lists no usable keys")
	}
	return keys, nil
}
