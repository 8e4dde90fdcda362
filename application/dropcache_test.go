package application_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
)

type countingDrops struct {
	drop.Repository
	gets  atomic.Int64
	delay time.Duration
}

func (c *countingDrops) Get(ctx context.Context, id string) (*drop.Drop, error) {
	c.gets.Add(1)
	time.Sleep(c.delay)
	return c.Repository.Get(ctx, id)
}

// A stale entry is refreshed by one caller while the rest keep being served,
// so a spike reads the store once per refresh, not once per request; a
// change reaches the cache after the ttl.
func TestDropCacheRefreshesOnceAndFollowsChanges(t *testing.T) {
	ctx := context.Background()
	repo := &countingDrops{Repository: memory.NewDrops(), delay: 20 * time.Millisecond}
	d, err := drop.New(drop.Params{ID: "c1", Name: "n", Kind: drop.KindGeneral, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	// The cache's clock stands still but for the step below: a sleep past the
	// ttl, or 500 goroutines starting slowly on a busy machine, could carry
	// the entry past the stale-but-servable window or age the refreshed copy
	// (and so read the store twice) whatever the cache does.
	var clockNanos atomic.Int64
	clockNanos.Store(time.Now().UnixNano())
	cache := application.NewDropCache(repo, time.Second)
	application.SetDropCacheClock(cache, func() time.Time { return time.Unix(0, clockNanos.Load()) })
	if _, err := cache.Get(ctx, "c1"); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.Update(ctx, "c1", func(d *drop.Drop) error { return d.SetAdmitRate(777) }); err != nil {
		t.Fatal(err)
	}
	clockNanos.Add(int64(1100 * time.Millisecond)) // stale, not yet too stale to serve
	before := repo.gets.Load()
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 500 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := cache.Get(ctx, "c1"); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if n := repo.gets.Load() - before; n != 1 {
		t.Fatalf("500 concurrent reads of a stale entry read the store %d times, want 1", n)
	}
	got, err := cache.Get(ctx, "c1")
	if err != nil || got.AdmitRate() != 777 {
		t.Fatalf("after the refresh the cache serves rate %d (%v), want 777", got.AdmitRate(), err)
	}
	if _, err := cache.Get(ctx, "nope"); err == nil {
		t.Fatal("a missing drop was served")
	}
}
