// Package devserver runs a complete Temporal service inside the hubline process: the server on
// SQLite (a file, so history survives restarts, or memory) or, for the test of the compose
// stack's setup, on PostgreSQL, and optionally the Temporal Web UI. It exists for `hubline dev`,
// the benchmark and tests; production uses a real Temporal cluster.
package devserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"database/sql"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/cluster"
	"go.temporal.io/server/common/config"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	postgresplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/postgresql"
	sqliteplugin "go.temporal.io/server/common/persistence/sql/sqlplugin/sqlite"
	"go.temporal.io/server/schema/sqlite"
	"go.temporal.io/server/temporal"
	"go.uber.org/zap"
	"google.golang.org/protobuf/types/known/durationpb"
	_ "modernc.org/sqlite" // registers the "sqlite" driver the server's plugin also uses

	uiserver "github.com/temporalio/ui-server/v2/server"
	uiconfig "github.com/temporalio/ui-server/v2/server/config"
	"github.com/temporalio/ui-server/v2/server/server_options"
)

// Config says where and how the embedded server runs.
type Config struct {
	// Address is host:port of the frontend (gRPC) service.
	Address string
	// DatabaseFile is the SQLite file; empty means in memory (state lost on exit).
	DatabaseFile string
	// Namespace is created on first start with Retention and SearchAttributes.
	Namespace        string
	Retention        time.Duration
	SearchAttributes map[string]enumspb.IndexedValueType
	// UIAddress is host:port of the Web UI; empty disables it.
	UIAddress string
	// UICodecEndpoint, when set, is where the UI's browser code decodes encrypted payloads.
	UICodecEndpoint string
	// Logger receives the server's own logs (warnings and errors only: it is chatty).
	Logger *zap.Logger
	// TLS, when set, serves the frontend over TLS only (tests of hubline's TEMPORAL_TLS_*
	// settings); the UI is then refused.
	TLS *TLS
	// ServerOptions are passed to temporal.NewServer after hubline's own (tests add
	// interceptors with them).
	ServerOptions []temporal.ServerOption
	// PostgreSQL, when set, keeps the server's data in PostgreSQL instead of SQLite
	// (DatabaseFile is then ignored), as the compose stack's server does. Its schemas must
	// already be set up (temporal-sql-tool), and Start creates no namespace and no search
	// attributes: the operator API does, as the compose setup job does.
	PostgreSQL *PostgreSQL
}

// PostgreSQL is where a server on PostgreSQL keeps its data, through the server's postgres12
// plugin (the temporalio/server image's DB=postgres12).
type PostgreSQL struct {
	Host               string
	Port               int
	User, Password     string
	Database           string // DBNAME: history, executions, namespaces
	VisibilityDatabase string // VISIBILITY_DBNAME
	NumHistoryShards   int32  // NUM_HISTORY_SHARDS, fixed when the database is first used
}

// TLS is the frontend's TLS. With ClientCAFile it requires client certificates signed by
// that CA (mutual TLS). The server's own clients (its system worker, Start's readiness
// checks) present ClientCertFile and verify the frontend with CAFile and ServerName.
type TLS struct {
	CertFile, KeyFile             string // the frontend's certificate
	ClientCAFile                  string // set: mutual TLS with client certificates it signed
	CAFile, ServerName            string // how the server's own clients verify the frontend
	ClientCertFile, ClientKeyFile string // what they present
}

// Server is a running embedded Temporal service.
type Server struct {
	cfg    Config
	level  zap.AtomicLevel // of the server's own logs
	server temporal.Server
	ui     *uiserver.Server
	uiDone chan struct{}
}

// Start launches the server and waits until its frontend answers.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	if cfg.Namespace == "" {
		cfg.Namespace = "default"
	}
	if cfg.Retention == 0 {
		cfg.Retention = 7 * 24 * time.Hour
	}
	host, portStr, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		return nil, fmt.Errorf("temporal address %q: %w", cfg.Address, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 {
		return nil, fmt.Errorf("temporal address %q: the port must be a number above 0", cfg.Address)
	}
	// Fail early with a clear message rather than deep inside the server's fx graph.
	if err := checkFree(cfg.Address); err != nil {
		return nil, fmt.Errorf("temporal address %s is in use (set TEMPORAL_ADDRESS to another port): %w", cfg.Address, err)
	}
	if cfg.UIAddress != "" && cfg.TLS != nil {
		return nil, errors.New("devserver: the UI does not connect to a TLS frontend")
	}
	if cfg.UIAddress != "" {
		if err := checkFree(cfg.UIAddress); err != nil {
			return nil, fmt.Errorf("UI address %s is in use (set HUBLINE_UI_ADDR to another port): %w", cfg.UIAddress, err)
		}
	}

	if pg := cfg.PostgreSQL; pg != nil {
		return startPostgreSQL(ctx, cfg, host, port, pg)
	}
	sqlCfg := config.SQL{
		PluginName:        sqliteplugin.PluginName,
		ConnectAttributes: map[string]string{},
		DatabaseName:      cfg.DatabaseFile,
	}
	if cfg.DatabaseFile == "" {
		sqlCfg.ConnectAttributes["mode"] = "memory"
		sqlCfg.ConnectAttributes["cache"] = "shared"
		sqlCfg.DatabaseName = fmt.Sprintf("hubline-%d", time.Now().UnixNano())
	} else {
		sqlCfg.ConnectAttributes["mode"] = "rwc"
		// WAL keeps readers (the UI) from blocking the single writer.
		sqlCfg.ConnectAttributes["_journal_mode"] = "wal"
		sqlCfg.ConnectAttributes["_synchronous"] = "2"
		if err := os.MkdirAll(filepath.Dir(cfg.DatabaseFile), 0o755); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
		if _, err := os.Stat(cfg.DatabaseFile); errors.Is(err, os.ErrNotExist) {
			if err := sqlite.SetupSchema(&sqlCfg); err != nil {
				return nil, fmt.Errorf("set up SQLite schema in %s: %w", cfg.DatabaseFile, err)
			}
		} else if err := forgetMembers(ctx, cfg.DatabaseFile); err != nil {
			return nil, err
		}
	}
	// In memory (mode=memory), the SQLite plugin creates the schema itself on first connect;
	// setting it up here as well fails with "table namespaces already exists".

	serverCfg, err := serverConfig(host, port, freePort, config.Persistence{
		DefaultStore:     sqliteplugin.PluginName,
		VisibilityStore:  sqliteplugin.PluginName,
		NumHistoryShards: 1,
		DataStores:       map[string]config.DataStore{sqliteplugin.PluginName: {SQL: &sqlCfg}},
	})
	if err != nil {
		return nil, err
	}
	// Pre-creating the namespace in the database avoids waiting for the namespace cache
	// to pick up an API registration; an existing namespace is left untouched.
	ns, err := sqlite.NewNamespaceConfig(serverCfg.ClusterMetadata.CurrentClusterName, cfg.Namespace, false, cfg.SearchAttributes)
	if err != nil {
		return nil, fmt.Errorf("namespace %s: %w", cfg.Namespace, err)
	}
	ns.Detail.Config.Retention = durationpb.New(cfg.Retention)
	if err := sqlite.CreateNamespaces(&sqlCfg, ns); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", cfg.Namespace, err)
	}

	return start(ctx, cfg, serverCfg)
}

// startPostgreSQL starts a server whose data lives in pg's databases.
func startPostgreSQL(ctx context.Context, cfg Config, host string, port int, pg *PostgreSQL) (*Server, error) {
	if pg.NumHistoryShards <= 0 {
		return nil, errors.New("devserver: PostgreSQL.NumHistoryShards must be above 0")
	}
	store := func(db string) *config.SQL {
		return &config.SQL{
			PluginName:      postgresplugin.PluginName,
			DatabaseName:    db,
			ConnectAddr:     net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)),
			ConnectProtocol: "tcp",
			User:            pg.User,
			Password:        pg.Password,
			// The temporalio/server image's defaults (SQL_MAX_CONNS, SQL_MAX_IDLE_CONNS).
			MaxConns:        20,
			MaxIdleConns:    20,
			MaxConnLifetime: time.Hour,
		}
	}
	// PostgreSQL's schema keeps membership ports in a smallint: below the kernel's ephemeral range.
	serverCfg, err := serverConfig(host, port, smallFreePort, config.Persistence{
		DefaultStore:     "default",
		VisibilityStore:  "visibility",
		NumHistoryShards: pg.NumHistoryShards,
		DataStores: map[string]config.DataStore{
			"default":    {SQL: store(pg.Database)},
			"visibility": {SQL: store(pg.VisibilityDatabase)},
		},
	})
	if err != nil {
		return nil, err
	}
	cfg.SearchAttributes = nil // the namespace may not exist yet: the caller registers both
	return start(ctx, cfg, serverCfg)
}

// start runs the configured server and waits until it serves.
func start(ctx context.Context, cfg Config, serverCfg *config.Config) (*Server, error) {
	if t := cfg.TLS; t != nil {
		serverCfg.Global.TLS = frontendTLS(t)
	}
	// Silent until the frontend answers: while the services start, the server's internal
	// worker logs "Frontend is not healthy yet" errors that mean nothing to the user. A
	// server that never becomes ready fails Start with its last error instead.
	level := zap.NewAtomicLevelAt(zap.FatalLevel)
	logger := tlog.NewZapLogger(cfg.Logger.WithOptions(zap.WrapCore(quietRoutineWarnings), zap.IncreaseLevel(level)))
	srv, err := temporal.NewServer(append([]temporal.ServerOption{
		temporal.WithConfig(serverCfg),
		temporal.ForServices(temporal.DefaultServices),
		temporal.WithLogger(logger),
		temporal.WithDynamicConfigClient(dynamicconfig.StaticClient{
			// One process, one worker of each kind: task queue partitions only add forwarding
			// hops between partitions (a production cluster keeps its default of 4).
			dynamicconfig.MatchingNumTaskqueueReadPartitions.Key():  []dynamicconfig.ConstrainedValue{{Value: 1}},
			dynamicconfig.MatchingNumTaskqueueWritePartitions.Key(): []dynamicconfig.ConstrainedValue{{Value: 1}},
		}),
	}, cfg.ServerOptions...)...)
	if err != nil {
		return nil, fmt.Errorf("create temporal server: %w", err)
	}
	if err := srv.Start(); err != nil {
		return nil, fmt.Errorf("start temporal server: %w", err)
	}
	s := &Server{cfg: cfg, level: level, server: srv}
	if err := s.waitReady(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	level.SetLevel(zap.WarnLevel)
	if err := s.ensureSearchAttributes(ctx); err != nil {
		_ = srv.Stop()
		return nil, err
	}
	if cfg.UIAddress != "" {
		if err := s.startUI(); err != nil {
			_ = srv.Stop()
			return nil, err
		}
	}
	return s, nil
}

// FrontendAddress is where SDK clients connect.
func (s *Server) FrontendAddress() string { return s.cfg.Address }

// UIURL is the Web UI's address, or "" when it is off.
func (s *Server) UIURL() string {
	if s.cfg.UIAddress == "" {
		return ""
	}
	return "http://" + s.cfg.UIAddress
}

// Stop shuts the UI and the server down.
func (s *Server) Stop() error {
	if s.ui != nil {
		s.ui.Stop()
		<-s.uiDone
	}
	// While its services stop one by one, the server's internal workers and matching log
	// connection errors that mean nothing to the user.
	s.level.SetLevel(zap.FatalLevel)
	return s.server.Stop()
}

func (s *Server) dial() (client.Client, error) {
	o := client.Options{HostPort: s.cfg.Address, Namespace: s.cfg.Namespace, Logger: nopLogger{}}
	if t := s.cfg.TLS; t != nil {
		tc, err := clientTLS(t)
		if err != nil {
			return nil, err
		}
		o.ConnectionOptions.TLS = tc
	}
	return client.Dial(o)
}

// frontendTLS is the server's TLS configuration for t: the frontend listens with TLS; the
// system worker connects to it as a client.
func frontendTLS(t *TLS) config.RootTLS {
	cl := config.ClientTLS{ServerName: t.ServerName, RootCAFiles: []string{t.CAFile}}
	root := config.RootTLS{
		Frontend: config.GroupTLS{
			Server: config.ServerTLS{CertFile: t.CertFile, KeyFile: t.KeyFile},
			Client: cl,
		},
		SystemWorker: config.WorkerTLS{CertFile: t.ClientCertFile, KeyFile: t.ClientKeyFile, Client: cl},
	}
	if t.ClientCAFile != "" {
		root.Frontend.Server.RequireClientAuth = true
		root.Frontend.Server.ClientCAFiles = []string{t.ClientCAFile}
	}
	return root
}

// clientTLS is how Start's own checks connect to a TLS frontend.
func clientTLS(t *TLS) (*tls.Config, error) {
	b, err := os.ReadFile(t.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("devserver: no certificate in %s", t.CAFile)
	}
	tc := &tls.Config{RootCAs: pool, ServerName: t.ServerName, MinVersion: tls.VersionTLS12}
	if t.ClientCertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var last error
	for {
		c, err := s.dial()
		if err == nil {
			_, err = c.CheckHealth(ctx, &client.CheckHealthRequest{})
			c.Close()
			if err == nil {
				return nil
			}
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("temporal server did not become ready: %w", last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ensureSearchAttributes adds attributes missing from a namespace created by an older
// version of hubline, so upgrading the dev database needs no manual step.
func (s *Server) ensureSearchAttributes(ctx context.Context) error {
	if len(s.cfg.SearchAttributes) == 0 {
		return nil
	}
	c, err := s.dial()
	if err != nil {
		return err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	resp, err := c.OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: s.cfg.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	missing := map[string]enumspb.IndexedValueType{}
	for name, typ := range s.cfg.SearchAttributes {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			missing[name] = typ
		}
	}
	if len(missing) == 0 {
		return nil
	}
	_, err = c.OperatorService().AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
		Namespace: s.cfg.Namespace, SearchAttributes: missing,
	})
	if err != nil {
		return fmt.Errorf("add search attributes: %w", err)
	}
	// Every service reads them through its namespace cache (refreshed every 2 s by default):
	// wait one refresh so the first start after an upgrade does not fail on them.
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(3 * time.Second):
	}
	return nil
}

func (s *Server) startUI() error {
	host, portStr, err := net.SplitHostPort(s.cfg.UIAddress)
	if err != nil {
		return fmt.Errorf("UI address %q: %w", s.cfg.UIAddress, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return fmt.Errorf("UI address %q: bad port", s.cfg.UIAddress)
	}
	cfg := &uiconfig.Config{
		TemporalGRPCAddress: s.cfg.Address,
		Host:                host,
		Port:                port,
		EnableUI:            true,
		DefaultNamespace:    s.cfg.Namespace,
		HideLogs:            true,
		DisableNewsFetch:    true,
		CORS:                uiconfig.CORS{CookieInsecure: true},
		Codec:               uiconfig.Codec{Endpoint: s.cfg.UICodecEndpoint},
	}
	s.ui = uiserver.NewServer(server_options.WithConfigProvider(cfg))
	s.uiDone = make(chan struct{})
	go func() {
		defer close(s.uiDone)
		_ = s.ui.Start()
	}()
	// Wait until it serves, so the URL we print works when the user clicks it.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.UIURL() + "/healthz")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("temporal UI did not start on %s", s.cfg.UIAddress)
}

// serverConfig configures a server whose frontend listens on host:port; pickMemberPort picks the
// services' membership ports.
func serverConfig(host string, port int, pickMemberPort func() (int, error), persistence config.Persistence) (*config.Config, error) {
	cfg := &config.Config{}
	cfg.Global.Membership = config.Membership{MaxJoinDuration: 30 * time.Second, BroadcastAddress: "127.0.0.1"}
	cfg.Persistence = persistence
	frontend := net.JoinHostPort(host, strconv.Itoa(port))
	cfg.ClusterMetadata = &cluster.Config{
		EnableGlobalNamespace:    false,
		FailoverVersionIncrement: 10,
		MasterClusterName:        "active",
		CurrentClusterName:       "active",
		ClusterInformation: map[string]cluster.ClusterInformation{
			"active": {Enabled: true, InitialFailoverVersion: 1, RPCAddress: frontend},
		},
	}
	cfg.DCRedirectionPolicy = config.DCRedirectionPolicy{Policy: "noop"}
	cfg.Services = map[string]config.Service{}
	for _, name := range []string{"frontend", "history", "matching", "worker"} {
		grpcPort := port
		if name != "frontend" {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			grpcPort = p
		}
		memberPort, err := pickMemberPort()
		if err != nil {
			return nil, err
		}
		rpc := config.RPC{GRPCPort: grpcPort, MembershipPort: memberPort, BindOnLocalHost: true}
		if name == "frontend" {
			// Temporal's HTTP API on a free loopback port; without it the server warns at
			// every start that Nexus endpoints are unavailable.
			if rpc.HTTPPort, err = freePort(); err != nil {
				return nil, err
			}
		}
		if name == "frontend" && host != "" && host != "localhost" && host != "127.0.0.1" {
			rpc.BindOnLocalHost = false
			rpc.BindOnIP = host
		}
		cfg.Services[name] = config.Service{RPC: rpc}
	}
	pprof, err := freePort()
	if err != nil {
		return nil, err
	}
	cfg.Global.PProf = config.PProf{Port: pprof, Host: "127.0.0.1"}
	cfg.Archival = config.Archival{
		History:    config.HistoryArchival{State: "disabled"},
		Visibility: config.VisibilityArchival{State: "disabled"},
	}
	cfg.NamespaceDefaults = config.NamespaceDefaults{Archival: config.ArchivalNamespaceDefaults{
		History:    config.HistoryArchivalNamespaceDefaults{State: "disabled"},
		Visibility: config.VisibilityArchivalNamespaceDefaults{State: "disabled"},
	}}
	cfg.PublicClient = config.PublicClient{HostPort: frontend}
	return cfg, nil
}

// forgetMembers deletes the cluster membership an earlier run recorded. Its services
// listened on other (free) ports and are gone; left in place, the new services spend their
// first ~10 s trying to join them, failing requests with "Not enough hosts".
func forgetMembers(ctx context.Context, file string) error {
	db, err := sql.Open("sqlite", "file:"+file)
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "DELETE FROM cluster_membership"); err != nil {
		return fmt.Errorf("reset cluster membership in %s: %w", file, err)
	}
	return nil
}

func freePort() (int, error) { return FreePort() }

// smallFreePort is a free loopback port that fits a signed 16-bit integer (at most 32767).
// Ports there are not handed out for port 0 binds, so none is taken between this check and
// the server's bind unless another process picks the same one explicitly.
func smallFreePort() (int, error) {
	for range 200 {
		p := 10000 + mrand.IntN(32767-10000+1)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err == nil {
			l.Close()
			return p, nil
		}
	}
	return 0, errors.New("find a free port below 32768: none of 200 tries was free")
}

// FreePort asks the kernel for an unused loopback port for a listener that starts a little
// later (the server's internal services, processes the benchmark spawns).
//
// Between our check and the real bind, Linux may hand the same port to anyone binding port
// 0; a server that then fails to bind it exits. So the port is parked in TIME_WAIT first: a
// connection to it is closed from the accepting side, after which the kernel does not
// allocate that port for about a minute, while an explicit bind with SO_REUSEADDR (Go's
// default for listeners) still succeeds.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	addr := l.Addr().(*net.TCPAddr)
	client, err := net.DialTCP("tcp", nil, addr)
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer client.Close()
	accepted, err := l.Accept()
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	// The side that closes first holds TIME_WAIT: it must be the listener's.
	if err := accepted.Close(); err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	return addr.Port, nil
}

func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return l.Close()
}

// nopLogger silences the SDK client used only for health and setup calls.
type nopLogger struct{}

func (nopLogger) Debug(string, ...interface{}) {}
func (nopLogger) Info(string, ...interface{})  {}
func (nopLogger) Warn(string, ...interface{})  {}
func (nopLogger) Error(string, ...interface{}) {}
