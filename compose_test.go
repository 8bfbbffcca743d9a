package hubline_test

import (
	"context"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/server/common/dynamicconfig"

	"github.com/hubline/hubline/internal/config"
	"github.com/hubline/hubline/workflows"
)

// requiredComposeVars are the variables docker-compose.yml refuses to start without.
var requiredComposeVars = map[string]string{
	"POSTGRES_PASSWORD":         "pg-secret",
	"HUBSPOT_CLIENT_SECRET":     "hs-secret",
	"HUBLINE_PUBLIC_URL":        "https://hubline.example.com",
	"LINE_CHANNEL_ACCESS_TOKEN": "line-token",
	"HUBLINE_PAYLOAD_KEY":       "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
	"HUBLINE_SECRET_KEY":        "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=",
}

func loadCompose(t *testing.T) (*types.Project, error) {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"docker-compose.yml"},
		cli.WithWorkingDirectory("."), cli.WithOsEnv, cli.WithName("hubline"),
		cli.WithProfiles([]string{"codec", "metrics"})) // the optional services too
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	return opts.LoadProject(context.Background())
}

func setComposeEnv(t *testing.T) {
	t.Helper()
	for k, v := range requiredComposeVars {
		t.Setenv(k, v)
	}
}

func TestComposeProject(t *testing.T) {
	setComposeEnv(t)
	p, err := loadCompose(t)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	svc := func(name string) types.ServiceConfig {
		t.Helper()
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		return s
	}
	for _, name := range []string{"postgresql", "temporal-schema", "temporal", "temporal-admin-tools", "temporal-ui", "hubline-worker", "hubline-starter"} {
		svc(name)
	}

	for name, command := range map[string]string{"hubline-worker": "worker", "hubline-starter": "starter"} {
		s := svc(name)
		if got := strings.Join(s.Command, " "); got != command {
			t.Errorf("%s runs command %q, want %q", name, got, command)
		}
		if v := s.Environment["TEMPORAL_ADDRESS"]; v == nil || *v != "temporal:7233" {
			t.Errorf("%s: TEMPORAL_ADDRESS = %v, want temporal:7233", name, v)
		}
		if v := s.Environment["LINE_CHANNEL_ACCESS_TOKEN"]; v == nil || *v != "line-token" {
			t.Errorf("%s: LINE_CHANNEL_ACCESS_TOKEN not passed through from the environment", name)
		}
		if s.StopGracePeriod == nil {
			t.Errorf("%s has no stop_grace_period", name)
		}
		if dep, ok := s.DependsOn["temporal-admin-tools"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
			t.Errorf("%s must wait for temporal-admin-tools to complete", name)
		}
	}
	starter := svc("hubline-starter")
	if v := starter.Environment["HUBLINE_HTTP_ADDR"]; v == nil || *v != "0.0.0.0:8080" {
		t.Errorf("hubline-starter: HUBLINE_HTTP_ADDR = %v, want 0.0.0.0:8080", v)
	}
	if starter.HealthCheck == nil || !strings.Contains(strings.Join(starter.HealthCheck.Test, " "), "/readyz") {
		t.Errorf("hubline-starter health check should probe /readyz")
	}
	worker := svc("hubline-worker")
	if addr := worker.Environment["HUBLINE_WORKER_HEALTH_ADDR"]; addr == nil || worker.HealthCheck == nil ||
		!strings.Contains(strings.Join(worker.HealthCheck.Test, " "), "http://"+*addr+"/readyz") {
		t.Errorf("hubline-worker health check should probe /readyz on HUBLINE_WORKER_HEALTH_ADDR")
	}
	if dep, ok := svc("temporal").DependsOn["temporal-schema"]; !ok || dep.Condition != types.ServiceConditionCompletedSuccessfully {
		t.Errorf("temporal must wait for temporal-schema to complete")
	}

	// Only the starter, the UI and the optional codec, Prometheus and Grafana publish host
	// ports, on loopback.
	published := map[string]string{"hubline-starter": "8080", "temporal-ui": "8233", "hubline-codec": "8081",
		"prometheus": "9090", "grafana": "3000"}
	for _, s := range p.Services {
		for _, port := range s.Ports {
			if port.HostIP != "127.0.0.1" || port.Published != published[s.Name] {
				t.Errorf("%s publishes %s:%s; expected only 127.0.0.1:%s", s.Name, port.HostIP, port.Published, published[s.Name])
			}
		}
	}
	if codec := svc("hubline-codec"); !slices.Equal(codec.Profiles, []string{"codec"}) || len(codec.DependsOn) != 0 {
		t.Errorf("hubline-codec should be opt-in (profile codec) and need no Temporal: profiles %v, depends on %v",
			codec.Profiles, codec.DependsOn)
	}

	// The temporalio/server image has no dynamic config file and does not start without one.
	temporal := svc("temporal")
	path := temporal.Environment["DYNAMIC_CONFIG_FILE_PATH"]
	mounted := ""
	for _, v := range temporal.Volumes {
		if path != nil && v.Target == *path {
			mounted = v.Source
		}
	}
	if mounted == "" {
		t.Fatalf("temporal: DYNAMIC_CONFIG_FILE_PATH=%v is not a mounted file", path)
	}
	b, err := os.ReadFile(mounted)
	if err != nil {
		t.Fatal(err)
	}
	if res := dynamicconfig.LoadYamlFile(b); len(res.Errors) > 0 {
		t.Errorf("%s: %v", mounted, res.Errors)
	}

	admin := svc("temporal-admin-tools")
	script := strings.Join(append(append([]string{}, admin.Entrypoint...), admin.Command...), " ")
	if !strings.Contains(script, "--type Keyword") {
		t.Errorf("temporal-admin-tools does not create Keyword search attributes")
	}
	for name, typ := range workflows.SearchAttributes() {
		if typ != enumspb.INDEXED_VALUE_TYPE_KEYWORD {
			t.Errorf("search attribute %s is %v; the compose setup only creates Keyword attributes", name, typ)
		}
		if !strings.Contains(script, name) {
			t.Errorf("temporal-admin-tools does not create search attribute %s", name)
		}
	}
}

func TestComposeRequiresSecrets(t *testing.T) {
	for missing := range requiredComposeVars {
		t.Run(missing, func(t *testing.T) {
			setComposeEnv(t)
			t.Setenv(missing, "") // ${VAR:?...} rejects empty as well as unset
			if _, err := loadCompose(t); err == nil {
				t.Fatalf("docker-compose.yml loaded without %s", missing)
			} else if !strings.Contains(err.Error(), missing) {
				t.Errorf("error does not name %s: %v", missing, err)
			} else if strings.HasSuffix(missing, "_KEY") && !strings.Contains(err.Error(), "openssl rand -base64 32") {
				t.Errorf("error does not say how to make %s: %v", missing, err)
			}
		})
	}
}

// TestComposePassesEverySetting keeps the compose file in step with config.Settings: each
// setting a command reads can be set through .env for that service.
func TestComposePassesEverySetting(t *testing.T) {
	setComposeEnv(t)
	p, err := loadCompose(t)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	devOnly := map[string]bool{"HUBLINE_UI_ADDR": true}
	for service, command := range map[string]string{"hubline-worker": "worker", "hubline-starter": "starter", "hubline-codec": "codec"} {
		s, err := p.GetService(service)
		if err != nil {
			t.Fatal(err)
		}
		for _, setting := range config.Settings {
			if devOnly[setting.Name] || !slices.Contains(setting.Commands, command) {
				continue
			}
			names := []string{setting.Name}
			if strings.Contains(setting.Usage, "_2, _3") { // per-account variants, up to account 3
				names = append(names, setting.Name+"_2", setting.Name+"_3")
			}
			for _, name := range names {
				if _, ok := s.Environment[name]; !ok {
					t.Errorf("%s does not pass %s (read by hubline %s)", service, name, command)
				}
			}
		}
	}
}

// TestEnvExampleListsEverySetting: .env.example, the file operators start from, names every
// setting (set or commented out).
func TestEnvExampleListsEverySetting(t *testing.T) {
	b, err := os.ReadFile(".env.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, setting := range config.Settings {
		if !regexp.MustCompile(`(?m)^(# )?` + setting.Name + `=`).Match(b) {
			t.Errorf(".env.example does not list %s", setting.Name)
		}
	}
}

// TestComposeHublineDatabase: worker and starter share hubline's own database on the bundled
// PostgreSQL, which the setup job creates; HUBLINE_DATABASE_URL in .env replaces it.
func TestComposeHublineDatabase(t *testing.T) {
	for _, c := range []struct{ set, want string }{
		{"", "postgres://temporal:pg-secret@postgresql:5432/hubline?sslmode=disable"},
		{"postgres://h:p@db.example.com/h", "postgres://h:p@db.example.com/h"},
	} {
		setComposeEnv(t)
		t.Setenv("HUBLINE_DATABASE_URL", c.set)
		p, err := loadCompose(t)
		if err != nil {
			t.Fatalf("load docker-compose.yml: %v", err)
		}
		for _, name := range []string{"hubline-worker", "hubline-starter"} {
			s, err := p.GetService(name)
			if err != nil {
				t.Fatal(err)
			}
			if v := s.Environment["HUBLINE_DATABASE_URL"]; v == nil || *v != c.want {
				t.Errorf("%s: HUBLINE_DATABASE_URL = %v, want %s", name, v, c.want)
			}
		}
		schema, err := p.GetService("temporal-schema")
		if err != nil {
			t.Fatal(err)
		}
		if db := schema.Environment["HUBLINE_DBNAME"]; db == nil || *db != "hubline" ||
			!strings.Contains(strings.Join(schema.Command, " "), `--db "$HUBLINE_DBNAME" create`) {
			t.Errorf("temporal-schema does not create the hubline database (HUBLINE_DBNAME=%v)", db)
		}
	}
}

// TestComposeAdminBindAddress: the UI, the codec, Prometheus and Grafana show or decode every
// message, so they are published on loopback unless ADMIN_BIND_ADDRESS says otherwise; the
// starter stays on loopback behind the operator's TLS proxy either way.
func TestComposeAdminBindAddress(t *testing.T) {
	admin := []string{"temporal-ui", "hubline-codec", "prometheus", "grafana"}
	for _, c := range []struct{ set, want string }{{"", "127.0.0.1"}, {"10.0.0.5", "10.0.0.5"}} {
		setComposeEnv(t)
		t.Setenv("ADMIN_BIND_ADDRESS", c.set)
		p, err := loadCompose(t)
		if err != nil {
			t.Fatalf("load docker-compose.yml: %v", err)
		}
		for _, s := range p.Services {
			want := "127.0.0.1"
			if slices.Contains(admin, s.Name) {
				want = c.want
				if len(s.Ports) == 0 {
					t.Errorf("ADMIN_BIND_ADDRESS=%q: %s publishes no port", c.set, s.Name)
				}
			}
			for _, port := range s.Ports {
				if port.HostIP != want {
					t.Errorf("ADMIN_BIND_ADDRESS=%q: %s is published on %q, want %q", c.set, s.Name, port.HostIP, want)
				}
			}
		}
	}
}

// TestComposeImagesPinned: every image is a release its project publishes, never a moving
// tag (latest, a bare major version); the Temporal server, its admin tools and the UI are the
// versions hubline builds and tests against (go.mod).
func TestComposeImagesPinned(t *testing.T) {
	setComposeEnv(t)
	p, err := loadCompose(t)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	gomod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	modVersion := func(module string) string {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(module) + `\s+v(\S+)`).FindSubmatch(gomod)
		if m == nil {
			t.Fatalf("go.mod does not require %s", module)
		}
		return string(m[1])
	}
	want := map[string]string{
		"temporalio/server":      modVersion("go.temporal.io/server"),
		"temporalio/admin-tools": modVersion("go.temporal.io/server"),
		"temporalio/ui":          modVersion("github.com/temporalio/ui-server/v2"),
	}
	release := regexp.MustCompile(`^[a-z0-9./-]+:v?\d+\.\d+(\.\d+)?$`) // PostgreSQL's are major.minor
	seen := map[string]bool{}
	for _, s := range p.Services {
		if s.Build != nil { // hubline itself, built from this tree
			continue
		}
		if !release.MatchString(s.Image) {
			t.Errorf("%s: image %q is not pinned to a release (name:1.2.3)", s.Name, s.Image)
		}
		name, tag, _ := strings.Cut(s.Image, ":")
		seen[name] = true
		if v, ok := want[name]; ok && tag != v {
			t.Errorf("%s: image %s, want tag %s as in go.mod", s.Name, s.Image, v)
		}
	}
	for _, name := range []string{"temporalio/server", "temporalio/admin-tools", "temporalio/ui", "postgres", "prom/prometheus", "grafana/grafana"} {
		if !seen[name] {
			t.Errorf("no service runs %s", name)
		}
	}
}
