package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/hubline/hubline/internal/codec"
)

// TemporalConn is how the worker, starter and queue reach Temporal beyond TEMPORAL_ADDRESS:
// TLS and an API key. Load checks the combination; the files are read where the connection is
// built (internal/temporalconn), at start-up, before anything dials.
type TemporalConn struct {
	CertFile   string // TEMPORAL_TLS_CERT: client certificate (mTLS)
	KeyFile    string // TEMPORAL_TLS_KEY: its private key
	CAFile     string // TEMPORAL_TLS_CA: CAs for the server's certificate; empty: system roots
	ServerName string // TEMPORAL_TLS_SERVER_NAME; empty: TEMPORAL_ADDRESS's host
	APIKey     string // TEMPORAL_API_KEY
	// Compression is TEMPORAL_GRPC_COMPRESSION: "auto" (or empty), "gzip" or "none".
	Compression string
}

// TLS reports whether the connection uses TLS: any TLS setting does, and so does an API key,
// which Temporal Cloud accepts only over TLS (and which must not cross the network in clear).
func (t TemporalConn) TLS() bool {
	return t.CertFile != "" || t.KeyFile != "" || t.CAFile != "" || t.ServerName != "" || t.APIKey != ""
}

func (c *Config) loadTemporalConn(get func(string) string) []error {
	c.Temporal = TemporalConn{
		CertFile: get("TEMPORAL_TLS_CERT"), KeyFile: get("TEMPORAL_TLS_KEY"), CAFile: get("TEMPORAL_TLS_CA"),
		ServerName: get("TEMPORAL_TLS_SERVER_NAME"), APIKey: get("TEMPORAL_API_KEY"),
		Compression: strings.ToLower(get("TEMPORAL_GRPC_COMPRESSION")),
	}
	switch t := c.Temporal; {
	case t.Compression != "" && t.Compression != "auto" && t.Compression != "gzip" && t.Compression != "none":
		return []error{fmt.Errorf("TEMPORAL_GRPC_COMPRESSION=%q: want auto, gzip or none", t.Compression)}
	case t.CertFile != "" && t.KeyFile == "":
		return []error{errors.New("TEMPORAL_TLS_CERT needs TEMPORAL_TLS_KEY (the client certificate's private key)")}
	case t.KeyFile != "" && t.CertFile == "":
		return []error{errors.New("TEMPORAL_TLS_KEY needs TEMPORAL_TLS_CERT (the client certificate it belongs to)")}
	}
	return nil
}

// loadOldKeys reads the keys that still decrypt but no longer encrypt: HUBLINE_PAYLOAD_OLD_KEYS
// and HUBLINE_SECRET_OLD_KEYS (see docs/operations.md for rotating). Errors never echo a key.
func (c *Config) loadOldKeys(get func(string) string) []error {
	var errs []error
	if v := get("HUBLINE_PAYLOAD_OLD_KEYS"); v != "" {
		keys, err := ParseKeyList(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("HUBLINE_PAYLOAD_OLD_KEYS: %w", err))
		} else if get("HUBLINE_PAYLOAD_KEY") == "" {
			errs = append(errs, errors.New("HUBLINE_PAYLOAD_OLD_KEYS needs HUBLINE_PAYLOAD_KEY: old keys only decrypt, new payloads need a key to encrypt with"))
		}
		c.PayloadOldKeys = keys
	}
	if v := get("HUBLINE_SECRET_OLD_KEYS"); v != "" {
		if _, err := ParseKeyList(v); err != nil {
			errs = append(errs, fmt.Errorf("HUBLINE_SECRET_OLD_KEYS: %w", err))
		}
		c.SecretOldKeys = v
	}
	return errs
}

// ParseKeyList parses comma-separated base64 32-byte keys (HUBLINE_PAYLOAD_OLD_KEYS,
// HUBLINE_SECRET_OLD_KEYS); an error names the key by position, never by value.
func ParseKeyList(list string) ([][]byte, error) {
	var keys [][]byte
	for i, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		k, err := codec.ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("key %d: %w", i+1, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}
