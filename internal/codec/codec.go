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

// AESGCM is a converter.PayloadCodec.
type AESGCM struct {
	aead  cipher.AEAD
	keyID string
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

// New builds the codec. The key ID (a hash prefix, not the key) is stored with each payload
// so a wrong key is reported as such rather than as corruption.
func New(key []byte) (*AESGCM, error) {
	if len(key) != keyByteSize {
		return nil, fmt.Errorf("payload key must be %d bytes", keyByteSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(append([]byte("hubline-key-id:"), key...))
	return &AESGCM{aead: aead, keyID: hex.EncodeToString(sum[:6])}, nil
}

// KeyID identifies the key without revealing it.
func (c *AESGCM) KeyID() string { return c.keyID }

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
		if id := string(p.GetMetadata()[metaKeyID]); id != c.keyID {
			return nil, fmt.Errorf("payload encrypted with key %s, this process has key %s (HUBLINE_PAYLOAD_KEY)", id, c.keyID)
		}
		data := p.GetData()
		n := c.aead.NonceSize()
		if len(data) < n {
			return nil, errors.New("encrypted payload too short")
		}
		plain, err := c.aead.Open(nil, data[:n], data[n:], []byte(c.keyID))
		if err != nil {
			return nil, fmt.Errorf("decrypt payload: %w", err)
		}
		var dp commonpb.Payload
		if err := proto.Unmarshal(plain, &dp); err != nil {
			return nil, fmt.Errorf("decode decrypted payload: %w", err)
		}
		out[i] = &dp
	}
	return out, nil
}

// DataConverter wraps the SDK's default converter with this codec.
func (c *AESGCM) DataConverter() converter.DataConverter {
	return converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), c)
}
