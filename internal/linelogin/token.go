// Package linelogin links existing HubSpot contacts to LINE users through LINE Login: the
// signed link tokens the Create LINE link action hands out, the single-use states of each
// login, the ID token check, and the LINE calls the callback makes.
package linelogin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"time"
)

// Errors of tokens and states that are refused.
var (
	ErrInvalid = errors.New("linelogin: token is not valid (missing, malformed or altered)")
	ErrExpired = errors.New("linelogin: token has expired")
)

// Target is what a link and each login state name: the contact to link, in which portal,
// for which LINE account.
type Target struct {
	PortalID  int64
	Account   int
	ContactID int64
}

// Link is a signed, expiring link to start LINE Login for a target.
type Link struct {
	Target
	Expires time.Time
}

// State is one LINE Login attempt: its target, a random ID (spent once, at the callback)
// and its expiry.
type State struct {
	Target
	ID      [16]byte
	Expires time.Time

	key int // which of the Signer's roots signed it (its nonce uses the same root)
}

// IDHex is the state's ID as text, for store.UseOnce.
func (s State) IDHex() string { return hex.EncodeToString(s.ID[:]) }

// Token kinds: the first byte of every payload, so a link can never pass as a state or
// the other way, even before the (separately keyed) MAC is checked.
const (
	kindLink  byte = 'L'
	kindState byte = 'S'
)

// macLen is the truncated HMAC-SHA256 length: 128 bits keep links short and are far beyond
// guessing.
const macLen = 16

// Signer makes and checks links and states. Its keys derive from one root key (from
// HUBLINE_SECRET_KEY), so every starter of a deployment accepts what another signed.
type Signer struct {
	keys []keySet // keys[0] signs; all of them verify
}

type keySet struct{ link, state, nonce []byte }

// NewSigner derives the signing keys from root (at least 32 bytes). Links and states signed
// with an old root (from HUBLINE_SECRET_OLD_KEYS, during a key rotation) still verify.
func NewSigner(root []byte, old ...[]byte) (*Signer, error) {
	s := &Signer{}
	for _, r := range append([][]byte{root}, old...) {
		if len(r) < 32 {
			return nil, errors.New("linelogin: signing key shorter than 32 bytes")
		}
		derive := func(purpose string) []byte {
			m := hmac.New(sha256.New, r)
			m.Write([]byte("hubline line login " + purpose + " v1"))
			return m.Sum(nil)
		}
		s.keys = append(s.keys, keySet{link: derive("link"), state: derive("state"), nonce: derive("nonce")})
	}
	return s, nil
}

func appendTarget(b []byte, t Target) []byte {
	b = binary.AppendVarint(b, t.PortalID)
	b = binary.AppendUvarint(b, uint64(t.Account))
	return binary.AppendVarint(b, t.ContactID)
}

func seal(key, payload []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write(payload)
	return base64.RawURLEncoding.EncodeToString(m.Sum(payload)[:len(payload)+macLen])
}

// open checks the MAC (against each root's key for the purpose) and the kind, returning
// the payload after the kind byte and which root signed it.
func (s *Signer) open(key func(keySet) []byte, kind byte, tok string) ([]byte, int, error) {
	if len(tok) > 200 {
		return nil, 0, ErrInvalid
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 1+macLen {
		return nil, 0, ErrInvalid
	}
	payload, sig := b[:len(b)-macLen], b[len(b)-macLen:]
	for i, ks := range s.keys {
		m := hmac.New(sha256.New, key(ks))
		m.Write(payload)
		if hmac.Equal(sig, m.Sum(nil)[:macLen]) && payload[0] == kind {
			return payload[1:], i, nil
		}
	}
	return nil, 0, ErrInvalid
}

func linkKey(k keySet) []byte  { return k.link }
func stateKey(k keySet) []byte { return k.state }

type reader struct {
	b   []byte
	bad bool
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.bad = true
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) target() Target {
	t := Target{PortalID: r.varint()}
	acct := r.uvarint()
	t.ContactID = r.varint()
	if acct < 1 || acct > 1<<20 {
		r.bad = true
	}
	t.Account = int(acct)
	return t
}

// Link signs a link; its text is URL-safe (base64url).
func (s *Signer) Link(l Link) string {
	b := appendTarget([]byte{kindLink}, l.Target)
	b = binary.AppendVarint(b, l.Expires.Unix())
	return seal(s.keys[0].link, b)
}

// ParseLink checks a link's signature and expiry.
func (s *Signer) ParseLink(tok string, now time.Time) (Link, error) {
	p, _, err := s.open(linkKey, kindLink, tok)
	if err != nil {
		return Link{}, err
	}
	r := &reader{b: p}
	l := Link{Target: r.target()}
	l.Expires = time.Unix(r.varint(), 0)
	if r.bad || len(r.b) != 0 {
		return Link{}, ErrInvalid
	}
	if !now.Before(l.Expires) {
		return l, ErrExpired
	}
	return l, nil
}

// NewState starts a login attempt for t, valid until expires, with a fresh random ID.
func (s *Signer) NewState(t Target, expires time.Time) (string, State) {
	st := State{Target: t, Expires: expires}
	_, _ = rand.Read(st.ID[:])
	b := append([]byte{kindState}, st.ID[:]...)
	b = appendTarget(b, t)
	b = binary.AppendVarint(b, expires.Unix())
	return seal(s.keys[0].state, b), st
}

// ParseState checks a state's signature and expiry (not whether it was used: the caller
// spends State.ID once).
func (s *Signer) ParseState(tok string, now time.Time) (State, error) {
	p, key, err := s.open(stateKey, kindState, tok)
	if err != nil {
		return State{}, err
	}
	if len(p) < len(State{}.ID) {
		return State{}, ErrInvalid
	}
	st := State{key: key}
	copy(st.ID[:], p)
	r := &reader{b: p[len(st.ID):]}
	st.Target = r.target()
	st.Expires = time.Unix(r.varint(), 0)
	if r.bad || len(r.b) != 0 {
		return State{}, ErrInvalid
	}
	if !now.Before(st.Expires) {
		return st, ErrExpired
	}
	return st, nil
}

// Nonce is the OpenID nonce of a login attempt: derived from its state, so the callback
// knows which nonce the ID token must carry without storing anything, and an ID token
// issued for another attempt is refused.
func (s *Signer) Nonce(st State) string {
	m := hmac.New(sha256.New, s.keys[min(st.key, len(s.keys)-1)].nonce)
	m.Write(st.ID[:])
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}
