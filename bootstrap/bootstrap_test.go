package bootstrap

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/test/testenv"
)

func get(t *testing.T, url string, hdr ...string) (int, string) {
	t.Helper()
	return do(t, http.MethodGet, url, "", hdr...)
}

func do(t *testing.T, method, url, body string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func start(t *testing.T, cfg Config) *Embedded {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	e, err := StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return e
}

// The zero configuration is the embedded profile and serves a whole sale.
func TestEmbeddedProfileWithNoConfiguration(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	cfg, err := EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inventory != StrategyMemory || cfg.AdminToken == "" || !cfg.generatedToken {
		t.Fatalf("defaults: inventory %q, token generated %v", cfg.Inventory, cfg.generatedToken)
	}
	cfg.Demo = true
	// The embedded server has no admin listener: read the metrics here.
	cfg.PublicMetrics = true
	e := start(t, cfg)
	if code, body := get(t, e.URL+"/readyz"); code != 200 {
		t.Fatalf("readyz %d %s", code, body)
	}
	code, body := do(t, http.MethodPost, e.URL+"/v1/drops/"+DemoSeatedID+"/claims", `{"seat":"B-3"}`, "X-User-ID", "ann")
	if code != 201 || !strings.Contains(body, `"seat":"B-3"`) {
		t.Fatalf("claim on the demo drop: %d %s", code, body)
	}
	if code, body := get(t, e.URL+"/v1/admin/drops/"+DemoQueuedID+"/stats", "Authorization", "Bearer "+e.AdminToken); code != 200 {
		t.Fatalf("admin stats with the generated token: %d %s", code, body)
	}
	_, metrics := get(t, e.URL+"/metrics")
	for _, name := range []string{"fastdeal_persist_seconds_bucket", "fastdeal_issued_total", "fastdeal_line_length{drop=\"" + DemoQueuedID + "\"}", "fastdeal_http_requests_total", "fastdeal_claims_total"} {
		if !strings.Contains(metrics, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
}

func TestConfigRejectsWhatCannotWork(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"unknown strategy":        {"FASTDEAL_INVENTORY": "bogus"},
		"redis without address":   {"FASTDEAL_INVENTORY": "redis"},
		"mysql without dsn":       {"FASTDEAL_INVENTORY": "mysql"},
		"redislock without mysql": {"FASTDEAL_INVENTORY": "redislock", "FASTDEAL_REDIS_ADDR": "127.0.0.1:1"},
		"master without sentinel": {"FASTDEAL_REDIS_MASTER": "m"},
		"tiny body limit":         {"FASTDEAL_BODY_LIMIT": "10"},
		"duration not parseable":  {"FASTDEAL_STORE_TIMEOUT": "soon"},
		"negative flush delay":    {"FASTDEAL_REDIS_FLUSH_DELAY": "-1ms"},
		"flush delay of a second": {"FASTDEAL_REDIS_FLUSH_DELAY": "1s"},
	} {
		t.Run(name, func(t *testing.T) {
			testenv.ClearFastdealEnv(t)
			for k, v := range env {
				t.Setenv(k, v)
			}
			if _, err := LoadConfig(); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestTakenPortFailsStart(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	e := start(t, mustEmbedded(t))
	cfg := mustEmbedded(t)
	cfg.HTTPAddr = strings.TrimPrefix(e.URL, "http://")
	app, err := newApp(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := app.Start(ctx); err == nil || !strings.Contains(err.Error(), "FASTDEAL_HTTP_ADDR") {
		_ = app.Stop(ctx)
		t.Fatalf("start on a taken port: %v, want an error naming FASTDEAL_HTTP_ADDR", err)
	}
}

func mustEmbedded(t *testing.T) Config {
	cfg, err := EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// The full profile refuses an unmigrated database, naming the command, then
// serves once migrated, with both stores in /readyz.
func TestFullProfile(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	dsn := testenv.FreshDatabase(t, "fdboot")
	t.Setenv("FASTDEAL_MYSQL_DSN", dsn)
	t.Setenv("FASTDEAL_REDIS_ADDR", testenv.RedisAddr())
	cfg, err := EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Inventory != StrategyRedis {
		t.Fatalf("with Redis and MySQL the default strategy is %q, want redis", cfg.Inventory)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := StartEmbedded(ctx, cfg); err == nil || !strings.Contains(err.Error(), "fastdeal migrate up") {
		t.Fatalf("start on an unmigrated database: %v, want a message naming `fastdeal migrate up`", err)
	}
	if _, err := Migrate(ctx, cfg, "up"); err != nil {
		t.Fatal(err)
	}
	for _, strategy := range []string{StrategyRedis, StrategyMySQL, StrategyRedisLock} {
		t.Run(strategy, func(t *testing.T) {
			c := cfg
			c.Inventory = strategy
			c.PublicMetrics = true // the embedded server has no admin listener
			e := start(t, c)
			code, body := get(t, e.URL+"/readyz")
			if code != 200 || !strings.Contains(body, "mysql") || !strings.Contains(body, "redis") {
				t.Fatalf("readyz: %d %s", code, body)
			}
			id := "boot-" + strategy + fmt.Sprint(time.Now().UnixNano())
			if code, body := do(t, http.MethodPost, e.URL+"/v1/admin/drops", `{"id":"`+id+`","name":"n","kind":"general","stock":3}`,
				"Authorization", "Bearer "+e.AdminToken); code != 201 {
				t.Fatalf("create: %d %s", code, body)
			}
			if code, body := do(t, http.MethodPost, e.URL+"/v1/drops/"+id+"/claims", `{}`, "X-User-ID", "u1"); code != 201 {
				t.Fatalf("claim: %d %s", code, body)
			}
			_, metrics := get(t, e.URL+"/metrics")
			if !strings.Contains(metrics, "fastdeal_ledger_batches_total") {
				t.Error("/metrics lacks the group-commit writer's counters")
			}
		})
	}
}

// FASTDEAL_REDIS_CLUSTER=true with the cluster's nodes in FASTDEAL_REDIS_ADDR:
// the service starts on the cluster client, /readyz reports the cluster's
// state, and drops spread over its masters sell.
func TestFullProfileOnRedisCluster(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	seeds := testenv.RedisClusterAddrs()
	if seeds == nil {
		t.Skip("FASTDEAL_TEST_REDIS_CLUSTER=off")
	}
	t.Setenv("FASTDEAL_MYSQL_DSN", testenv.FreshDatabase(t, "fdcluster"))
	t.Setenv("FASTDEAL_REDIS_ADDR", strings.Join(seeds, ","))
	t.Setenv("FASTDEAL_REDIS_CLUSTER", "true")
	t.Setenv("FASTDEAL_PUBLIC_METRICS", "true")
	cfg, err := EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Migrate(ctx, cfg, "up"); err != nil {
		t.Fatal(err)
	}
	e := start(t, cfg)
	code, body := get(t, e.URL+"/readyz")
	if code != 200 || !strings.Contains(body, `"redis":"ok (cluster: ok, `) || !strings.Contains(body, "16384/16384 slots") {
		t.Fatalf("readyz: %d %s", code, body)
	}
	for i := range 12 {
		id := fmt.Sprintf("cl%d-%d", i, time.Now().UnixNano())
		if code, body := do(t, http.MethodPost, e.URL+"/v1/admin/drops", `{"id":"`+id+`","name":"n","kind":"general","stock":1}`,
			"Authorization", "Bearer "+e.AdminToken); code != 201 {
			t.Fatalf("create: %d %s", code, body)
		}
		if code, body := do(t, http.MethodPost, e.URL+"/v1/drops/"+id+"/claims", `{}`, "X-User-ID", "u1"); code != 201 {
			t.Fatalf("claim on %s: %d %s", id, code, body)
		}
		if code, body := do(t, http.MethodPost, e.URL+"/v1/drops/"+id+"/claims", `{}`, "X-User-ID", "u2"); code != 409 {
			t.Fatalf("second claim on %s (stock 1): %d %s", id, code, body)
		}
	}
}

// Two instances share MySQL and Redis; an admin change made through one is
// what buyers of the other see within a second (the design: admit-rate
// changes reach every instance within one second), and so is a pause.
func TestAdminChangesReachEveryInstanceWithinASecond(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_MYSQL_DSN", testenv.FreshDatabase(t, "fdlive"))
	t.Setenv("FASTDEAL_REDIS_ADDR", testenv.RedisAddr())
	t.Setenv("FASTDEAL_ADMIN_TOKEN", "live-admin")
	cfg, err := EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := Migrate(ctx, cfg, "up"); err != nil {
		t.Fatal(err)
	}
	a, b := start(t, cfg), start(t, cfg)
	auth := []string{"Authorization", "Bearer live-admin"}
	id := fmt.Sprintf("live-%d", time.Now().UnixNano())
	if code, body := do(t, http.MethodPost, a.URL+"/v1/admin/drops", `{"id":"`+id+`","name":"n","kind":"seated","seats":["A-1","A-2"],"admission":"queued","admit_rate":10}`, auth...); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	// Let b cache the drop first, so the test measures propagation, not a miss.
	if code, body := get(t, b.URL+"/v1/drops/"+id); code != 200 || !strings.Contains(body, `"admit_rate":10`) {
		t.Fatalf("b before the change: %d %s", code, body)
	}
	for _, change := range []struct{ patch, want string }{
		{`{"admit_rate":777}`, `"admit_rate":777`},
		{`{"paused":true}`, `"paused":true`},
		{`{"max_active":3}`, `"max_active":3`},
	} {
		if code, body := do(t, http.MethodPatch, a.URL+"/v1/admin/drops/"+id, change.patch, auth...); code != 200 {
			t.Fatalf("patch %s: %d %s", change.patch, code, body)
		}
		// The promise is that any read sent a second after the change sees
		// it. Reads sent earlier may or may not; a read that is merely slow
		// to answer on a busy machine is judged by when it was sent.
		changed := time.Now()
		for {
			sent := time.Now()
			_, body := get(t, b.URL+"/v1/drops/"+id)
			if strings.Contains(body, change.want) {
				t.Logf("%s reached the other instance after %s", change.patch, sent.Sub(changed).Round(time.Millisecond))
				break
			}
			if sent.Sub(changed) > time.Second {
				t.Fatalf("%s not visible on the other instance to a read sent %s after it: %s", change.patch, sent.Sub(changed), body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
