package infra

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// These tests keep the two runnings of one topology in step: docker-compose.yml (with
// infra/nginx/upstream.conf) and infra/local/stack must agree with infra/stack.env, the
// single source of truth for ports and shared settings. Change one without the other and
// a test here fails, naming both sides.

const (
	stackEnvPath   = "stack.env"
	composePath    = "../docker-compose.yml"
	envExamplePath = "../.env.example"
	dotEnvPath     = "../.env"
	stackScript    = "local/stack"
	nginxConfPath  = "nginx/nginx.conf"
	upstreamPath   = "nginx/upstream.conf"
)

// Ports of the machine's own services that the stack must never bind.
var reservedPorts = map[int]string{3306: "the machine's MariaDB", 6379: "the machine's Redis"}

// ---- fixtures ---------------------------------------------------------------------------

type envFile struct {
	values map[string]string
	keys   []string
}

var envLine = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)=(.*)$`)

// readEnvFile reads KEY=VALUE lines the way infra/local/stack and docker compose's
// --env-file do: literally, # comments and blank lines skipped, one pair of quotes stripped.
func readEnvFile(t *testing.T, path string, mustExist bool) envFile {
	t.Helper()
	ef := envFile{values: map[string]string{}}
	f, err := os.Open(path)
	if err != nil {
		if !mustExist && os.IsNotExist(err) {
			return ef
		}
		t.Fatalf("open %s: %v", path, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimRight(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		m := envLine.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("%s:%d: not KEY=VALUE: %q", path, n, line)
		}
		v := m[2]
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		if _, dup := ef.values[m[1]]; dup {
			t.Errorf("%s:%d: %s set twice", path, n, m[1])
		}
		ef.values[m[1]] = v
		ef.keys = append(ef.keys, m[1])
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return ef
}

// settings is infra/stack.env overridden by .env when present: the precedence that both
// `docker compose --env-file infra/stack.env --env-file .env` and infra/local/stack use.
func settings(t *testing.T) map[string]string {
	t.Helper()
	merged := map[string]string{}
	for k, v := range readEnvFile(t, stackEnvPath, true).values {
		merged[k] = v
	}
	for k, v := range readEnvFile(t, dotEnvPath, false).values {
		merged[k] = v
	}
	return merged
}

func need(t *testing.T, s map[string]string, key string) string {
	t.Helper()
	v, ok := s[key]
	if !ok || v == "" {
		t.Fatalf("infra/stack.env: %s is not set", key)
	}
	return v
}

func needInt(t *testing.T, s map[string]string, key string) int {
	t.Helper()
	v := need(t, s, key)
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatalf("infra/stack.env: %s=%q is not a number", key, v)
	}
	return n
}

// components expands STACK_COMPONENTS: "app" stands for app1..appN.
func components(t *testing.T, s map[string]string) (listed []string, services []string) {
	t.Helper()
	listed = strings.Split(need(t, s, "STACK_COMPONENTS"), ",")
	n := needInt(t, s, "APP_REPLICAS")
	for _, c := range listed {
		if c == "app" {
			for i := 1; i <= n; i++ {
				services = append(services, fmt.Sprintf("app%d", i))
			}
			continue
		}
		services = append(services, c)
	}
	return listed, services
}

var varRef = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate applies compose's ${VAR}, ${VAR:-default}, ${VAR:?err}, $VAR and $$ rules.
func interpolate(s string, vars map[string]string, refs map[string]bool) (string, error) {
	var firstErr error
	out := varRef.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := varRef.FindStringSubmatch(m)
		name, op, arg := sub[1], sub[2], sub[3]
		if name == "" {
			name = sub[4]
		}
		refs[name] = true
		v, set := vars[name]
		switch op {
		case ":-":
			if v == "" {
				return arg
			}
		case "-":
			if !set {
				return arg
			}
		case ":?", "?":
			if !set || (op == ":?" && v == "") {
				if firstErr == nil {
					firstErr = fmt.Errorf("required variable %s is missing: %s", name, arg)
				}
			}
		default:
			if !set && firstErr == nil {
				firstErr = fmt.Errorf("variable %s is not set (infra/stack.env or .env.example)", name)
			}
		}
		return v
	})
	return out, firstErr
}

type service struct {
	Command     any               `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
		// Required false: a dependency on a service of a profile that may be off.
		Required *bool `yaml:"required"`
	} `yaml:"depends_on"`
	Healthcheck struct {
		Test []string `yaml:"test"`
	} `yaml:"healthcheck"`
	Restart         string   `yaml:"restart"`
	StopGracePeriod string   `yaml:"stop_grace_period"`
	Image           string   `yaml:"image"`
	Profiles        []string `yaml:"profiles"`
}

func (s service) commandText() string {
	switch c := s.Command.(type) {
	case string:
		return c
	case []any:
		parts := make([]string, len(c))
		for i, p := range c {
			parts[i] = fmt.Sprint(p)
		}
		return strings.Join(parts, " ")
	}
	return ""
}

type compose struct {
	Services map[string]service `yaml:"services"`
	// Optional: services in a compose profile (observability), which the default `up`
	// does not start; they are not STACK_COMPONENTS and are checked by their own tests.
	Optional map[string]service `yaml:"-"`
	// refs: every variable the file interpolates.
	refs map[string]bool
}

// loadCompose reads docker-compose.yml (YAML anchors and merge keys resolved), interpolates
// it with the settings plus stand-in secrets, and decodes the services.
func loadCompose(t *testing.T, s map[string]string) compose {
	t.Helper()
	raw, err := os.ReadFile(composePath)
	if err != nil {
		t.Fatalf("read docker-compose.yml: %v", err)
	}
	var tree any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		t.Fatalf("parse docker-compose.yml: %v", err)
	}
	vars := map[string]string{}
	for k, v := range s {
		vars[k] = v
	}
	for k, v := range readEnvFile(t, envExamplePath, true).values {
		if vars[k] == "" {
			vars[k] = v
		}
		if vars[k] == "" {
			vars[k] = "stand-in-secret-" + strings.ToLower(k)
		}
	}
	refs := map[string]bool{}
	var walk func(any) any
	walk = func(n any) any {
		switch v := n.(type) {
		case string:
			out, err := interpolate(v, vars, refs)
			if err != nil {
				t.Errorf("docker-compose.yml: %v (in %q)", err, v)
			}
			return out
		case map[string]any:
			for k, x := range v {
				v[k] = walk(x)
			}
		case []any:
			for i, x := range v {
				v[i] = walk(x)
			}
		}
		return n
	}
	tree = walk(tree)
	// Round-trip through YAML to decode the interpolated tree into typed services.
	out, err := yaml.Marshal(tree)
	if err != nil {
		t.Fatal(err)
	}
	var c compose
	if err := yaml.Unmarshal(out, &c); err != nil {
		t.Fatalf("decode interpolated docker-compose.yml: %v", err)
	}
	c.refs = refs
	c.Optional = map[string]service{}
	for name, svc := range c.Services {
		if len(svc.Profiles) > 0 {
			c.Optional[name] = svc
			delete(c.Services, name)
		}
	}
	return c
}

// rendered runs `infra/local/stack render` into a temporary directory with a clean
// environment, so the test sees exactly what the script would start.
type rendered struct{ dir string }

func renderLocal(t *testing.T, apps int) rendered {
	t.Helper()
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("bash not available")
	}
	dir := t.TempDir()
	cmd := exec.Command("bash", stackScript, "render", filepath.Join(dir, "out"), "--apps", strconv.Itoa(apps))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "STACK_DIR=" + filepath.Join(dir, "state")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("infra/local/stack render: %v\n%s", err, out)
	}
	return rendered{dir: filepath.Join(dir, "out")}
}

func (r rendered) file(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.dir, rel))
	if err != nil {
		t.Fatalf("rendered %s: %v", rel, err)
	}
	return string(b)
}

func (r rendered) appEnv(t *testing.T, name string) map[string]string {
	t.Helper()
	return readEnvFile(t, filepath.Join(r.dir, "apps", name+".env"), true).values
}

// confLines returns the lines of a redis/sentinel config that start with prefix.
func confLines(text, prefix string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return out
}

func mustOne(t *testing.T, what string, lines []string) string {
	t.Helper()
	if len(lines) != 1 {
		t.Fatalf("%s: want exactly one line, got %q", what, lines)
	}
	return lines[0]
}

func portOf(t *testing.T, addr string) string {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		t.Fatalf("%q has no port", addr)
	}
	return addr[i+1:]
}

var upstreamServer = regexp.MustCompile(`(?m)^\s*server\s+(\S+)`)

// ---- tests ------------------------------------------------------------------------------

func TestStackEnvIsLiteralAndComplete(t *testing.T) {
	ef := readEnvFile(t, stackEnvPath, true)
	for _, k := range ef.keys {
		v := ef.values[k]
		if strings.ContainsAny(v, " \t$\"'`()") {
			t.Errorf("infra/stack.env: %s=%q: values must be literal (no spaces, quotes, $ or parentheses) so compose and bash read the same thing", k, v)
		}
	}
	s := settings(t)
	n := needInt(t, s, "APP_REPLICAS")
	if n < 1 {
		t.Fatalf("APP_REPLICAS=%d", n)
	}
	// App ports: exactly APP1..APPn declared, following APP1_PORT+i-1.
	base, adminBase := needInt(t, s, "APP1_PORT"), needInt(t, s, "APP1_ADMIN_PORT")
	for i := 1; i <= n; i++ {
		if got := needInt(t, s, fmt.Sprintf("APP%d_PORT", i)); got != base+i-1 {
			t.Errorf("APP%d_PORT=%d, want APP1_PORT+%d = %d (infra/local/stack derives ports beyond the declared ones that way)", i, got, i-1, base+i-1)
		}
		if got := needInt(t, s, fmt.Sprintf("APP%d_ADMIN_PORT", i)); got != adminBase+i-1 {
			t.Errorf("APP%d_ADMIN_PORT=%d, want APP1_ADMIN_PORT+%d = %d", i, got, i-1, adminBase+i-1)
		}
	}
	appKey := regexp.MustCompile(`^APP(\d+)_(ADMIN_)?PORT$`)
	for k := range s {
		if m := appKey.FindStringSubmatch(k); m != nil {
			if i, _ := strconv.Atoi(m[1]); i > n {
				t.Errorf("%s is declared but APP_REPLICAS=%d: raise APP_REPLICAS (and add app%d to docker-compose.yml) or drop it", k, n, i)
			}
		}
	}
	// Every port of the stack distinct, and none of the machine's own services.
	seen := map[int]string{}
	for k := range s {
		if !strings.HasSuffix(k, "_PORT") || k == "MYSQL_PORT" || k == "LOCAL_MYSQL_PORT" {
			continue
		}
		p := needInt(t, s, k)
		if who, bad := reservedPorts[p]; bad {
			t.Errorf("%s=%d clashes with %s", k, p, who)
		}
		if other, dup := seen[p]; dup {
			t.Errorf("%s and %s are both %d", k, other, p)
		}
		seen[p] = k
	}
	// Quorum: a majority of the three sentinels, so a lone partitioned one cannot fail over.
	if q := needInt(t, s, "SENTINEL_QUORUM"); q < 2 || q > 3 {
		t.Errorf("SENTINEL_QUORUM=%d: with 3 sentinels it must be 2 or 3", q)
	}
}

func TestComposeServicesMatchStackComponents(t *testing.T) {
	s := settings(t)
	listed, want := components(t, s)
	c := loadCompose(t, s)
	var got []string
	for name := range c.Services {
		got = append(got, name)
	}
	sort.Strings(got)
	wantSorted := slices.Clone(want)
	sort.Strings(wantSorted)
	if !slices.Equal(got, wantSorted) {
		t.Errorf("docker-compose.yml services %v != STACK_COMPONENTS expanded with APP_REPLICAS=%s %v", got, s["APP_REPLICAS"], wantSorted)
	}

	// The local stack starts each component with a start_<name> function.
	script, err := os.ReadFile(stackScript)
	if err != nil {
		t.Fatal(err)
	}
	defined := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^(start_[a-z0-9_]+)\(\)`).FindAllStringSubmatch(string(script), -1) {
		defined[m[1]] = true
	}
	for _, comp := range listed {
		fn := "start_" + strings.ReplaceAll(comp, "-", "_")
		if !defined[fn] {
			t.Errorf("infra/local/stack has no %s() for component %q of STACK_COMPONENTS", fn, comp)
		}
	}

	// Start order: every compose dependency of a service comes earlier in STACK_COMPONENTS,
	// the order infra/local/stack starts them in.
	pos := map[string]int{}
	for i, name := range want {
		pos[name] = i
	}
	for name, svc := range c.Services {
		for dep, d := range svc.DependsOn {
			if _, optional := c.Optional[dep]; optional {
				// A profile's service (the cluster): the default `up` does not
				// start it, so the dependency must not be required.
				if d.Required == nil || *d.Required {
					t.Errorf("%s depends on %s of a profile without required: false", name, dep)
				}
				continue
			}
			if _, ok := pos[dep]; !ok {
				t.Errorf("%s depends on unknown service %s", name, dep)
				continue
			}
			if pos[dep] >= pos[name] {
				t.Errorf("%s depends on %s, but STACK_COMPONENTS starts %s first", name, dep, name)
			}
		}
	}
}

func TestComposeAndLocalAppsAgree(t *testing.T) {
	s := settings(t)
	_, services := components(t, s)
	c := loadCompose(t, s)
	n := needInt(t, s, "APP_REPLICAS")
	r := renderLocal(t, n)

	var apps []string
	for _, name := range services {
		if strings.HasPrefix(name, "app") {
			apps = append(apps, name)
		}
	}
	sentinelPorts := []string{need(t, s, "SENTINEL1_PORT"), need(t, s, "SENTINEL2_PORT"), need(t, s, "SENTINEL3_PORT")}
	var composeNames []string
	for i, name := range apps {
		svc, ok := c.Services[name]
		if !ok {
			t.Errorf("docker-compose.yml lacks %s", name)
			continue
		}
		local := r.appEnv(t, name)
		port, admin := need(t, s, fmt.Sprintf("APP%d_PORT", i+1)), need(t, s, fmt.Sprintf("APP%d_ADMIN_PORT", i+1))

		var cn, ln []string
		for k := range svc.Environment {
			cn = append(cn, k)
		}
		for k := range local {
			ln = append(ln, k)
		}
		sort.Strings(cn)
		sort.Strings(ln)
		if !slices.Equal(cn, ln) {
			t.Errorf("%s: env var names differ\n compose: %v\n local:   %v", name, cn, ln)
		}
		if i == 0 {
			composeNames = cn
		} else if !slices.Equal(cn, composeNames) {
			t.Errorf("%s env names %v differ from app1's %v", name, cn, composeNames)
		}

		checks := []struct{ key, compose, local string }{
			{"FASTDEAL_HTTP_ADDR", ":" + port, "127.0.0.1:" + port},
			{"FASTDEAL_ADMIN_ADDR", ":" + admin, "127.0.0.1:" + admin},
			{"FASTDEAL_INSTANCE_ID", name, name},
			{"FASTDEAL_REDIS_MASTER", need(t, s, "REDIS_MASTER_NAME"), need(t, s, "REDIS_MASTER_NAME")},
			{"FASTDEAL_REDIS_SENTINELS",
				"sentinel1:" + sentinelPorts[0] + ",sentinel2:" + sentinelPorts[1] + ",sentinel3:" + sentinelPorts[2],
				"127.0.0.1:" + sentinelPorts[0] + ",127.0.0.1:" + sentinelPorts[1] + ",127.0.0.1:" + sentinelPorts[2]},
		}
		for _, key := range []string{"FASTDEAL_INVENTORY", "FASTDEAL_LOG_LEVEL", "FASTDEAL_SHUTDOWN_TIMEOUT"} {
			checks = append(checks, struct{ key, compose, local string }{key, need(t, s, key), need(t, s, key)})
		}
		for _, ck := range checks {
			if got := svc.Environment[ck.key]; got != ck.compose {
				t.Errorf("docker-compose.yml %s: %s=%q, want %q", name, ck.key, got, ck.compose)
			}
			if got := local[ck.key]; got != ck.local {
				t.Errorf("infra/local/stack %s: %s=%q, want %q", name, ck.key, got, ck.local)
			}
		}
		if !strings.Contains(svc.Environment["FASTDEAL_MYSQL_DSN"], "parseTime=true") ||
			!strings.Contains(local["FASTDEAL_MYSQL_DSN"], "parseTime=true") {
			t.Errorf("%s: FASTDEAL_MYSQL_DSN needs parseTime=true in both topologies", name)
		}
		if !strings.Contains(strings.Join(svc.Healthcheck.Test, " "), ":"+port+"/readyz") {
			t.Errorf("%s healthcheck %v does not probe :%s/readyz", name, svc.Healthcheck.Test, port)
		}
		if got := svc.DependsOn["migrate"].Condition; got != "service_completed_successfully" {
			t.Errorf("%s must wait for migrate with service_completed_successfully, has %q", name, got)
		}
		grace := needInt(t, s, "APP_STOP_GRACE_SECONDS")
		if svc.StopGracePeriod != fmt.Sprintf("%ds", grace) {
			t.Errorf("%s stop_grace_period=%q, want %ds (APP_STOP_GRACE_SECONDS)", name, svc.StopGracePeriod, grace)
		}
		if shutdown := strings.TrimSuffix(need(t, s, "FASTDEAL_SHUTDOWN_TIMEOUT"), "s"); shutdown != "" {
			if sd, err := strconv.Atoi(shutdown); err == nil && grace <= sd {
				t.Errorf("APP_STOP_GRACE_SECONDS=%d must exceed FASTDEAL_SHUTDOWN_TIMEOUT=%ss", grace, shutdown)
			}
		}
	}

	// The migration job: same DSN as the apps, in compose and locally.
	mig, ok := c.Services["migrate"]
	if !ok {
		t.Fatal("docker-compose.yml lacks migrate")
	}
	if mig.commandText() != "migrate up" {
		t.Errorf("migrate command %q, want \"migrate up\"", mig.commandText())
	}
	if mig.Restart != "no" {
		t.Errorf("migrate must be one-shot (restart: \"no\"), has %q", mig.Restart)
	}
	if got := mig.DependsOn["mysql"].Condition; got != "service_healthy" {
		t.Errorf("migrate must wait for a healthy mysql, has %q", got)
	}
	if len(apps) > 0 {
		if mig.Environment["FASTDEAL_MYSQL_DSN"] != c.Services[apps[0]].Environment["FASTDEAL_MYSQL_DSN"] {
			t.Errorf("compose migrate and %s use different FASTDEAL_MYSQL_DSN", apps[0])
		}
		localMig := readEnvFile(t, filepath.Join(r.dir, "apps", "migrate.env"), true).values
		if localMig["FASTDEAL_MYSQL_DSN"] != r.appEnv(t, apps[0])["FASTDEAL_MYSQL_DSN"] {
			t.Errorf("local migrate and %s use different FASTDEAL_MYSQL_DSN", apps[0])
		}
	}
}

func TestRedisAndSentinelsAgree(t *testing.T) {
	s := settings(t)
	c := loadCompose(t, s)
	r := renderLocal(t, needInt(t, s, "APP_REPLICAS"))
	masterPort, replicaPort := need(t, s, "REDIS_MASTER_PORT"), need(t, s, "REDIS_REPLICA_PORT")
	name, quorum := need(t, s, "REDIS_MASTER_NAME"), need(t, s, "SENTINEL_QUORUM")

	nodes := []struct{ svc, port, replicaOf string }{
		{"redis-master", masterPort, ""},
		{"redis-replica", replicaPort, masterPort},
	}
	for _, nd := range nodes {
		cmd := c.Services[nd.svc].commandText()
		local := r.file(t, nd.svc+"/redis.conf")
		if !strings.Contains(cmd, "'port "+nd.port+"'") {
			t.Errorf("docker-compose.yml %s does not configure port %s: %s", nd.svc, nd.port, cmd)
		}
		if got := mustOne(t, "local "+nd.svc+" port", confLines(local, "port ")); got != "port "+nd.port {
			t.Errorf("infra/local/stack %s: %q, want port %s", nd.svc, got, nd.port)
		}
		if nd.replicaOf != "" {
			if !strings.Contains(cmd, "'replicaof redis-master "+nd.replicaOf+"'") {
				t.Errorf("docker-compose.yml %s is not a replica of redis-master:%s", nd.svc, nd.replicaOf)
			}
			if got := mustOne(t, "local replicaof", confLines(local, "replicaof ")); got != "replicaof 127.0.0.1 "+nd.replicaOf {
				t.Errorf("infra/local/stack %s: %q, want replicaof 127.0.0.1 %s", nd.svc, got, nd.replicaOf)
			}
		}
		if !strings.Contains(cmd, "/usr/local/etc/redis/redis.conf") || !slices.Contains(c.Services[nd.svc].Volumes, "./infra/redis/redis.conf:/usr/local/etc/redis/redis.conf:ro") {
			t.Errorf("docker-compose.yml %s must start from infra/redis/redis.conf", nd.svc)
		}
		if !strings.Contains(strings.Join(c.Services[nd.svc].Healthcheck.Test, " "), nd.port) {
			t.Errorf("docker-compose.yml %s healthcheck does not use port %s", nd.svc, nd.port)
		}
	}

	for i := 1; i <= 3; i++ {
		svcName := fmt.Sprintf("sentinel%d", i)
		port := need(t, s, fmt.Sprintf("SENTINEL%d_PORT", i))
		cmd := c.Services[svcName].commandText()
		local := r.file(t, svcName+"/sentinel.conf")
		want := map[string][2]string{ // setting -> compose line, local line
			"port":    {"port " + port, "port " + port},
			"monitor": {fmt.Sprintf("sentinel monitor %s redis-master %s %s", name, masterPort, quorum), fmt.Sprintf("sentinel monitor %s 127.0.0.1 %s %s", name, masterPort, quorum)},
			"down":    {fmt.Sprintf("sentinel down-after-milliseconds %s %s", name, need(t, s, "SENTINEL_DOWN_AFTER_MS")), ""},
			"fail":    {fmt.Sprintf("sentinel failover-timeout %s %s", name, need(t, s, "SENTINEL_FAILOVER_TIMEOUT_MS")), ""},
			"sync":    {fmt.Sprintf("sentinel parallel-syncs %s %s", name, need(t, s, "SENTINEL_PARALLEL_SYNCS")), ""},
		}
		for what, lines := range want {
			composeLine, localLine := lines[0], lines[1]
			if localLine == "" {
				localLine = composeLine
			}
			if !strings.Contains(cmd, "'"+composeLine+"'") {
				t.Errorf("docker-compose.yml %s lacks %q (%s)", svcName, composeLine, what)
			}
			prefix := strings.Join(strings.Fields(localLine)[:2], " ") + " "
			if what == "port" {
				prefix = "port "
			}
			if got := mustOne(t, "local "+svcName+" "+what, confLines(local, prefix)); got != localLine {
				t.Errorf("infra/local/stack %s: %q, want %q", svcName, got, localLine)
			}
		}
		if !strings.Contains(strings.Join(c.Services[svcName].Healthcheck.Test, " "), port) {
			t.Errorf("docker-compose.yml %s healthcheck does not use port %s", svcName, port)
		}
	}
}

func TestNginxUpstreamMatchesApps(t *testing.T) {
	s := settings(t)
	_, services := components(t, s)
	c := loadCompose(t, s)
	n := needInt(t, s, "APP_REPLICAS")
	nginxPort := need(t, s, "NGINX_PORT")

	conf, err := os.ReadFile(nginxConfPath)
	if err != nil {
		t.Fatal(err)
	}
	listens := regexp.MustCompile(`(?m)^\s*listen\s+(\S+)`).FindAllStringSubmatch(string(conf), -1)
	if len(listens) != 1 || strings.TrimSuffix(listens[0][1], ";") != nginxPort {
		t.Errorf("infra/nginx/nginx.conf listen %v, want exactly one `listen %s` (NGINX_PORT)", listens, nginxPort)
	}
	upstreamBlock := regexp.MustCompile(`(?s)upstream\s+fastdeal_apps\s*\{(.*?)\}`).FindStringSubmatch(string(conf))
	if upstreamBlock == nil {
		t.Fatal("infra/nginx/nginx.conf has no `upstream fastdeal_apps { ... }`")
	}
	for _, want := range []string{"include upstream.conf;", "keepalive "} {
		if !strings.Contains(upstreamBlock[1], want) {
			t.Errorf("upstream fastdeal_apps lacks %q", want)
		}
	}

	// Compose: infra/nginx/upstream.conf lists exactly the app services, on their ports.
	var wantCompose, wantLocal []string
	for _, name := range services {
		if strings.HasPrefix(name, "app") {
			i, _ := strconv.Atoi(strings.TrimPrefix(name, "app"))
			port := need(t, s, fmt.Sprintf("APP%d_PORT", i))
			wantCompose = append(wantCompose, name+":"+port)
			wantLocal = append(wantLocal, "127.0.0.1:"+port)
			if got := portOf(t, c.Services[name].Environment["FASTDEAL_HTTP_ADDR"]); got != port {
				t.Errorf("compose %s listens on %s but upstream expects %s", name, got, port)
			}
		}
	}
	up, err := os.ReadFile(upstreamPath)
	if err != nil {
		t.Fatal(err)
	}
	var gotCompose []string
	for _, m := range upstreamServer.FindAllStringSubmatch(string(up), -1) {
		gotCompose = append(gotCompose, m[1])
	}
	if !slices.Equal(gotCompose, wantCompose) {
		t.Errorf("infra/nginx/upstream.conf servers %v, want %v (app services and APPi_PORT)", gotCompose, wantCompose)
	}

	// Local: the rendered upstream for APP_REPLICAS apps.
	r := renderLocal(t, n)
	var gotLocal []string
	for _, m := range upstreamServer.FindAllStringSubmatch(r.file(t, "nginx/upstream.conf"), -1) {
		gotLocal = append(gotLocal, m[1])
	}
	if !slices.Equal(gotLocal, wantLocal) {
		t.Errorf("infra/local/stack upstream %v, want %v", gotLocal, wantLocal)
	}
	if !strings.Contains(r.file(t, "nginx/nginx.conf"), "listen 127.0.0.1:"+nginxPort+" ") {
		t.Errorf("infra/local/stack nginx does not listen on 127.0.0.1:%s", nginxPort)
	}

	// Compose nginx: publishes NGINX_PORT, mounts both files, waits for every app.
	ng := c.Services["nginx"]
	if want := need(t, s, "NGINX_BIND") + ":" + nginxPort + ":" + nginxPort; !slices.Equal(ng.Ports, []string{want}) {
		t.Errorf("compose nginx ports %v, want [%s]", ng.Ports, want)
	}
	for _, v := range []string{"./infra/nginx/nginx.conf:/etc/nginx/nginx.conf:ro", "./infra/nginx/upstream.conf:/etc/nginx/upstream.conf:ro"} {
		if !slices.Contains(ng.Volumes, v) {
			t.Errorf("compose nginx lacks volume %s", v)
		}
	}
	for _, name := range services {
		if strings.HasPrefix(name, "app") && ng.DependsOn[name].Condition != "service_healthy" {
			t.Errorf("compose nginx must wait for %s to be healthy", name)
		}
	}
}

func TestLocalNginxConfigPassesNginxT(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx not installed (apt-get install nginx)")
	}
	s := settings(t)
	r := renderLocal(t, needInt(t, s, "APP_REPLICAS")+1)
	dir := filepath.Join(r.dir, "nginx")
	out, err := exec.Command(nginx, "-t", "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr",
		"-g", "pid "+filepath.Join(dir, "nginx.pid")+";").CombinedOutput()
	if err != nil {
		t.Fatalf("nginx -t on the rendered config: %v\n%s", err, out)
	}
}

func TestEnvExampleListsEverySetting(t *testing.T) {
	stack := readEnvFile(t, stackEnvPath, true)
	example, err := os.ReadFile(envExamplePath)
	if err != nil {
		t.Fatal(err)
	}
	// Settings appear as `KEY=value` or commented `# KEY=value`.
	listed := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^#?\s*([A-Z][A-Z0-9_]*)=(\S*)`).FindAllStringSubmatch(string(example), -1) {
		listed[m[1]] = m[2]
	}
	for _, k := range stack.keys {
		v, ok := listed[k]
		if !ok {
			t.Errorf(".env.example does not list %s (infra/stack.env)", k)
		} else if v != stack.values[k] {
			t.Errorf(".env.example shows %s=%s but infra/stack.env has %s", k, v, stack.values[k])
		}
	}
	c := loadCompose(t, settings(t))
	for name := range c.refs {
		if _, ok := listed[name]; !ok {
			t.Errorf("docker-compose.yml uses ${%s}, which .env.example does not list", name)
		}
	}
	// Every stack.env setting is used by compose or the local stack: no dead settings.
	script, err := os.ReadFile(stackScript)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range stack.keys {
		if !c.refs[k] && !regexp.MustCompile(`\$\{?`+k+`\b`).Match(script) {
			t.Errorf("infra/stack.env sets %s, but neither docker-compose.yml nor infra/local/stack uses it", k)
		}
	}
}

// The Redis Cluster of the profile `cluster` and the local one of
// `infra/local/stack up --redis cluster` / `make services`: six nodes, the
// same cluster settings, three masters with a replica each, and the apps'
// FASTDEAL_REDIS_ADDR naming all six.
func TestRedisClusterComposeAndLocalAgree(t *testing.T) {
	s := settings(t)
	c := loadCompose(t, s)
	r := renderLocal(t, needInt(t, s, "APP_REPLICAS"))
	first := needInt(t, s, "REDIS_CLUSTER_FIRST_PORT")
	timeout := need(t, s, "REDIS_CLUSTER_NODE_TIMEOUT_MS")
	settingsWanted := []string{"cluster-enabled yes", "cluster-node-timeout " + timeout,
		"cluster-require-full-coverage no", "cluster-replica-validity-factor 0"}
	var composeSeeds, localSeeds []string
	for i := 1; i <= 6; i++ {
		name := fmt.Sprintf("redis-cluster-%d", i)
		svc, ok := c.Optional[name]
		if !ok || !slices.Equal(svc.Profiles, []string{"cluster"}) {
			t.Errorf("docker-compose.yml: %s missing or not in the profile cluster", name)
			continue
		}
		cmd := svc.commandText()
		port := strconv.Itoa(first + i - 1)
		local := r.file(t, "redis-cluster/"+port+"/redis.conf")
		for _, want := range append([]string{"port %d"}, settingsWanted...) {
			cw, lw := want, want
			if strings.Contains(want, "%d") {
				cw, lw = fmt.Sprintf(want, first), fmt.Sprintf(want, first+i-1)
			}
			if !strings.Contains(cmd, "'"+cw+"'") {
				t.Errorf("docker-compose.yml %s lacks %q", name, cw)
			}
			if !slices.Contains(confLines(local, strings.Fields(lw)[0]+" "), lw) {
				t.Errorf("infra/local/stack node %s lacks %q", port, lw)
			}
		}
		if !strings.Contains(cmd, "/usr/local/etc/redis/redis.conf") || !strings.Contains(local, "maxmemory-policy noeviction") {
			t.Errorf("%s must start from infra/redis/redis.conf in both topologies", name)
		}
		composeSeeds = append(composeSeeds, fmt.Sprintf("%s:%d", name, first))
		localSeeds = append(localSeeds, "127.0.0.1:"+port)
	}
	create, ok := c.Optional["redis-cluster-create"]
	if !ok || !strings.Contains(create.commandText(), "--cluster-replicas 1") || len(create.DependsOn) != 6 {
		t.Errorf("docker-compose.yml: redis-cluster-create must join the six nodes with --cluster-replicas 1 once they are healthy")
	}
	script, err := os.ReadFile(stackScript)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(script), "--cluster-replicas 1") {
		t.Error("infra/local/stack does not create the cluster with --cluster-replicas 1")
	}
	if got, want := c.Services["app1"].Environment["FASTDEAL_REDIS_ADDR"], strings.Join(composeSeeds, ","); got != want {
		t.Errorf("docker-compose.yml app1 FASTDEAL_REDIS_ADDR=%q, want %q", got, want)
	}
	if got, want := r.appEnv(t, "app1")["FASTDEAL_REDIS_ADDR"], strings.Join(localSeeds, ","); got != want {
		t.Errorf("infra/local/stack app1 FASTDEAL_REDIS_ADDR=%q, want %q", got, want)
	}
	if c.Services["app1"].Environment["FASTDEAL_REDIS_CLUSTER"] != "false" || r.appEnv(t, "app1")["FASTDEAL_REDIS_CLUSTER"] != "false" {
		t.Error("by default (Sentinel) FASTDEAL_REDIS_CLUSTER must be false in both topologies")
	}
}
