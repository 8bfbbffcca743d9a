package composestack

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/server/common/dynamicconfig"
	tlog "go.temporal.io/server/common/log"
	"go.temporal.io/server/temporal"
	// temporal-sql-tool (go.temporal.io/server/cmd/tools/sql) is built from this package; the
	// import keeps its requirements in go.mod and go.sum.
	_ "go.temporal.io/server/tools/sql"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/hubline/hubline/internal/devserver"
	"github.com/hubline/hubline/internal/hubspot"
	"github.com/hubline/hubline/internal/hubspotsandbox"
	"github.com/hubline/hubline/internal/linesandbox"
	"github.com/hubline/hubline/workflows"
)

// The schema job's script names the admin-tools image's copy of the server's SQL schemas; the
// test points it at the same files in the server module.
const imageSchemaDir = "/etc/temporal/schema/postgresql/v12"

// TestComposeSetupOnPostgreSQL runs the compose stack's start-up sequence outside Docker:
//
//  1. temporal-schema's own script (read from docker-compose.yml), with temporal-sql-tool built
//     from the server module, creates fresh databases on the PostgreSQL of
//     HUBLINE_TEST_DATABASE_URL and sets up Temporal's schemas in them; run twice, as every
//     `docker compose up` does.
//  2. A Temporal server on those databases (the postgres12 plugin, the temporal service's
//     database names and shard count, the mounted dynamic config file).
//  3. temporal-admin-tools' own script creates the namespace and the search attributes through
//     the operator API (a stand-in for the temporal CLI, see cli_test.go); run twice too.
//  4. hubline worker and starter, the binary built as the Dockerfile builds it and run as its
//     non-root user, with the compose services' environment and command (only their listen
//     addresses moved, as all run on one host), LINE and HubSpot at the sandboxes.
//  5. One signed Send LINE Message execution: delivered at the LINE sandbox, callback completed.
func TestComposeSetupOnPostgreSQL(t *testing.T) {
	dbURL := os.Getenv("HUBLINE_TEST_DATABASE_URL")
	if dbURL == "" {
		t.Skip("HUBLINE_TEST_DATABASE_URL is unset: this test needs a PostgreSQL it may create databases on (.ci/run starts Debian's and sets it)")
	}
	pg := parsePostgresURL(t, dbURL)
	bin := imageBinary(t)
	tools := toolsDir(t)

	// Fresh database names, dropped at the end.
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)
	dbs := map[string]string{
		"DBNAME":            "hl_stack_temporal_" + suffix,
		"VISIBILITY_DBNAME": "hl_stack_visibility_" + suffix,
		"HUBLINE_DBNAME":    "hl_stack_hubline_" + suffix,
	}
	admin := openAdmin(t, dbURL, slices.Collect(maps.Values(dbs)))
	var canCreate bool
	if err := admin.QueryRow("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").Scan(&canCreate); err != nil || !canCreate {
		t.Fatalf("the role of HUBLINE_TEST_DATABASE_URL cannot create databases (err %v): ALTER ROLE %s CREATEDB (.ci/run does)", err, pg.User)
	}

	// What an operator would put in .env, pointing at this machine.
	lineSandbox := linesandbox.New(linesandbox.Options{Tokens: map[string]string{"line-token": "1"}})
	lineServer := httptest.NewServer(lineSandbox)
	t.Cleanup(lineServer.Close)
	hubSandbox := hubspotsandbox.New(hubspotsandbox.Options{AccessToken: "hubspot-token"})
	hubServer := httptest.NewServer(hubSandbox)
	t.Cleanup(hubServer.Close)
	temporalAddr := freeAddr(t)
	starterAddr := freeAddr(t)
	hublineURL := (&url.URL{Scheme: "postgres", User: url.UserPassword(pg.User, pg.Password),
		Host: net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), Path: "/" + dbs["HUBLINE_DBNAME"], RawQuery: "sslmode=disable"}).String()
	const clientSecret = "compose-client-secret"
	publicURL := "http://" + starterAddr
	project := loadProject(t, map[string]string{
		"POSTGRES_PASSWORD":         pg.Password,
		"HUBSPOT_CLIENT_SECRET":     clientSecret,
		"HUBSPOT_ACCESS_TOKEN":      "hubspot-token",
		"HUBSPOT_API_BASE_URL":      hubServer.URL,
		"LINE_CHANNEL_ACCESS_TOKEN": "line-token",
		"LINE_API_BASE_URL":         lineServer.URL,
		"HUBLINE_PUBLIC_URL":        publicURL,
		"HUBLINE_PAYLOAD_KEY":       newKey(t),
		"HUBLINE_SECRET_KEY":        newKey(t),
		"HUBLINE_DATABASE_URL":      hublineURL,
		"TEMPORAL_ADDRESS":          temporalAddr, // "an existing cluster": the server below
	})

	// 1. Schemas.
	schemaJob := service(t, project, "temporal-schema")
	schemaEnv := map[string]string{
		"SQL_HOST": pg.Host, "SQL_PORT": strconv.Itoa(pg.Port), "SQL_USER": pg.User, "SQL_PASSWORD": pg.Password,
	}
	maps.Copy(schemaEnv, dbs)
	serverDir := moduleDir(t, "go.temporal.io/server")
	for range 2 {
		runScript(t, schemaJob, schemaEnv, tools, map[string]string{imageSchemaDir: filepath.Join(serverDir, "schema", "postgresql", "v12")})
	}

	// 2. The Temporal server, configured as the temporal service is.
	server := service(t, project, "temporal")
	serverEnv := environment(t, server, map[string]string{"DBNAME": dbs["DBNAME"], "VISIBILITY_DBNAME": dbs["VISIBILITY_DBNAME"]})
	if serverEnv["DB"] != "postgres12" || schemaJob.Environment["SQL_PLUGIN"] == nil || *schemaJob.Environment["SQL_PLUGIN"] != serverEnv["DB"] {
		t.Fatalf("the temporal service uses DB=%s and temporal-schema SQL_PLUGIN=%v; this test runs the server's postgres12 plugin", serverEnv["DB"], schemaJob.Environment["SQL_PLUGIN"])
	}
	for _, k := range []string{"DBNAME", "VISIBILITY_DBNAME"} {
		if a, b := *schemaJob.Environment[k], *server.Environment[k]; a != b {
			t.Fatalf("temporal-schema sets up %s=%s but the temporal service uses %s", k, a, b)
		}
	}
	shards, err := strconv.Atoi(serverEnv["NUM_HISTORY_SHARDS"])
	if err != nil {
		t.Fatalf("temporal service NUM_HISTORY_SHARDS: %v", err)
	}
	logger := zaptest.NewLogger(t, zaptest.Level(zap.WarnLevel))
	srv, err := devserver.Start(t.Context(), devserver.Config{
		Address: temporalAddr,
		Logger:  logger,
		PostgreSQL: &devserver.PostgreSQL{
			Host: pg.Host, Port: pg.Port, User: pg.User, Password: pg.Password,
			Database: serverEnv["DBNAME"], VisibilityDatabase: serverEnv["VISIBILITY_DBNAME"],
			NumHistoryShards: int32(shards),
		},
		ServerOptions: []temporal.ServerOption{temporal.WithDynamicConfigClient(dynamicConfig(t, server, serverEnv))},
	})
	if err != nil {
		t.Fatalf("temporal server on PostgreSQL: %v", err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	// 3. Namespace and search attributes.
	adminJob := service(t, project, "temporal-admin-tools")
	adminEnv := map[string]string{"TEMPORAL_ADDRESS": temporalAddr}
	for range 2 {
		runScript(t, adminJob, adminEnv, tools, nil)
	}
	namespace := *adminJob.Environment["NAMESPACE"]
	checkNamespace(t, temporalAddr, namespace)

	// 4. Worker and starter.
	worker := service(t, project, "hubline-worker")
	workerHealth := freeAddr(t)
	startService(t, bin, worker, map[string]string{"HUBLINE_WORKER_HEALTH_ADDR": workerHealth, "HUBLINE_METRICS_ADDR": freeAddr(t)})
	starter := service(t, project, "hubline-starter")
	startService(t, bin, starter, map[string]string{"HUBLINE_HTTP_ADDR": starterAddr, "HUBLINE_METRICS_ADDR": freeAddr(t)})
	waitReady(t, "http://"+workerHealth+"/readyz")
	waitReady(t, publicURL+"/readyz")

	// 5. One execution, end to end.
	callbackID := "compose-" + suffix
	body, _ := json.Marshal(map[string]any{
		"callbackId": callbackID,
		"origin":     map[string]any{"portalId": 1, "actionDefinitionId": 1, "actionDefinitionVersion": 1},
		"context":    map[string]any{"source": "WORKFLOWS", "workflowId": 1},
		"object":     map[string]any{"objectId": 904, "objectType": "CONTACT", "properties": map[string]string{"firstname": "Aiko"}},
		"inputFields": map[string]string{
			"line_user_id": "U4af4980629aaaaaaaaaaaaaaaaaaaaaa",
			"message_1":    "Hello {{contact.firstname}}, from the compose stack",
		},
	})
	target := publicURL + "/actions/send-line-message"
	req, err := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	ts := strconv.FormatInt(time.Now().UnixMilli(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-HubSpot-Request-Timestamp", ts)
	req.Header.Set("X-HubSpot-Signature-v3", hubspot.SignV3(clientSecret, http.MethodPost, target, body, ts))
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("starter: %v", err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"BLOCK"`) {
		t.Fatalf("starter answered %d %s; want 200 BLOCK", resp.StatusCode, answer)
	}

	deadline := time.Now().Add(60 * time.Second)
	var delivered, completed bool
	for time.Now().Before(deadline) && !(delivered && completed) {
		for _, d := range lineSandbox.Deliveries() {
			delivered = delivered || (d.To == "U4af4980629aaaaaaaaaaaaaaaaaaaaaa" && len(d.Messages) == 1 &&
				strings.Contains(string(d.Messages[0]), "Hello Aiko, from the compose stack"))
		}
		for _, c := range hubSandbox.Callbacks() {
			completed = completed || (c.ID == callbackID && c.OutputFields["hs_execution_state"] == "SUCCESS")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !delivered || !completed {
		t.Fatalf("after 60 s: delivered at LINE %v (deliveries %d), callback SUCCESS %v (callbacks %v)",
			delivered, lineSandbox.DeliveryCount(), completed, hubSandbox.Callbacks())
	}
}

// pgTarget is where HUBLINE_TEST_DATABASE_URL points.
type pgTarget struct {
	Host, User, Password string
	Port                 int
}

func parsePostgresURL(t *testing.T, raw string) pgTarget {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Hostname() == "" {
		t.Fatalf("HUBLINE_TEST_DATABASE_URL is not a postgres://user:password@host:port/db URL (%v)", err)
	}
	p := pgTarget{Host: u.Hostname(), User: u.User.Username(), Port: 5432}
	p.Password, _ = u.User.Password()
	if s := u.Port(); s != "" {
		if p.Port, err = strconv.Atoi(s); err != nil {
			t.Fatalf("HUBLINE_TEST_DATABASE_URL port: %v", err)
		}
	}
	return p
}

// openAdmin connects to dbURL and drops dbs when the test ends (after everything using them
// stopped: cleanups run last-registered first).
func openAdmin(t *testing.T, dbURL string, dbs []string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, name := range dbs {
			if _, err := db.Exec(`DROP DATABASE IF EXISTS "` + name + `" WITH (FORCE)`); err != nil {
				t.Errorf("drop database %s: %v", name, err)
			}
		}
		db.Close()
	})
	return db
}

// toolsDir holds what the admin-tools image puts on PATH: temporal-sql-tool, built from the
// server module, and the temporal CLI stand-in.
func toolsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("go", "build", "-o", filepath.Join(dir, "temporal-sql-tool"), "go.temporal.io/server/cmd/tools/sql").CombinedOutput()
	if err != nil {
		t.Fatalf("build temporal-sql-tool: %v\n%s", err, out)
	}
	installCLI(t, dir)
	return dir
}

func moduleDir(t *testing.T, module string) string {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", module).Output()
	if err != nil {
		t.Fatalf("go list -m %s: %v", module, err)
	}
	return strings.TrimSpace(string(out))
}

// loadProject loads docker-compose.yml with env as its only environment (the .env file).
func loadProject(t *testing.T, env map[string]string) *types.Project {
	t.Helper()
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithWorkingDirectory(root), cli.WithEnv(list), cli.WithName("hubline"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(t.Context())
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

func service(t *testing.T, p *types.Project, name string) types.ServiceConfig {
	t.Helper()
	s, err := p.GetService(name)
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return s
}

// environment is s's environment with overrides, each of which s must set itself (so a
// renamed variable fails here rather than being silently added).
func environment(t *testing.T, s types.ServiceConfig, overrides map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range s.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	for k, v := range overrides {
		if _, ok := s.Environment[k]; !ok {
			t.Fatalf("docker-compose.yml: %s no longer sets %s", s.Name, k)
		}
		env[k] = v
	}
	return env
}

func envList(env map[string]string) []string {
	var list []string
	for k, v := range env {
		list = append(list, k+"="+v)
	}
	return list
}

// runScript runs a one-shot service's entrypoint and command, as its container would, with
// the image's tools first on PATH; paths maps the image's paths to this machine's.
func runScript(t *testing.T, s types.ServiceConfig, overrides map[string]string, tools string, paths map[string]string) {
	t.Helper()
	argv := append(slices.Clone(s.Entrypoint), s.Command...)
	if len(argv) < 2 {
		t.Fatalf("%s: no entrypoint and command to run", s.Name)
	}
	for from, to := range paths {
		script := argv[len(argv)-1]
		if strings.Count(script, from) != 1 {
			t.Fatalf("%s: its script should name %s once:\n%s", s.Name, from, script)
		}
		argv[len(argv)-1] = strings.ReplaceAll(script, from, to)
	}
	env := environment(t, s, overrides)
	env["PATH"] = tools + ":/usr/local/bin:/usr/bin:/bin"
	env[cliEnv] = "1"
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = envList(env)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s failed: %v\n%s", s.Name, err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	t.Logf("%s done; its last line: %s", s.Name, lines[len(lines)-1])
}

// dynamicConfig reads the file the temporal service mounts at DYNAMIC_CONFIG_FILE_PATH.
func dynamicConfig(t *testing.T, s types.ServiceConfig, env map[string]string) dynamicconfig.Client {
	t.Helper()
	var file string
	for _, v := range s.Volumes {
		if v.Target == env["DYNAMIC_CONFIG_FILE_PATH"] {
			file = v.Source
		}
	}
	if file == "" {
		t.Fatalf("the temporal service mounts nothing at DYNAMIC_CONFIG_FILE_PATH=%s", env["DYNAMIC_CONFIG_FILE_PATH"])
	}
	done := make(chan any)
	t.Cleanup(func() { close(done) })
	c, err := dynamicconfig.NewFileBasedClient(&dynamicconfig.FileBasedClientConfig{Filepath: file, PollInterval: time.Minute}, tlog.NewNoopLogger(), done)
	if err != nil {
		t.Fatalf("dynamic config %s: %v", file, err)
	}
	return c
}

// checkNamespace: the setup script left the namespace with hubline's search attributes, as
// Keyword, and the retention it asked for.
func checkNamespace(t *testing.T, addr, namespace string) {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: addr, Namespace: namespace, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns, err := c.WorkflowService().DescribeNamespace(t.Context(), &workflowservice.DescribeNamespaceRequest{Namespace: namespace})
	if err != nil {
		t.Fatalf("namespace %s: %v", namespace, err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 7*24*time.Hour {
		t.Errorf("namespace %s retention %v, want 168h", namespace, got)
	}
	attrs, err := c.OperatorService().ListSearchAttributes(t.Context(), &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range workflows.SearchAttributes() {
		if got := attrs.GetCustomAttributes()[name]; got != typ || typ == enumspb.INDEXED_VALUE_TYPE_UNSPECIFIED {
			t.Errorf("search attribute %s: %v, want %v", name, got, typ)
		}
	}
}

// startService runs bin with s's command and environment (listen addresses moved to free
// loopback ports), from "/" as the image's non-root user, and stops it with SIGTERM at the end
// as `docker compose down` does.
func startService(t *testing.T, bin string, s types.ServiceConfig, addrs map[string]string) {
	t.Helper()
	env := environment(t, s, addrs)
	env["PATH"] = "/usr/local/bin:/usr/bin:/bin"
	cmd := exec.Command(bin, s.Command...)
	cmd.Dir = "/"
	cmd.Env = envList(env)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	asImageUser(t, cmd, readDockerfile(t))
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", s.Name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(40 * time.Second): // stop_grace_period
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop within 40 s of SIGTERM", s.Name)
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", s.Name, out.String())
		}
	})
	// A service that exits at start-up fails the test at once, with its reason.
	select {
	case err := <-exited:
		t.Fatalf("%s exited at start: %v\n%s", s.Name, err, out.String())
	case <-time.After(500 * time.Millisecond):
	}
	if cmd.SysProcAttr != nil { // it runs as the image's user, not as root
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		uid := cmd.SysProcAttr.Credential.Uid
		if err != nil || !regexp.MustCompile(fmt.Sprintf(`(?m)^Uid:\s+%d\s+%d\s`, uid, uid)).Match(status) {
			t.Fatalf("%s does not run as uid %d (err %v):\n%s", s.Name, uid, err, status)
		}
	}
}

func waitReady(t *testing.T, u string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(u)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, b)
		} else {
			last = err.Error()
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("%s not ready after 60 s: %s", u, last)
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := devserver.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(port)
}

func newKey(t *testing.T) string {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(k)
}

// syncBuffer collects a process's output from its two pipes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
