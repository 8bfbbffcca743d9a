// Package codec encrypts Temporal payloads (workflow inputs, results, activity arguments)
// with AES-256-GCM before they leave the process, so message texts, LINE user IDs and Send
// Data secrets are not stored in clear in Temporal's database. Search attributes are not
// payloads and stay clear: hubline never puts personal data in them.
package codec

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/proto"
)

const (
	// Encoding marks an encrypted payload; anything else passes through, so histories
	// written before encryption was turned on still decode.
	Encoding    = "binary/encrypted"
	metaKeyID   = "encryption-key-id"
	metaEncKey  = "encoding"
	keyByteSize = 32
)

// AESGCM is a converter.PayloadCodec. It encrypts with one key and decrypts with that key
// or any older one it was given, chosen by the key ID each payload carries, so keys rotate
// without making recorded histories unreadable.
type AESGCM struct {
	aead  cipher.AEAD
	keyID string
	// keys decrypt: every key by its ID, the current one included.
	keys map[string]cipher.AEAD
	// order is the IDs of keys, current first.
	order []string
}

// ParseKey decodes a base64 (standard or URL) 32-byte key, as HUBLINE_PAYLOAD_KEY holds it.
func ParseKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != keyByteSize {
				return nil, fmt.Errorf("want %d bytes of key, got %d (make one with: openssl rand -base64 32)", keyByteSize, len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("not base64 (make a key with: openssl rand -base64 32)")
}

// New builds the codec: key (HUBLINE_PAYLOAD_KEY) encrypts; it and the old keys
// (HUBLINE_PAYLOAD_OLD_KEYS) decrypt. The key ID (a hash prefix, not the key) is stored with
// each payload, so the right key is found at once and a missing one is reported as such
// rather than as corruption.
func New(key []byte, old ...[]byte) (*AESGCM, error) {
	c := &AESGCM{keys: map[string]cipher.AEAD{}}
	for i, k := range append([][]byte{key}, old...) {
		if len(k) != keyByteSize {
			return nil, fmt.Errorf("payload key must be %d bytes", keyByteSize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(append([]byte("hubline-key-id:"), k...))
		id := hex.EncodeToString(sum[:6])
		if i == 0 {
			c.aead, c.keyID = aead, id
		}
		if _, dup := c.keys[id]; !dup {
			c.keys[id] = aead
			c.order = append(c.order, id)
		}
	}
	return c, nil
}

// KeyID identifies the key that encrypts without revealing it.
func (c *AESGCM) KeyID() string { return c.keyID }

// OldKeyIDs identifies the keys that only decrypt.
func (c *AESGCM) OldKeyIDs() []string { return append([]string(nil), c.order[1:]...) }

// Encode encrypts each payload whole (metadata included).
func (c *AESGCM) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(ps))
	for i, p := range ps {
		plain, err := proto.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		nonce := make([]byte, c.aead.NonceSize())
		if _, err := rand.Read(nonce); err != nil {
			return nil, fmt.Errorf("encode payload: %w", err)
		}
		out[i] = &commonpb.Payload{
			Metadata: map[string][]byte{metaEncKey: []byte(Encoding), metaKeyID: []byte(c.keyID)},
			Data:     c.aead.Seal(nonce, nonce, plain, []byte(c.keyID)),
		}
	}
	return out, nil
}

// Decode decrypts payloads this codec encrypted and passes others through.
func (c *AESGCM) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(ps))
	for i, p := range ps {
		if string(p.GetMetadata()[metaEncKey]) != Encoding {
			out[i] = p
			continue
		}
		plain, err := c.open(string(p.GetMetadata()[metaKeyID]), p.GetData())
		if err != nil {
			return nil, err
		}
		var dp commonpb.Payload
		if err := proto.Unmarshal(plain, &dp); err != nil {
			return nil, fmt.Errorf("decode decrypted payload: %w", err)
		}
		out[i] = &dp
	}
	return out, nil
}

// open decrypts data sealed under the key with ID id (bound to it as additional data).
func (c *AESGCM) open(id string, data []byte) ([]byte, error) {
	ids := []string{id}
	if id == "" {
		// Every payload hubline wrote names its key; should one not, try each key in turn
		// (GCM authenticates, so a wrong key fails cleanly).
		ids = c.order
	}
	for _, id := range ids {
		aead, ok := c.keys[id]
		if !ok {
			return nil, fmt.Errorf("payload encrypted with key %s, which is neither HUBLINE_PAYLOAD_KEY (key %s) nor in HUBLINE_PAYLOAD_OLD_KEYS: add that key to HUBLINE_PAYLOAD_OLD_KEYS", id, c.keyID)
		}
		n := aead.NonceSize()
		if len(data) < n {
			return nil, errors.New("encrypted payload too short")
		}
		plain, err := aead.Open(nil, data[:n], data[n:], []byte(id))
		if err == nil {
			return plain, nil
		}
		if len(ids) == 1 {
			return nil, fmt.Errorf("decrypt payload: %w", err)
		}
	}
	return nil, errors.New("decrypt payload: no key in HUBLINE_PAYLOAD_KEY or HUBLINE_PAYLOAD_OLD_KEYS opens it")
}

// DataConverter wraps the SDK's default converter with this codec.
func (c *AESGCM) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
