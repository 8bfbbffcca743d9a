package linelogin

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func testSigner(t *testing.T, seed byte) *Signer {
	t.Helper()
	s, err := NewSigner(bytes.Repeat([]byte{seed}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLinkRoundTripAndRefusals(t *testing.T) {
	s := testSigner(t, 1)
	now := time.Unix(1_800_000_000, 0)
	want := Link{Target: Target{PortalID: 102670506, Account: 2, ContactID: 904}, Expires: now.Add(30 * 24 * time.Hour)}
	tok := s.Link(want)
	if len(tok) > 64 || strings.ContainsAny(tok, "+/=?&%") {
		t.Fatalf("link token %q is not compact and URL-safe", tok)
	}
	got, err := s.ParseLink(tok, now)
	if err != nil || got.Target != want.Target || !got.Expires.Equal(want.Expires) {
		t.Fatalf("ParseLink = %+v, %v; want %+v", got, err, want)
	}
	if _, err := s.ParseLink(tok, want.Expires); !errors.Is(err, ErrExpired) {
		t.Errorf("at expiry: %v, want ErrExpired", err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(tok)
	for i := range raw {
		b := bytes.Clone(raw)
		b[i] ^= 0x01
		if _, err := s.ParseLink(base64.RawURLEncoding.EncodeToString(b), now); !errors.Is(err, ErrInvalid) {
			t.Fatalf("byte %d flipped: %v, want ErrInvalid", i, err)
		}
	}
	for name, bad := range map[string]string{
		"empty": "", "not base64": "!!!", "truncated": tok[:len(tok)-2], "longer": tok + "AA",
		"huge": strings.Repeat("A", 300), "other key": testSigner(t, 2).Link(want),
	} {
		if _, err := s.ParseLink(bad, now); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
}

func TestStateIsNotALinkAndNonceBindsIt(t *testing.T) {
	s := testSigner(t, 1)
	now := time.Unix(1_800_000_000, 0)
	target := Target{PortalID: 7, Account: 1, ContactID: 51}
	state, st := s.NewState(target, now.Add(10*time.Minute))
	got, err := s.ParseState(state, now)
	if err != nil || got.Target != target || got.ID != st.ID || got.IDHex() != st.IDHex() {
		t.Fatalf("ParseState = %+v, %v", got, err)
	}
	if _, err := s.ParseState(state, now.Add(10*time.Minute)); !errors.Is(err, ErrExpired) {
		t.Errorf("expired state: %v", err)
	}
	link := s.Link(Link{Target: target, Expires: now.Add(time.Hour)})
	if _, err := s.ParseState(link, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a link accepted as a state: %v", err)
	}
	if _, err := s.ParseLink(state, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a state accepted as a link: %v", err)
	}
	state2, st2 := s.NewState(target, now.Add(10*time.Minute))
	if state2 == state || st2.ID == st.ID {
		t.Error("two states of one target are equal: they must be fresh")
	}
	if s.Nonce(st) == s.Nonce(st2) || s.Nonce(st) != s.Nonce(got) || len(s.Nonce(st)) < 20 {
		t.Errorf("nonces %q %q: want one per state, stable", s.Nonce(st), s.Nonce(st2))
	}
	if testSigner(t, 2).Nonce(st) == s.Nonce(st) {
		t.Error("the nonce does not depend on the key")
	}
}

func TestNewSignerNeedsAKey(t *testing.T) {
	if _, err := NewSigner(make([]byte, 16)); err == nil {
		t.Error("a 16-byte root key was accepted")
	}
}

// During a key rotation, links and states of the old key still verify; new ones use the new key.
func TestSignerRotation(t *testing.T) {
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	before, _ := NewSigner(oldKey)
	after, err := NewSigner(newKey, oldKey)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	l := Link{Target: Target{PortalID: 1, Account: 1, ContactID: 2}, Expires: now.Add(time.Hour)}
	if _, err := after.ParseLink(before.Link(l), now); err != nil {
		t.Errorf("an old key's link after the rotation: %v", err)
	}
	if _, err := before.ParseLink(after.Link(l), now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a new link signed with the old key: %v", err)
	}
	state, st := before.NewState(l.Target, now.Add(time.Minute))
	got, err := after.ParseState(state, now)
	if err != nil || after.Nonce(got) != before.Nonce(st) {
		t.Errorf("an old key's state after the rotation: %v, nonce %q vs %q", err, after.Nonce(got), before.Nonce(st))
	}
	if _, err := NewSigner(newKey, []byte("short")); err == nil {
		t.Error("a short old key was accepted")
	}
}
