package linelogin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// sign makes a JWS with the given header, as a token endpoint (or an attacker) would.
func sign(header, claims map[string]any, secret string) string {
	enc := base64.RawURLEncoding
	h, _ := json.Marshal(header)
	p, _ := json.Marshal(claims)
	in := enc.EncodeToString(h) + "." + enc.EncodeToString(p)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(in))
	return in + "." + enc.EncodeToString(m.Sum(nil))
}

func TestVerifyIDToken(t *testing.T) {
	const (
		channel = "1657000000"
		secret  = "login-secret"
		nonce   = "n-123"
		user    = "U0123456789abcdef0123456789abcdef"
	)
	now := time.Unix(1_800_000_000, 0)
	hs := map[string]any{"typ": "JWT", "alg": "HS256"}
	good := func() map[string]any {
		return map[string]any{"iss": Issuer, "sub": user, "aud": channel, "exp": now.Add(time.Hour).Unix(),
			"iat": now.Unix(), "nonce": nonce, "name": "Aiko"}
	}
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	tok := sign(hs, good(), secret)
	c, err := VerifyIDToken(tok, channel, secret, nonce, now)
	if err != nil || c.Subject != user || c.Name != "Aiko" {
		t.Fatalf("good token: %+v, %v", c, err)
	}
	if _, err := VerifyIDToken(sign(hs, with("aud", []string{"x", channel}), secret), channel, secret, nonce, now); err != nil {
		t.Errorf("aud as an array holding the channel: %v", err)
	}
	unsigned := strings.Join(strings.Split(sign(map[string]any{"alg": "none"}, good(), secret), ".")[:2], ".") + "."
	for name, tc := range map[string]struct {
		tok, reason string
	}{
		"wrong signature":    {sign(hs, good(), "another-secret"), "bad signature"},
		"alg none":           {unsigned, "alg"},
		"alg RS256":          {sign(map[string]any{"alg": "RS256"}, good(), secret), "alg"},
		"alg missing":        {sign(map[string]any{"typ": "JWT"}, good(), secret), "alg"},
		"wrong audience":     {sign(hs, with("aud", "1657999999"), secret), "audience"},
		"wrong issuer":       {sign(hs, with("iss", "https://evil.example"), secret), "issuer"},
		"wrong nonce":        {sign(hs, with("nonce", "n-other"), secret), "nonce"},
		"no nonce":           {sign(hs, with("nonce", nil), secret), "nonce"},
		"expired":            {sign(hs, with("exp", now.Add(-time.Minute).Unix()), secret), "expired"},
		"no exp":             {sign(hs, with("exp", nil), secret), "no exp"},
		"sub not a LINE ID":  {sign(hs, with("sub", "Uxyz"), secret), "sub"},
		"two parts":          {"a.b", "JWS"},
		"claims not JSON":    {"eyJhbGciOiJIUzI1NiJ9.bm90IGpzb24.c2ln", "signature"},
		"signature tampered": {tok[:len(tok)-3] + "AAA", "bad signature"},
	} {
		_, err := VerifyIDToken(tc.tok, channel, secret, nonce, now)
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("%s: %v, want a refusal naming %q", name, err, tc.reason)
		}
		if err != nil && strings.Contains(err.Error(), tc.tok) {
			t.Errorf("%s: the error echoes the token", name)
		}
	}
	if _, err := VerifyIDToken(tok, channel, secret, "", now); err == nil {
		t.Error("an empty expected nonce accepted a token")
	}
	// Within the clock leeway an ID token LINE just issued is accepted.
	if _, err := VerifyIDToken(sign(hs, with("exp", now.Add(-10*time.Second).Unix()), secret), channel, secret, nonce, now); err != nil {
		t.Errorf("10 s past exp, inside the leeway: %v", err)
	}
}
