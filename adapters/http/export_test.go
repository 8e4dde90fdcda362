package httpapi

import "time"

// TestLimiter exposes the per-buyer limiter with a settable clock.
type TestLimiter struct{ l *limiter }

// NewTestLimiter returns a limiter whose clock is *now.
func NewTestLimiter(perSecond float64, burst int, now *time.Time) TestLimiter {
	l := newLimiter(perSecond, burst)
	l.now = func() time.Time { return *now }
	return TestLimiter{l}
}

// Allow takes a token for key.
func (t TestLimiter) Allow(key string) (bool, time.Duration) { return t.l.allow(key) }

// Buckets counts the buckets held.
func (t TestLimiter) Buckets() int {
	n := 0
	for i := range t.l.shards {
		n += len(t.l.shards[i].buckets)
	}
	return n
}

// Rebuilds counts the shard maps the limiter replaced by smaller ones.
func (t TestLimiter) Rebuilds() int {
	n := 0
	for i := range t.l.shards {
		n += t.l.shards[i].rebuilds
	}
	return n
}
