// Package scenarios replays docs/scenarios.md's seed spikes, compressed, against a
// real server: the embedded memory profile and the full MySQL + Redis
// profile. Each run ends with the load generator's audit (no oversell, no
// seat or user twice, every 201 durable, FIFO for the line); a failed audit
// fails the test.
package scenarios

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/bootstrap"
	"github.com/fastdeal/fastdeal/test/load"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// Sizes fit `go test -race` on two cores shared with other test packages: a
// smaller stock and a gentler compression keep every answer inside the
// timeout while still making most claims collide and most buyers wait.
func concertSpike() load.Config {
	c := load.Defaults(load.ConcertSpike)
	c.Stock = 2000
	c.Stages = []load.Stage{{Duration: 10 * time.Second, Rate: 100}, {Duration: 10 * time.Second, Rate: 200}, {Duration: 10 * time.Second, Rate: 300}}
	c.Users = 0
	c.Speed = 2
	return c
}

func couponRush() load.Config {
	c := load.Defaults(load.CouponRush)
	c.Stock = 300
	c.Users = 3000
	c.Speed = 2
	return c
}

// capacityChecks are the audit's checks that measure how much this machine
// can answer in time, not what the server promises: a busy machine that
// answers fewer requests inside the client's timeout, or more 503s inside
// the store timeout, fails them without anything being wrong. They fail the
// test only when some request failed another way.
var capacityChecks = map[string]bool{
	"every request answered":       true,
	"zero failed requests":         true,
	"every user decided":           true,
	"issued == min(stock, demand)": true,
}

// onlyCapacityFailures reports whether every failed request of rep timed out
// at the client or was answered 503 (a store did not answer in time; nothing
// was issued), and how many did.
func onlyCapacityFailures(rep *load.Report) (bool, int64) {
	var n int64
	for _, e := range rep.Endpoints {
		n += e.Errors.Timeout + e.Codes[503]
		if e.Errors.Total() != e.Errors.Timeout || e.Status.S5xx != e.Codes[503] || e.Status.Other != 0 {
			return false, n
		}
	}
	return true, n
}

func run(t *testing.T, e *bootstrap.Embedded, c load.Config, dsn string) {
	t.Helper()
	c.BaseURL, c.AdminToken, c.MySQLDSN = e.URL, e.AdminToken, dsn
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := load.Run(ctx, c)
	if rep != nil {
		var b strings.Builder
		_ = rep.WriteText(&b) // a strings.Builder does not fail
		t.Log("\n" + b.String())
	}
	var audit *load.AuditError
	if err != nil && !errors.As(err, &audit) {
		t.Fatalf("run: %v", err)
	}
	drops := max(c.Drops, 1)
	if rep.Audit.Passed {
		if rep.Sale.Issued != c.Stock*drops {
			t.Fatalf("issued %d, want the whole stock of %d drops of %d", rep.Sale.Issued, drops, c.Stock)
		}
		return
	}
	capacityOnly, slow := onlyCapacityFailures(rep)
	if drops == 1 {
		judge(t, "", rep.Audit.Checks, capacityOnly, slow)
		return
	}
	// A run of many drops is judged drop by drop, as the generator audits it.
	if len(rep.Drops) != drops {
		t.Fatalf("the report has %d drops, want %d", len(rep.Drops), drops)
	}
	for _, d := range rep.Drops {
		judge(t, "drop "+d.Drop.ID+": ", d.Audit.Checks, capacityOnly, slow)
	}
}

// judge fails the test for every failed check, except the capacity checks
// when every failed request of the run failed for want of capacity.
func judge(t *testing.T, prefix string, checks []load.Check, capacityOnly bool, slow int64) {
	t.Helper()
	for _, ch := range checks {
		switch {
		case ch.Passed:
		case capacityChecks[ch.Name] && capacityOnly:
			t.Logf("%saudit check %q failed for want of capacity (%d requests timed out or got 503 on this machine): %s", prefix, ch.Name, slow, ch.Detail)
		default:
			t.Errorf("%saudit check %q failed: %s", prefix, ch.Name, ch.Detail)
		}
	}
}

func start(t *testing.T, cfg bootstrap.Config) *bootstrap.Embedded {
	t.Helper()
	// The race detector on shared cores makes every request several times
	// slower; the audit checks correctness, not this machine's latency.
	cfg.StoreTimeout = 10 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := bootstrap.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})
	return e
}

func TestEmbedded(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	cfg, err := bootstrap.EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, cfg)
	t.Run("concert-spike", func(t *testing.T) { run(t, e, concertSpike(), "") })
	t.Run("coupon-rush", func(t *testing.T) { run(t, e, couponRush(), "") })
}

// TestEmbeddedManyDrops runs each scenario over five drops at once
// (`fastdeal load --drops 5`) against one in-process server: five sales side
// by side, each audited on its own, each selling its whole stock. The sizes
// per drop are smaller than TestEmbedded's so that five of them fit the same
// machine.
func TestEmbeddedManyDrops(t *testing.T) {
	testenv.ClearFastdealEnv(t)
	cfg, err := bootstrap.EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, cfg)
	t.Run("concert-spike", func(t *testing.T) {
		c := concertSpike()
		c.Drops, c.Stock = 5, 300
		c.Stages = []load.Stage{{Duration: 10 * time.Second, Rate: 20}, {Duration: 10 * time.Second, Rate: 40}}
		run(t, e, c, "")
	})
	t.Run("coupon-rush", func(t *testing.T) {
		c := couponRush()
		c.Drops, c.Stock, c.Users = 5, 60, 600
		run(t, e, c, "")
	})
}

func TestFullProfile(t *testing.T) {
	e, dsn := startFullProfile(t, "fdscen")
	t.Run("concert-spike", func(t *testing.T) { run(t, e, concertSpike(), dsn) })
	t.Run("coupon-rush", func(t *testing.T) { run(t, e, couponRush(), dsn) })
}

// startFullProfile starts a server on MySQL (a fresh, migrated database
// named after prefix) and Redis, and returns it with its DSN.
func startFullProfile(t *testing.T, prefix string) (*bootstrap.Embedded, string) {
	t.Helper()
	dsn, redisAddr := testenv.FreshDatabase(t, prefix), testenv.RedisAddr()
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_MYSQL_DSN", dsn)
	t.Setenv("FASTDEAL_REDIS_ADDR", redisAddr)
	cfg, err := bootstrap.EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := bootstrap.Migrate(ctx, cfg, "up"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return start(t, cfg), dsn
}
