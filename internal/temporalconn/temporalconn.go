// Package temporalconn builds how the worker, starter and queue commands reach Temporal over
// TLS (a private CA, a client certificate for mutual TLS) or with an API key (Temporal Cloud),
// from the TEMPORAL_TLS_* and TEMPORAL_API_KEY settings, and explains failed connections in
// terms of those settings.
package temporalconn

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/hubline/hubline/internal/config"
)

// Apply sets o's ConnectionOptions.TLS and Credentials from s. It reads the files now, so a
// missing, unreadable or malformed one stops start-up with the setting's name rather than
// failing every call later. Without any setting it leaves o alone (plaintext, no key).
func Apply(o *client.Options, s config.TemporalConn) error {
	o.ConnectionOptions.GrpcCompression = Compression(o.HostPort, s.Compression)
	if !s.TLS() {
		return nil
	}
	tc, err := TLSConfig(s, time.Now())
	if err != nil {
		return err
	}
	o.ConnectionOptions.TLS = tc
	if s.APIKey != "" {
		o.Credentials = client.NewAPIKeyStaticCredentials(s.APIKey)
	}
	return nil
}

// TLSConfig is the client side of the TLS connection s describes; now dates the check for
// an expired client certificate.
func TLSConfig(s config.TemporalConn, now time.Time) (*tls.Config, error) {
	switch {
	case s.CertFile != "" && s.KeyFile == "":
		return nil, errors.New("TEMPORAL_TLS_CERT needs TEMPORAL_TLS_KEY (the client certificate's private key)")
	case s.KeyFile != "" && s.CertFile == "":
		return nil, errors.New("TEMPORAL_TLS_KEY needs TEMPORAL_TLS_CERT (the client certificate it belongs to)")
	}
	// ServerName empty: gRPC verifies the host of TEMPORAL_ADDRESS.
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.ServerName}
	if s.CAFile != "" {
		b, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("TEMPORAL_TLS_CA: %s holds no PEM certificate (want -----BEGIN CERTIFICATE-----)", s.CAFile)
		}
		tc.RootCAs = pool
	} // else nil RootCAs: the system's roots, as for Temporal Cloud.
	if s.CertFile != "" {
		certPEM, err := os.ReadFile(s.CertFile)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CERT: %w", err)
		}
		keyPEM, err := os.ReadFile(s.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_KEY: %w", err)
		}
		// crypto/tls's errors describe the PEM blocks, never their contents.
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY (%s, %s): %w", s.CertFile, s.KeyFile, err)
		}
		if now.After(cert.Leaf.NotAfter) {
			return nil, fmt.Errorf("TEMPORAL_TLS_CERT: the certificate in %s expired on %s: renew it", s.CertFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// Describe says how the connection is secured, for the start-up log (no secrets).
func Describe(s config.TemporalConn) string {
	if !s.TLS() {
		return "plaintext"
	}
	var parts []string
	if s.CAFile != "" {
		parts = append(parts, "TLS (server verified with TEMPORAL_TLS_CA)")
	} else {
		parts = append(parts, "TLS (server verified with the system's roots)")
	}
	if s.CertFile != "" {
		parts = append(parts, "client certificate")
	}
	if s.APIKey != "" {
		parts = append(parts, "API key")
	}
	return strings.Join(parts, ", ")
}

// Explain adds to a failed dial's error which setting to check. gRPC reports TLS failures
// as text only, so the hint is chosen from the message; an unknown failure gets none.
func Explain(err error, s config.TemporalConn) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	has := func(subs ...string) bool {
		for _, sub := range subs {
			if strings.Contains(msg, sub) {
				return true
			}
		}
		return false
	}
	var hint string
	switch {
	case has("certificate signed by unknown authority"):
		if s.CAFile != "" {
			hint = "the server's certificate is not signed by a CA in TEMPORAL_TLS_CA"
		} else {
			hint = "the server's certificate is not signed by a CA the system trusts: set TEMPORAL_TLS_CA to the CA that signed it"
		}
	case has("certificate is valid for", "certificate is not valid for"):
		hint = "the server's certificate does not name the host of TEMPORAL_ADDRESS: set TEMPORAL_TLS_SERVER_NAME to a name it carries"
	case has("certificate has expired", "not yet valid"):
		hint = "the server's certificate is expired or not yet valid (check the clocks)"
	case s.CertFile == "" && has("certificate required", "bad certificate", "handshake failure"):
		hint = "the server requires a client certificate: set TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"
	case s.CertFile != "" && has("certificate required", "bad certificate", "unknown certificate authority", "unknown certificate", "certificate revoked", "expired certificate"):
		// Go sends no certificate at all when the server names CAs that did not sign it.
		hint = "the server refused the client certificate in TEMPORAL_TLS_CERT (is it signed by a CA the server trusts?)"
	case s.TLS() && has("broken pipe", "connection reset", "EOF"):
		// With TLS 1.3 the server checks the client certificate after the handshake, so a
		// refusal often arrives as a closed connection rather than as an alert.
		if s.CertFile != "" {
			hint = "the server closed the TLS connection: it may have refused the client certificate in TEMPORAL_TLS_CERT (is it signed by a CA the server trusts?)"
		} else {
			hint = "the server closed the TLS connection: it may require a client certificate (TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY)"
		}
	case has("first record does not look like a TLS handshake"):
		hint = "the server does not speak TLS at this address: unset TEMPORAL_TLS_* and TEMPORAL_API_KEY, or use its TLS port"
	case !s.TLS() && has("server preface", "connection reset", "EOF"):
		hint = "the server may require TLS: set TEMPORAL_TLS_CA (and TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY for mutual TLS) or TEMPORAL_API_KEY"
	case has("Unauthenticated", "PermissionDenied", "Request unauthorized", "unauthorized"):
		if s.APIKey != "" {
			hint = "the server refused the credentials: check TEMPORAL_API_KEY (and that it may use TEMPORAL_NAMESPACE)"
		} else {
			hint = "the server refused the request: it may need TEMPORAL_API_KEY or a client certificate (TEMPORAL_TLS_CERT)"
		}
	}
	if hint == "" {
		return err
	}
	return fmt.Errorf("%w (%s)", err, hint)
}

// Compression is the gRPC compression for calls to hostPort: setting "gzip" or "none" as
// given; "auto" (or empty) leaves loopback calls uncompressed, since compressing them only
// spends CPU on both ends (the benchmark's profiles showed gzip as a tenth of the worker's and
// the server's CPU), and compresses the rest, whose bytes cross a network.
func Compression(hostPort, setting string) client.GrpcCompression {
	switch setting {
	case "gzip":
		return &client.GrpcCompressionGzip{}
	case "none":
		return &client.GrpcCompressionNone{}
	}
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return &client.GrpcCompressionNone{}
	}
	return &client.GrpcCompressionGzip{}
}
