package infra

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"gopkg.in/yaml.v3"

	"github.com/fastdeal/fastdeal/bootstrap"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// These tests keep the observability profile honest: every series the Grafana
// dashboard queries is one a real fastdeal exports on its admin listener, the
// panels use the provisioned datasource, and Prometheus scrapes every replica's
// admin listener at the ports infra/stack.env gives them.

const (
	dashboardPath     = "grafana/dashboards/fastdeal.json"
	datasourcePath    = "grafana/provisioning/datasources/prometheus.yml"
	dashProviderPath  = "grafana/provisioning/dashboards/fastdeal.yml"
	prometheusPath    = "prometheus/prometheus.yml"
	observability     = "observability"
	dashboardMetricRe = `\b(?:fastdeal|go|process)_[a-zA-Z0-9_]+\b`
)

// dashboard is the part of Grafana's dashboard model the tests read.
type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Type  string          `json:"type"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title      string      `json:"title"`
	Type       string      `json:"type"`
	Datasource *datasource `json:"datasource"`
	Targets    []struct {
		Expr       string      `json:"expr"`
		Datasource *datasource `json:"datasource"`
	} `json:"targets"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Panels []panel `json:"panels"`
}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	raw, err := os.ReadFile(dashboardPath)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return d
}

// queries returns every PromQL query of the dashboard, named by where it is.
func (d dashboard) queries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			for i, tg := range p.Targets {
				out[fmt.Sprintf("panel %q target %d", p.Title, i)] = tg.Expr
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		// Grafana stores a variable's query as a string or as {"query": ...}.
		var q string
		if err := json.Unmarshal(v.Query, &q); err != nil {
			var obj struct{ Query string }
			if err := json.Unmarshal(v.Query, &obj); err != nil {
				t.Fatalf("variable %s: query %s", v.Name, v.Query)
			}
			q = obj.Query
		}
		out["variable "+v.Name] = q
	}
	return out
}

// metricNames lists the metric names a query uses. Every metric fastdeal
// exports starts with fastdeal_, go_ or process_, so those prefixes find them
// without a PromQL parser.
func metricNames(q string) []string {
	return regexp.MustCompile(dashboardMetricRe).FindAllString(q, -1)
}

func TestDashboardIsWellFormed(t *testing.T) {
	d := loadDashboard(t)
	uid := provisionedDatasourceUID(t)
	qs := d.queries(t)
	if len(qs) < 10 {
		t.Fatalf("the dashboard has %d queries; it lost its panels?", len(qs))
	}
	for where, q := range qs {
		if strings.TrimSpace(q) == "" {
			t.Errorf("%s has no query", where)
		} else if len(metricNames(q)) == 0 {
			t.Errorf("%s queries no fastdeal_, go_ or process_ metric: %s", where, q)
		}
	}
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			walk(p.Panels)
			if p.Type == "row" {
				continue
			}
			if p.Datasource == nil || p.Datasource.UID != uid {
				t.Errorf("panel %q datasource %+v, want the provisioned uid %q", p.Title, p.Datasource, uid)
			}
			for i, tg := range p.Targets {
				if tg.Datasource != nil && tg.Datasource.UID != uid {
					t.Errorf("panel %q target %d datasource uid %q, want %q", p.Title, i, tg.Datasource.UID, uid)
				}
			}
			if p.FieldConfig.Defaults.Unit == "" {
				t.Errorf("panel %q has no unit", p.Title)
			}
		}
	}
	walk(d.Panels)

	// The dashboard covers what an operator watches in a sale.
	all := ""
	for _, q := range qs {
		all += q + "\n"
	}
	for _, m := range []string{"fastdeal_http_requests_total", "fastdeal_http_request_duration_seconds_bucket",
		"fastdeal_claims_total", "fastdeal_line_joins_total", "fastdeal_admitted_total", "fastdeal_issued_total",
		"fastdeal_line_length", "fastdeal_ledger_pending", "fastdeal_persist_seconds_bucket", "fastdeal_line_status_total"} {
		if !regexp.MustCompile(`\b` + m + `\b`).MatchString(all) {
			t.Errorf("no panel queries %s", m)
		}
	}
}

func provisionedDatasourceUID(t *testing.T) string {
	t.Helper()
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	readYAML(t, datasourcePath, &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].UID == "" {
		t.Fatalf("%s: want one prometheus datasource with a uid, got %+v", datasourcePath, ds.Datasources)
	}
	if want := "http://prometheus:9090"; ds.Datasources[0].URL != want {
		t.Errorf("%s: url %q, want %q (the compose service)", datasourcePath, ds.Datasources[0].URL, want)
	}
	return ds.Datasources[0].UID
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestPrometheusScrapesEveryAdminListener: one target per replica, at its
// APPi_ADMIN_PORT, named by instance so the dashboard can tell them apart.
func TestPrometheusScrapesEveryAdminListener(t *testing.T) {
	s := settings(t)
	var cfg struct {
		ScrapeConfigs []struct {
			MetricsPath   string `yaml:"metrics_path"`
			StaticConfigs []struct {
				Targets []string          `yaml:"targets"`
				Labels  map[string]string `yaml:"labels"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, prometheusPath, &cfg)
	var got []string
	for _, sc := range cfg.ScrapeConfigs {
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("metrics_path %q, want /metrics", sc.MetricsPath)
		}
		for _, st := range sc.StaticConfigs {
			for _, tg := range st.Targets {
				host, _, _ := strings.Cut(tg, ":")
				if st.Labels["instance"] != host {
					t.Errorf("target %s has instance label %q, want %q", tg, st.Labels["instance"], host)
				}
				got = append(got, tg)
			}
		}
	}
	var want []string
	for i := 1; i <= needInt(t, s, "APP_REPLICAS"); i++ {
		want = append(want, fmt.Sprintf("app%d:%s", i, need(t, s, fmt.Sprintf("APP%d_ADMIN_PORT", i))))
	}
	sort.Strings(got)
	if !slices.Equal(got, want) {
		t.Errorf("%s scrapes %v, want every replica's admin listener %v (infra/stack.env)", prometheusPath, got, want)
	}
}

// TestObservabilityServices: Prometheus and Grafana are opt-in (a profile),
// pinned, and read their configuration from the repository, read-only.
func TestObservabilityServices(t *testing.T) {
	c := loadCompose(t, settings(t))
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:v?[0-9]+\.[0-9]+\.[0-9]+$`)
	mounts := map[string][]string{
		"prometheus": {"./infra/prometheus/prometheus.yml:/etc/prometheus/prometheus.yml:ro"},
		"grafana": {"./infra/grafana/provisioning:/etc/grafana/provisioning:ro",
			"./infra/grafana/dashboards:/var/lib/grafana/dashboards:ro"},
	}
	for name, want := range mounts {
		svc, ok := c.Optional[name]
		if !ok {
			t.Errorf("docker-compose.yml has no %s in a profile", name)
			continue
		}
		if !slices.Equal(svc.Profiles, []string{observability}) {
			t.Errorf("%s profiles %v, want [%s]", name, svc.Profiles, observability)
		}
		if !pinned.MatchString(svc.Image) {
			t.Errorf("%s image %q is not pinned to a version", name, svc.Image)
		}
		for _, m := range want {
			if !slices.Contains(svc.Volumes, m) {
				t.Errorf("%s lacks the read-only mount %s (has %v)", name, m, svc.Volumes)
			}
			src := filepath.Join("..", strings.SplitN(m, ":", 2)[0])
			if _, err := os.Stat(src); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
		}
	}
	// The dashboard provider reads the directory the dashboards are mounted at.
	var prov struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, dashProviderPath, &prov)
	if len(prov.Providers) != 1 || prov.Providers[0].Options.Path != "/var/lib/grafana/dashboards" {
		t.Errorf("%s: want one provider reading /var/lib/grafana/dashboards, got %+v", dashProviderPath, prov.Providers)
	}
}

// TestDashboardQueriesExportedSeries starts a real fastdeal (MySQL ledger,
// Redis inventory, admin listener on), drives a small sale through it so that
// every labelled series exists, and fails on any series a panel queries that
// the admin listener's /metrics does not export.
func TestDashboardQueriesExportedSeries(t *testing.T) {
	queried := map[string][]string{} // metric -> where
	for where, q := range loadDashboard(t).queries(t) {
		for _, m := range metricNames(q) {
			queried[m] = append(queried[m], where)
		}
	}

	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_MYSQL_DSN", testenv.FreshDatabase(t, "fdgrafana"))
	t.Setenv("FASTDEAL_REDIS_ADDR", testenv.RedisAddr())
	t.Setenv("FASTDEAL_HTTP_ADDR", "127.0.0.1:0")
	t.Setenv("FASTDEAL_ADMIN_ADDR", "127.0.0.1:0")
	t.Setenv("FASTDEAL_ADMIN_TOKEN", "grafana-test-admin")
	t.Setenv("FASTDEAL_LOG_LEVEL", "error")
	t.Setenv("FASTDEAL_RATE_PER_USER", "1000")
	t.Setenv("FASTDEAL_RATE_BURST", "1000")
	cfg, err := bootstrap.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := bootstrap.Migrate(ctx, cfg, "up"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	var ep *bootstrap.Endpoint
	var aep *bootstrap.AdminEndpoint
	app := fx.New(bootstrap.Options(cfg), fx.Populate(&ep, &aep), fx.NopLogger)
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		stop, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := app.Stop(stop); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if aep.Addr == "" {
		t.Fatal("the admin listener did not start")
	}
	api := ep.URL()
	admin := []string{"Authorization", "Bearer " + cfg.AdminToken}
	suffix := strconv.FormatInt(time.Now().UnixNano(), 36)

	// A general drop for claims and the persist path, a queued one for joins,
	// polls, admissions, issues, the line length and the dispatcher lease.
	open := "graf-open-" + suffix
	queued := "graf-line-" + suffix
	call(t, "POST", api+"/v1/admin/drops", fmt.Sprintf(`{"id":%q,"name":"Grafana open","kind":"general","stock":10}`, open), 201, admin...)
	call(t, "POST", api+"/v1/admin/drops", fmt.Sprintf(`{"id":%q,"name":"Grafana line","kind":"general","stock":10,"admission":"queued","admit_rate":50}`, queued), 201, admin...)
	for i := range 3 {
		call(t, "POST", api+"/v1/drops/"+open+"/claims", `{}`, 201, "X-User-ID", fmt.Sprintf("g-claim-%d", i))
		user := fmt.Sprintf("g-line-%d", i)
		call(t, "POST", api+"/v1/drops/"+queued+"/line", "", 0, "X-User-ID", user)
		call(t, "GET", api+"/v1/drops/"+queued+"/line/me", "", 200, "X-User-ID", user)
	}
	call(t, "GET", api+"/v1/drops/nope-"+suffix, "", 404)

	// Some series appear only after the workers ran (the lease, the syncer's
	// flush, the dispatcher's admissions): poll until all are there.
	var missing []string
	deadline := time.Now().Add(45 * time.Second)
	for {
		exported := scrape(t, "http://"+aep.Addr+"/metrics")
		missing = missing[:0]
		for m := range queried {
			if !exported[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	sort.Strings(missing)
	for _, m := range missing {
		t.Errorf("%s is queried (%s) but /metrics on the admin listener does not export it", m, strings.Join(queried[m], "; "))
	}
}

// call makes one request and checks its status (0: any below 300).
func call(t *testing.T, method, url, body string, status int, hdr ...string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if status == 0 && res.StatusCode >= 300 || status != 0 && res.StatusCode != status {
		t.Fatalf("%s %s: %d %s", method, url, res.StatusCode, b)
	}
}

// scrape reads the Prometheus text format and returns every series name it
// exports: a histogram as its _bucket, _sum and _count series (its bare name
// is no series), a summary as its quantiles plus _sum and _count. A family
// with no sample yet (a labelled vector nobody touched) exports nothing.
func scrape(t *testing.T, url string) map[string]bool {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("scrape %s: %d", url, res.StatusCode)
	}
	out := map[string]bool{}
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		out[name] = true
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
