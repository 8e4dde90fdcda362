//go:build national

package scenarios

import (
	"context"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/bootstrap"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// TestNationalScale replays SCENARIOS.md's national-scale coupon-rush,
// shrunk to fit the suite: 50,000 users, 30% of them in a pre-queue shuffled
// at opening, polling when the server says and presenting line tickets, on
// the full profile. It is load, not a race hunt: `make test` runs it without
// the race detector (which slows every request several times over) under
// the build tag national, after the race-enabled suite.
func TestNationalScale(t *testing.T) {
	dsn, redisAddr := testenv.FreshDatabase(t, "fdnation"), testenv.RedisAddr()
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
	e := start(t, cfg)
	c := couponRush()
	c.Users = 50_000
	c.Stock = 5_000
	c.AdmitRate = 2_000
	c.Ramp = 120 * time.Second
	c.Prequeue = 0.3
	c.PrequeueWindow = time.Minute
	c.Speed = 3
	run(t, e, c, dsn)
}
