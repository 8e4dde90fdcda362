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

// gatedDrops holds every Get until the gate opens.
type gatedDrops struct {
	drop.Repository
	gets atomic.Int64
	gate chan struct{}
}

func (g *gatedDrops) Get(ctx context.Context, id string) (*drop.Drop, error) {
	g.gets.Add(1)
	<-g.gate
	return g.Repository.Get(ctx, id)
}

// Concurrent misses of a drop the cache does not hold share one read: the
// first claims on a new 100,000-seat drop each read and parsed it, and the
// server stalled for seconds under the copies.
func TestDropCacheColdMissesShareOneRead(t *testing.T) {
	ctx := context.Background()
	repo := &gatedDrops{Repository: memory.NewDrops(), gate: make(chan struct{})}
	d, err := drop.New(drop.Params{ID: "cold", Name: "n", Kind: drop.KindGeneral, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	cache := application.NewDropCache(repo, time.Second)
	now := time.Now()
	application.SetDropCacheClock(cache, func() time.Time { return now }) // the loaded copy stays fresh
	const callers = 64
	var started, wg sync.WaitGroup
	started.Add(callers)
	errs := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			got, err := cache.Get(ctx, "cold")
			if err == nil && got.ID() != "cold" {
				err = drop.ErrNotFound
			}
			errs <- err
		}()
	}
	started.Wait()
	close(repo.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
	}
	if n := repo.gets.Load(); n != 1 {
		t.Fatalf("%d concurrent misses read the store %d times, want once", callers, n)
	}
}

// A caller whose context ends stops waiting for another caller's read.
func TestDropCacheWaiterHonoursItsContext(t *testing.T) {
	repo := &gatedDrops{Repository: memory.NewDrops(), gate: make(chan struct{})}
	d, err := drop.New(drop.Params{ID: "slow", Name: "n", Kind: drop.KindGeneral, Stock: 5})
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Create(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	cache := application.NewDropCache(repo, time.Second)
	leader := make(chan error, 1)
	go func() {
		_, err := cache.Get(context.Background(), "slow")
		leader <- err
	}()
	for repo.gets.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cache.Get(ctx, "slow"); err == nil {
		t.Fatal("a waiter with an ended context got a drop, want its context's error")
	}
	close(repo.gate)
	if err := <-leader; err != nil {
		t.Fatalf("the leader's Get: %v", err)
	}
}
