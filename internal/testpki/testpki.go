// Package testpki makes throwaway certificate authorities and certificates for tests of TLS
// connections (the embedded Temporal server with mutual TLS), written as PEM files.
package testpki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// ServerName is a DNS name the server certificate carries besides localhost and 127.0.0.1.
const ServerName = "temporal.hubline.test"

// PKI is the files of one test: a CA with a server and a client certificate, and a second,
// unrelated CA with its own client certificate (what a wrong CA looks like).
type PKI struct {
	CA, ServerCert, ServerKey, ClientCert, ClientKey string
	OtherCA, OtherClientCert, OtherClientKey         string
}

// New writes a fresh PKI into t.TempDir().
func New(t testing.TB) *PKI {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	p := &PKI{}
	ca, caKey := newCA(t, "hubline test CA")
	p.CA = write("ca.pem", "CERTIFICATE", ca.Raw)
	other, otherKey := newCA(t, "some other CA")
	p.OtherCA = write("other-ca.pem", "CERTIFICATE", other.Raw)

	der, key := leaf(t, ca, caKey, "temporal frontend", x509.ExtKeyUsageServerAuth)
	p.ServerCert, p.ServerKey = write("server.pem", "CERTIFICATE", der), write("server-key.pem", "PRIVATE KEY", key)
	der, key = leaf(t, ca, caKey, "hubline", x509.ExtKeyUsageClientAuth)
	p.ClientCert, p.ClientKey = write("client.pem", "CERTIFICATE", der), write("client-key.pem", "PRIVATE KEY", key)
	der, key = leaf(t, other, otherKey, "hubline elsewhere", x509.ExtKeyUsageClientAuth)
	p.OtherClientCert, p.OtherClientKey = write("other-client.pem", "CERTIFICATE", der), write("other-client-key.pem", "PRIVATE KEY", key)
	return p
}

var serial int64

func template(cn string) *x509.Certificate {
	serial++
	return &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano() + serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
}

func newCA(t testing.TB, cn string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := template(cn)
	tpl.IsCA, tpl.BasicConstraintsValid = true, true
	tpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tpl, tpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

// leaf signs a certificate for localhost, 127.0.0.1 and ServerName; it returns the DER of
// the certificate and of its PKCS #8 key.
func leaf(t testing.TB, ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, usage x509.ExtKeyUsage) (cert, key []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tpl := template(cn)
	tpl.KeyUsage = x509.KeyUsageDigitalSignature
	tpl.ExtKeyUsage = []x509.ExtKeyUsage{usage}
	tpl.DNSNames = []string{"localhost", ServerName}
	tpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
	if cert, err = x509.CreateCertificate(rand.Reader, tpl, ca, &k.PublicKey, caKey); err != nil {
		t.Fatal(err)
	}
	if key, err = x509.MarshalPKCS8PrivateKey(k); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
