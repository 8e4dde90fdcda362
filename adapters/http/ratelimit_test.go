package httpapi_test

import (
	"fmt"
	"testing"
	"time"

	httpapi "github.com/fastdeal/fastdeal/adapters/http"
)

func TestLimiterBurstRetryAfterAndEviction(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := httpapi.NewTestLimiter(2, 3, &now)
	for i := range 3 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("request %d within the burst refused", i+1)
		}
	}
	ok, wait := l.Allow("alice")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("over the burst: ok %v, wait %v (want refused, up to 0.5s at 2/s)", ok, wait)
	}
	if ok, _ := l.Allow("bob"); !ok {
		t.Fatal("bob refused for alice's burst")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("alice"); !ok {
		t.Fatal("alice refused after a token refilled")
	}

	for i := range 1000 {
		l.Allow(fmt.Sprintf("crowd-%d", i))
	}
	if n := l.Buckets(); n < 1000 {
		t.Fatalf("%d buckets for 1002 active buyers", n)
	}
	// Once every bucket has refilled, new arrivals sweep the old ones out.
	now = now.Add(time.Minute)
	for i := range 1000 {
		l.Allow(fmt.Sprintf("late-%d", i))
	}
	if n := l.Buckets(); n > 1100 {
		t.Fatalf("%d buckets held after the crowd went idle, want about 1000", n)
	}
	// A refilled buyer starts with a full burst again.
	for i := range 3 {
		if ok, _ := l.Allow("alice"); !ok {
			t.Fatalf("alice's request %d after idling refused", i+1)
		}
	}
}

// After a crowd far larger than what stays active goes idle, the sweeps give
// its maps back instead of keeping them at the crowd's size, and a bucket
// still in use keeps its state through the copy.
func TestLimiterGivesBackTheCrowdsMaps(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := httpapi.NewTestLimiter(2, 3, &now)
	for i := range 200_000 {
		l.Allow(fmt.Sprintf("crowd-%d", i))
	}
	if l.Rebuilds() != 0 {
		t.Fatalf("%d maps rebuilt while the crowd was active", l.Rebuilds())
	}
	// The crowd's buckets have refilled and the shards are due a sweep
	// (after 2.5 s idle at 2/s with a burst of 3); steady empties its own.
	now = now.Add(3 * time.Second)
	for range 3 {
		if ok, _ := l.Allow("steady"); !ok {
			t.Fatal("steady refused within its burst")
		}
	}
	for i := range 5_000 {
		l.Allow(fmt.Sprintf("late-%d", i))
	}
	if r := l.Rebuilds(); r < 60 {
		t.Fatalf("%d of 64 shard maps rebuilt after the crowd of 200,000 left", r)
	}
	if n := l.Buckets(); n > 5_100 {
		t.Fatalf("%d buckets held, want about 5,000", n)
	}
	if ok, _ := l.Allow("steady"); ok {
		t.Fatal("steady's empty bucket was lost in the rebuild: a fourth request passed")
	}
}
