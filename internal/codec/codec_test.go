package codec

import (
	"bytes"
	"crypto/rand"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func newCodec(t *testing.T) *AESGCM {
	t.Helper()
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	c, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRoundTripHidesContent(t *testing.T) {
	c := newCodec(t)
	dc := c.DataConverter()
	p, err := dc.ToPayload(map[string]string{"text": "Hello Aiko", "to": "U4af4980629aaaaaaaaaaaaaaaaaaaaaa"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.GetData(), []byte("Aiko")) || string(p.GetMetadata()["encoding"]) != Encoding {
		t.Fatalf("payload not encrypted: %s", p)
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["text"] != "Hello Aiko" {
		t.Fatalf("round trip: %v %v", back, err)
	}
}

func TestTamperedWrongKeyAndPlainPayloads(t *testing.T) {
	c, other := newCodec(t), newCodec(t)
	plain, _ := converter.GetDefaultDataConverter().ToPayload("clear")
	ps, err := c.Encode(nil)
	if err != nil || len(ps) != 0 {
		t.Fatal("empty encode")
	}
	encoded, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	// Plain payloads (histories from before encryption) pass through.
	if out, err := c.Decode([]*commonpb.Payload{plain}); err != nil || out[0] != plain {
		t.Fatalf("plain payload: %v", err)
	}
	if _, err := other.Decode(encoded); err == nil || !strings.Contains(err.Error(), "HUBLINE_PAYLOAD_KEY") {
		t.Fatalf("wrong key: %v", err)
	}
	encoded[0].Data[len(encoded[0].Data)-1] ^= 1
	if _, err := c.Decode(encoded); err == nil {
		t.Fatal("tampered payload decoded")
	}
}

func TestParseKey(t *testing.T) {
	if _, err := ParseKey("bm90IDMyIGJ5dGVz"); err == nil {
		t.Fatal("short key accepted")
	}
	if _, err := ParseKey("***"); err == nil {
		t.Fatal("non-base64 accepted")
	}
	if k, err := ParseKey("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="); err != nil || len(k) != 32 {
		t.Fatalf("valid key: %v", err)
	}
}

// TestKeyRotation: payloads written under an old key decrypt once it is in the old keys
// (HUBLINE_PAYLOAD_OLD_KEYS), and new payloads use the current key.
func TestKeyRotation(t *testing.T) {
	keyA, keyB := make([]byte, 32), make([]byte, 32)
	rand.Read(keyA)
	rand.Read(keyB)
	a, _ := New(keyA)
	b, _ := New(keyB)
	rotated, err := New(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID() != b.KeyID() || len(rotated.OldKeyIDs()) != 1 || rotated.OldKeyIDs()[0] != a.KeyID() {
		t.Fatalf("key IDs: current %s old %v; want %s and [%s]", rotated.KeyID(), rotated.OldKeyIDs(), b.KeyID(), a.KeyID())
	}
	plain, _ := converter.GetDefaultDataConverter().ToPayload("Hello Aiko")
	underA, err := a.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Decode(underA); err == nil || !strings.Contains(err.Error(), "HUBLINE_PAYLOAD_OLD_KEYS") {
		t.Fatalf("new key alone on an old payload: %v", err)
	}
	if out, err := rotated.Decode(underA); err != nil || string(out[0].GetData()) != string(plain.GetData()) {
		t.Fatalf("payload under A with B + old A: %v", err)
	}
	underB, err := rotated.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if id := string(underB[0].GetMetadata()[metaKeyID]); id != b.KeyID() {
		t.Fatalf("rotated codec encrypts with key %s, want the current key %s", id, b.KeyID())
	}
	if _, err := a.Decode(underB); err == nil {
		t.Fatal("the old key alone decrypted a payload written under the new one")
	}
	// A payload that does not name its key is tried with each key.
	unnamed := &commonpb.Payload{Metadata: map[string][]byte{metaEncKey: []byte(Encoding)}, Data: underA[0].GetData()}
	if out, err := rotated.Decode([]*commonpb.Payload{unnamed}); err != nil || string(out[0].GetData()) != string(plain.GetData()) {
		t.Fatalf("payload without a key ID: %v", err)
	}
	if _, err := b.Decode([]*commonpb.Payload{unnamed}); err == nil {
		t.Fatal("payload without a key ID decrypted with a key it was not sealed with")
	}
}
