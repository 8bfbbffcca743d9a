package hubline_test

import (
	"encoding/json"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/hubline/hubline/internal/metrics"
	"github.com/hubline/hubline/starter"
)

// TestComposeMetricsProfile: --profile metrics adds Prometheus and Grafana at pinned tags,
// Prometheus scrapes the worker and the starter where they serve /metrics, and Grafana
// provisions the data source the dashboard reads.
func TestComposeMetricsProfile(t *testing.T) {
	setComposeEnv(t)
	p, err := loadCompose(t)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	mounts := map[string]string{}
	for _, name := range []string{"prometheus", "grafana"} {
		s, err := p.GetService(name)
		if err != nil {
			t.Fatalf("service %s: %v", name, err)
		}
		if !slices.Equal(s.Profiles, []string{"metrics"}) {
			t.Errorf("%s should be opt-in (profile metrics): %v", name, s.Profiles)
		}
		if !regexp.MustCompile(`:v?\d+\.\d+\.\d+$`).MatchString(s.Image) {
			t.Errorf("%s image %q is not pinned to a release", name, s.Image)
		}
		for _, v := range s.Volumes {
			if v.Type == "bind" {
				mounts[v.Target] = v.Source
			}
		}
	}
	b, err := os.ReadFile(mounts["/etc/prometheus/prometheus.yml"])
	if err != nil {
		t.Fatalf("prometheus config: %v (mounts %v)", err, mounts)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			DNSSDConfigs []struct {
				Names []string
				Port  int
			} `yaml:"dns_sd_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &prom); err != nil {
		t.Fatal(err)
	}
	for _, svc := range []string{"hubline-worker", "hubline-starter"} {
		s, err := p.GetService(svc)
		if err != nil {
			t.Fatal(err)
		}
		addr := s.Environment["HUBLINE_METRICS_ADDR"]
		if addr == nil {
			t.Fatalf("%s sets no HUBLINE_METRICS_ADDR", svc)
		}
		_, port, _ := net.SplitHostPort(*addr)
		found := false
		for _, sc := range prom.ScrapeConfigs {
			for _, d := range sc.DNSSDConfigs {
				if slices.Contains(d.Names, svc) && port == strconv.Itoa(d.Port) {
					found = true
				}
			}
		}
		if !found {
			t.Errorf("prometheus.yml does not scrape %s at port %s (HUBLINE_METRICS_ADDR=%s)", svc, port, *addr)
		}
	}
	if mounts["/etc/grafana/dashboards/hubline.json"] == "" || mounts["/etc/grafana/provisioning"] == "" {
		t.Fatalf("grafana mounts %v: want the dashboard and the provisioning directory", mounts)
	}
	ds, err := os.ReadFile(mounts["/etc/grafana/provisioning"] + "/datasources/prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var dsConf struct {
		Datasources []struct{ UID, URL, Type string }
	}
	if err := yaml.Unmarshal(ds, &dsConf); err != nil || len(dsConf.Datasources) != 1 {
		t.Fatalf("datasources: %v %+v", err, dsConf)
	}
	if d := dsConf.Datasources[0]; d.Type != "prometheus" || d.URL != "http://prometheus:9090" || d.UID != dashboardDatasource(t) {
		t.Errorf("provisioned data source %+v; the dashboard reads uid %q", d, dashboardDatasource(t))
	}
	prov, err := os.ReadFile(mounts["/etc/grafana/provisioning"] + "/dashboards/hubline.yml")
	if err != nil || !strings.Contains(string(prov), "path: /etc/grafana/dashboards") {
		t.Errorf("dashboard provider does not load /etc/grafana/dashboards: %v\n%s", err, prov)
	}
}

// dashboardDatasource is the data source uid every panel of the dashboard uses.
func dashboardDatasource(t *testing.T) string {
	t.Helper()
	uids := map[string]bool{}
	walkDashboard(t, func(k string, v any) {
		if k == "datasource" {
			if m, ok := v.(map[string]any); ok {
				uids[m["uid"].(string)] = true
			}
		}
	})
	if len(uids) != 1 {
		t.Fatalf("dashboard data sources %v: want one", uids)
	}
	for u := range uids {
		return u
	}
	return ""
}

func walkDashboard(t *testing.T, f func(key string, v any)) {
	t.Helper()
	b, err := os.ReadFile("deploy/grafana/hubline.json")
	if err != nil {
		t.Fatal(err)
	}
	var d any
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("hubline.json: %v", err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, c := range v {
				f(k, c)
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(d)
}

// TestDashboardUsesRegisteredMetrics: every metric a dashboard query reads is one the code
// registers (hubline's, the starter's, the Go runtime's) or a Temporal SDK metric the
// process test sees on a real worker (metrics.SDKNames), so a renamed metric cannot leave
// a panel silently empty.
func TestDashboardUsesRegisteredMetrics(t *testing.T) {
	c, err := client.NewLazyClient(client.Options{HostPort: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	m := metrics.New()
	starter.New(starter.Options{Temporal: c, Metrics: m, BlockExpiration: time.Hour, BlockExpirationISO: "PT1H"})
	known := append(m.Names(), metrics.SDKNames...)
	for _, want := range []string{metrics.QueueBacklog, "hubline_action_requests_total", metrics.LinePushes} {
		if !slices.Contains(known, want) {
			t.Fatalf("the starter does not register %s: %v", want, known)
		}
	}
	name := regexp.MustCompile(`\b(?:hubline|temporal|go|process)_[a-z0-9_]+\b`)
	var exprs []string
	walkDashboard(t, func(k string, v any) {
		if s, ok := v.(string); ok && k == "expr" {
			exprs = append(exprs, s)
		}
	})
	if len(exprs) < 10 {
		t.Fatalf("the dashboard has %d queries", len(exprs))
	}
	used := map[string]bool{}
	for _, e := range exprs {
		for _, n := range name.FindAllString(e, -1) {
			used[n] = true
			base := n
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(n, suffix); ok && slices.Contains(known, b) {
					base = b
				}
			}
			if !slices.Contains(known, base) {
				t.Errorf("dashboard query %q reads %s, which nothing registers", e, n)
			}
		}
	}
	// Each of hubline's own metrics has a panel.
	for _, n := range []string{metrics.LinePushes, metrics.LinePushSeconds + "_bucket", metrics.HubSpotCalls, metrics.Callbacks,
		metrics.WebhookEvents, metrics.HTTPRefusals, metrics.QueueBacklog} {
		if !used[n] {
			t.Errorf("no dashboard panel reads %s", n)
		}
	}
}
