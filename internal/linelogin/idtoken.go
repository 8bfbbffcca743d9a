package linelogin

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Issuer is the iss of LINE Login's ID tokens.
const Issuer = "https://access.line.me"

// clockLeeway tolerates a little skew between LINE's clock and ours.
const clockLeeway = 30 * time.Second

var userIDRE = regexp.MustCompile(`^U[0-9a-f]{32}$`)

// Claims are the ID token claims hubline uses.
type Claims struct {
	Subject string // the LINE user ID
	Name    string
	Expires time.Time
}

// IDTokenError says why an ID token was refused (never the token itself).
type IDTokenError struct{ Reason string }

func (e *IDTokenError) Error() string { return "linelogin: ID token refused: " + e.Reason }

func refuse(format string, args ...any) error {
	return &IDTokenError{Reason: fmt.Sprintf(format, args...)}
}

// VerifyIDToken checks an ID token from LINE's token endpoint: HS256 signed with the
// channel secret (any other alg is refused, "none" included), issued by LINE, for this
// channel, unexpired, for this login attempt's nonce, about a LINE user.
func VerifyIDToken(tok, channelID, channelSecret, nonce string, now time.Time) (Claims, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(tok) > 16<<10 {
		return Claims{}, refuse("not a JWS compact token")
	}
	enc := base64.RawURLEncoding
	hb, err1 := enc.DecodeString(parts[0])
	pb, err2 := enc.DecodeString(parts[1])
	sig, err3 := enc.DecodeString(parts[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		return Claims{}, refuse("not base64url")
	}
	var h struct {
		Alg string `json:"alg"`
	}
	if json.Unmarshal(hb, &h) != nil {
		return Claims{}, refuse("header is not JSON")
	}
	if h.Alg != "HS256" {
		return Claims{}, refuse("alg %q (want HS256)", truncate(h.Alg, 20))
	}
	m := hmac.New(sha256.New, []byte(channelSecret))
	m.Write([]byte(parts[0] + "." + parts[1]))
	if !hmac.Equal(sig, m.Sum(nil)) {
		return Claims{}, refuse("bad signature")
	}
	var c struct {
		Iss   string          `json:"iss"`
		Sub   string          `json:"sub"`
		Aud   json.RawMessage `json:"aud"`
		Exp   *float64        `json:"exp"`
		Nonce string          `json:"nonce"`
		Name  string          `json:"name"`
	}
	if json.Unmarshal(pb, &c) != nil {
		return Claims{}, refuse("claims are not JSON")
	}
	switch {
	case c.Iss != Issuer:
		return Claims{}, refuse("issuer is not %s", Issuer)
	case !audience(c.Aud, channelID):
		return Claims{}, refuse("audience is not this channel")
	case c.Exp == nil:
		return Claims{}, refuse("no exp")
	case !now.Before(time.Unix(int64(*c.Exp), 0).Add(clockLeeway)):
		return Claims{}, refuse("expired")
	case nonce == "" || !hmac.Equal([]byte(c.Nonce), []byte(nonce)):
		return Claims{}, refuse("nonce does not match this login")
	case !userIDRE.MatchString(c.Sub):
		return Claims{}, refuse("sub is not a LINE user ID")
	}
	return Claims{Subject: c.Sub, Name: c.Name, Expires: time.Unix(int64(*c.Exp), 0)}, nil
}

// audience accepts aud as a string (LINE's form) or an array holding the channel ID.
func audience(raw json.RawMessage, want string) bool {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return one == want
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, a := range many {
			if a == want {
				return true
			}
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "..."
}
