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
