package store

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/hubline/hubline/internal/codec"
)

// KeyFile is the file in the data directory where dev keeps the HUBLINE_SECRET_KEY it
// generated when none was set.
const KeyFile = "secret.key"

var (
	// ErrNoKey: a secret had to be stored or read but no HUBLINE_SECRET_KEY was given.
	ErrNoKey = errors.New("store: HUBLINE_SECRET_KEY is not set: hubline cannot store or read OAuth tokens and LINE channel secrets without it (make one with: openssl rand -base64 32)")
	// ErrWrongKey: the stored secrets were encrypted with another HUBLINE_SECRET_KEY.
	ErrWrongKey = errors.New("store: HUBLINE_SECRET_KEY is not the key the stored secrets were encrypted with")
)

// Keys encrypt secrets at rest with AES-256-GCM. Each ciphertext carries the key's ID, so a
// wrong key is reported as such, and is bound to its table, column and row by additional
// data, so a ciphertext copied into another row or column does not decrypt. Old keys
// (HUBLINE_SECRET_OLD_KEYS) only decrypt; Open re-encrypts what they opened (rotate.go).
type Keys struct {
	aead cipher.AEAD
	id   [4]byte
	old  map[[4]byte]cipher.AEAD
}

// ParseKeys parses HUBLINE_SECRET_KEY: base64 of 32 random bytes.
func ParseKeys(b64 string) (*Keys, error) {
	k, err := codec.ParseKey(strings.TrimSpace(b64))
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_SECRET_KEY: %w", err) // never echo the key
	}
	return newKeys(k)
}

func newKeys(k []byte) (*Keys, error) {
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_SECRET_KEY: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, fmt.Errorf("HUBLINE_SECRET_KEY: %w", err)
	}
	sum := sha256.Sum256(append([]byte("hubline secret key id\x00"), k...))
	ks := &Keys{aead: aead}
	copy(ks.id[:], sum[:])
	return ks, nil
}

// WithOld returns keys that also decrypt with the comma-separated base64 keys of list
// (HUBLINE_SECRET_OLD_KEYS), and still encrypt with k. An empty list returns k.
func (k *Keys) WithOld(list string) (*Keys, error) {
	if strings.TrimSpace(list) == "" {
		return k, nil
	}
	if k == nil {
		return nil, errors.New("HUBLINE_SECRET_OLD_KEYS needs HUBLINE_SECRET_KEY: old keys only decrypt, and the secrets they open are re-encrypted with it")
	}
	out := &Keys{aead: k.aead, id: k.id, old: map[[4]byte]cipher.AEAD{}}
	for old, aead := range k.old {
		out.old[old] = aead
	}
	for i, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		raw, err := codec.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("HUBLINE_SECRET_OLD_KEYS: key %d: %w", i+1, err) // never echo the key
		}
		o, err := newKeys(raw)
		if err != nil {
			return nil, err
		}
		if o.id != k.id {
			out.old[o.id] = o.aead
		}
	}
	return out, nil
}

// LoadKeys returns the keys from b64 (HUBLINE_SECRET_KEY) when set; otherwise those in
// dataDir/KeyFile when that file exists; otherwise, when generate is set (dev), it creates
// that file (mode 0600) with a new random key and logs so, once. Otherwise it returns nil:
// Open then works, but storing or reading a secret fails with ErrNoKey.
func LoadKeys(b64, dataDir string, generate bool, log *zap.Logger) (*Keys, error) {
	if strings.TrimSpace(b64) != "" {
		return ParseKeys(b64)
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	path := filepath.Join(dataDir, KeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		k, err := ParseKeys(string(b))
		if err != nil {
			return nil, fmt.Errorf("%s (the key dev generated): %w", path, err)
		}
		return k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("HUBLINE_SECRET_KEY unset and %s unreadable: %w", path, err)
	case !generate:
		return nil, nil
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("HUBLINE_DATA_DIR: %w", err)
	}
	// Written aside, then linked into place: a process starting at the same time sees either
	// no file or the whole key, and the first link wins.
	f, err := os.CreateTemp(dataDir, KeyFile+".*")
	if err != nil {
		return nil, fmt.Errorf("generate HUBLINE_SECRET_KEY: %w", err)
	}
	defer os.Remove(f.Name())
	_, err = f.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
	if err = errors.Join(err, f.Chmod(0o600), f.Sync(), f.Close()); err != nil {
		return nil, fmt.Errorf("generate HUBLINE_SECRET_KEY: %w", err)
	}
	if err := os.Link(f.Name(), path); errors.Is(err, fs.ErrExist) {
		return LoadKeys("", dataDir, false, log) // another process generated it first: use that one
	} else if err != nil {
		return nil, fmt.Errorf("generate HUBLINE_SECRET_KEY: %w", err)
	}
	if log != nil {
		log.Warn("HUBLINE_SECRET_KEY is not set: generated one to encrypt stored tokens and channel secrets; keep this file (and back it up with the database), or set HUBLINE_SECRET_KEY to its contents",
			zap.String("file", path))
	}
	return newKeys(raw)
}

// ciphertext format: "v1." + base64(key ID (4) | nonce (12) | sealed).
const cipherPrefix = "v1."

// aad names where a ciphertext lives: table, column and row key.
func aad(table, column string, row any) []byte {
	return fmt.Appendf(nil, "hubline/%s/%s/%v", table, column, row)
}

func (k *Keys) seal(plain string, ad []byte) (string, error) {
	if k == nil {
		return "", ErrNoKey
	}
	buf := make([]byte, 4+k.aead.NonceSize(), 4+k.aead.NonceSize()+len(plain)+k.aead.Overhead())
	copy(buf, k.id[:])
	if _, err := rand.Read(buf[4:]); err != nil {
		return "", err
	}
	buf = k.aead.Seal(buf, buf[4:], []byte(plain), ad)
	return cipherPrefix + base64.RawStdEncoding.EncodeToString(buf), nil
}

// sealedKeyID is the ID of the key a ciphertext was sealed with.
func sealedKeyID(stored string) ([4]byte, bool) {
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, cipherPrefix))
	if !strings.HasPrefix(stored, cipherPrefix) || err != nil || len(b) < 4 {
		return [4]byte{}, false
	}
	return [4]byte(b[:4]), true
}

// current reports whether stored was sealed with the key that encrypts.
func (k *Keys) current(stored string) bool {
	id, ok := sealedKeyID(stored)
	return ok && id == k.id
}

// knows reports whether one of the keys opens what was sealed under id.
func (k *Keys) knows(id [4]byte) bool {
	_, old := k.old[id]
	return id == k.id || old
}

func (k *Keys) open(stored string, ad []byte) (string, error) {
	if k == nil {
		return "", ErrNoKey
	}
	b, err := base64.RawStdEncoding.DecodeString(strings.TrimPrefix(stored, cipherPrefix))
	if !strings.HasPrefix(stored, cipherPrefix) || err != nil || len(b) < 4+k.aead.NonceSize()+k.aead.Overhead() {
		return "", fmt.Errorf("store: %s: not a hubline ciphertext", ad)
	}
	aead := k.aead
	if id := [4]byte(b[:4]); id != k.id {
		if aead = k.old[id]; aead == nil {
			return "", ErrWrongKey
		}
	}
	ns := aead.NonceSize()
	plain, err := aead.Open(nil, b[4:4+ns], b[4+ns:], ad)
	if err != nil {
		// Right key, so the value was altered or copied from another row or column.
		return "", fmt.Errorf("store: %s: ciphertext does not decrypt here (altered, or moved from another row)", ad)
	}
	return string(plain), nil
}
