package temporalconn

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporal"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/testpki"
)

// TestTLSConfigSettings: every setting error stops start-up naming the variable, and never
// echoes a key.
func TestTLSConfigSettings(t *testing.T) {
	p := testpki.New(t)
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	for _, c := range []struct {
		name    string
		s       config.TemporalConn
		wantErr string // empty: valid
	}{
		{"mutual TLS", config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CA}, ""},
		{"CA only", config.TemporalConn{CAFile: p.CA}, ""},
		{"server name only", config.TemporalConn{ServerName: "x.example"}, ""},
		{"API key only", config.TemporalConn{APIKey: "k"}, ""},
		{"cert without key", config.TemporalConn{CertFile: p.ClientCert}, "TEMPORAL_TLS_CERT needs TEMPORAL_TLS_KEY"},
		{"key without cert", config.TemporalConn{KeyFile: p.ClientKey}, "TEMPORAL_TLS_KEY needs TEMPORAL_TLS_CERT"},
		{"missing CA", config.TemporalConn{CAFile: missing}, "TEMPORAL_TLS_CA: open " + missing},
		{"CA not PEM", config.TemporalConn{CAFile: garbage}, "TEMPORAL_TLS_CA: " + garbage + " holds no PEM certificate"},
		{"missing cert", config.TemporalConn{CertFile: missing, KeyFile: p.ClientKey}, "TEMPORAL_TLS_CERT: open " + missing},
		{"missing key", config.TemporalConn{CertFile: p.ClientCert, KeyFile: missing}, "TEMPORAL_TLS_KEY: open " + missing},
		{"key of another certificate", config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.OtherClientKey}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"},
		{"cert not PEM", config.TemporalConn{CertFile: garbage, KeyFile: p.ClientKey}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tc, err := TLSConfig(c.s, time.Now())
			if c.wantErr == "" {
				if err != nil || tc == nil {
					t.Fatalf("TLSConfig: %v", err)
				}
				if tc.ServerName != c.s.ServerName || (c.s.CAFile != "") != (tc.RootCAs != nil) || (c.s.CertFile != "") != (len(tc.Certificates) == 1) {
					t.Errorf("TLSConfig = %+v for %+v", tc, c.s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, c.wantErr)
			}
			key, _ := os.ReadFile(p.ClientKey)
			if strings.Contains(err.Error(), strings.Split(string(key), "\n")[1]) {
				t.Errorf("error echoes the private key: %v", err)
			}
		})
	}
	if _, err := TLSConfig(config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey}, time.Now().Add(48*time.Hour)); err == nil ||
		!strings.Contains(err.Error(), "TEMPORAL_TLS_CERT: the certificate in "+p.ClientCert+" expired") {
		t.Errorf("an expired client certificate: %v", err)
	}
}

func TestApply(t *testing.T) {
	var o client.Options
	if err := Apply(&o, config.TemporalConn{}); err != nil || o.ConnectionOptions.TLS != nil || o.Credentials != nil {
		t.Fatalf("no settings: TLS %v, credentials %v, err %v", o.ConnectionOptions.TLS, o.Credentials, err)
	}
	// An API key alone turns TLS on with the system's roots (nil RootCAs), as Temporal Cloud needs.
	if err := Apply(&o, config.TemporalConn{APIKey: "secret-key"}); err != nil || o.ConnectionOptions.TLS == nil ||
		o.ConnectionOptions.TLS.RootCAs != nil || o.Credentials == nil {
		t.Fatalf("API key: TLS %+v, credentials %v, err %v", o.ConnectionOptions.TLS, o.Credentials, err)
	}
	if d := Describe(config.TemporalConn{APIKey: "secret-key"}); strings.Contains(d, "secret-key") || !strings.Contains(d, "API key") {
		t.Errorf("Describe = %q", d)
	}
}

// TestConnectMutualTLS dials the embedded Temporal server serving mutual TLS the way the
// worker, starter and queue commands do.
func TestConnectMutualTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal server")
	}
	p := testpki.New(t)
	var mu sync.Mutex
	var auth []string
	record := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			mu.Lock()
			auth = append(auth, md.Get("authorization")...)
			mu.Unlock()
		}
		return h(ctx, req)
	}
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	srv, err := devserver.Start(context.Background(), devserver.Config{
		Address: addr,
		TLS: &devserver.TLS{CertFile: p.ServerCert, KeyFile: p.ServerKey, ClientCAFile: p.CA,
			CAFile: p.CA, ServerName: testpki.ServerName, ClientCertFile: p.ClientCert, ClientKeyFile: p.ClientKey},
		ServerOptions: []temporal.ServerOption{temporal.WithChainedFrontendGrpcInterceptors(record)},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	dial := func(s config.TemporalConn) error {
		o := client.Options{HostPort: addr, Namespace: "default"}
		if err := Apply(&o, s); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := client.DialContext(ctx, o)
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
		}
		return Explain(err, s)
	}
	good := config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CA, APIKey: "the-api-key"}
	if err := dial(good); err != nil {
		t.Fatalf("with the right client certificate: %v", err)
	}
	mu.Lock()
	sent := strings.Join(auth, " ")
	mu.Unlock()
	if !strings.Contains(sent, "Bearer the-api-key") {
		t.Errorf("TEMPORAL_API_KEY was not sent: authorization headers %q", sent)
	}
	named := good
	named.ServerName = testpki.ServerName
	if err := dial(named); err != nil {
		t.Fatalf("with TEMPORAL_TLS_SERVER_NAME: %v", err)
	}
	for _, c := range []struct {
		name string
		s    config.TemporalConn
		want string
	}{
		// The server's refusal arrives as an alert or, racing it, as a closed connection.
		{"no client certificate", config.TemporalConn{CAFile: p.CA}, "TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"},
		{"client certificate of another CA", config.TemporalConn{CertFile: p.OtherClientCert, KeyFile: p.OtherClientKey, CAFile: p.CA},
			"refused the client certificate in TEMPORAL_TLS_CERT"},
		{"wrong CA", config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.OtherCA}, "not signed by a CA in TEMPORAL_TLS_CA"},
		{"system roots", config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey}, "set TEMPORAL_TLS_CA"},
		{"wrong server name", config.TemporalConn{CertFile: p.ClientCert, KeyFile: p.ClientKey, CAFile: p.CA, ServerName: "elsewhere.test"},
			"set TEMPORAL_TLS_SERVER_NAME"},
		{"plaintext", config.TemporalConn{}, "the server may require TLS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := dial(c.s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}

// TestCompression: auto compresses only calls that leave the machine; gzip and none win.
func TestCompression(t *testing.T) {
	none, gz := &client.GrpcCompressionNone{}, &client.GrpcCompressionGzip{}
	for _, tc := range []struct {
		hostPort, setting string
		want              client.GrpcCompression
	}{
		{"127.0.0.1:7233", "", none},
		{"127.0.0.1:7233", "auto", none},
		{"localhost:7233", "auto", none},
		{"[::1]:7233", "auto", none},
		{"127.0.0.2:7233", "auto", none},
		{"temporal:7233", "auto", gz},
		{"ns.tmprl.cloud:7233", "", gz},
		{"10.0.0.5:7233", "auto", gz},
		{"127.0.0.1:7233", "gzip", gz},
		{"temporal:7233", "none", none},
	} {
		if got := Compression(tc.hostPort, tc.setting); fmt.Sprintf("%T", got) != fmt.Sprintf("%T", tc.want) {
			t.Errorf("Compression(%q, %q) = %T, want %T", tc.hostPort, tc.setting, got, tc.want)
		}
	}
	o := client.Options{HostPort: "127.0.0.1:7233"}
	if err := Apply(&o, config.TemporalConn{}); err != nil {
		t.Fatal(err)
	}
	if _, ok := o.ConnectionOptions.GrpcCompression.(*client.GrpcCompressionNone); !ok {
		t.Errorf("Apply left %T for a loopback address, want none", o.ConnectionOptions.GrpcCompression)
	}
}
