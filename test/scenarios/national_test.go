//go:build national

package scenarios

import (
	"testing"
	"time"
)

// TestNationalScale replays docs/scenarios.md's national-scale coupon-rush,
// shrunk to fit the suite: 50,000 users, 30% of them in a pre-queue shuffled
// at opening, polling when the server says and presenting line tickets, on
// the full profile. It is load, not a race hunt: `make test` runs it without
// the race detector (which slows every request several times over) under
// the build tag national, after the race-enabled suite.
func TestNationalScale(t *testing.T) {
	e, dsn := startFullProfile(t, "fdnation")
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
