package application

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// DropCache keeps recently read drops in process so that claims and line
// calls do not read the drop store on every request. An entry older than ttl
// is refreshed by one caller while the others keep using it, so a spike
// never stampedes the store (and never re-parses a large seated drop once
// per request); an entry older than maxStale is not served at all. An admin
// change made on another instance thus reaches this one within about ttl.
type DropCache struct {
	repo     drop.Repository
	ttl      time.Duration
	maxStale time.Duration
	now      func() time.Time

	mu      sync.RWMutex
	entries map[string]*cacheEntry
	loading map[string]*dropLoad // cold misses being read, one read per drop
}

// dropLoad is one read of a drop the cache does not hold; callers that miss
// meanwhile wait for it instead of reading too.
type dropLoad struct {
	done chan struct{}
	d    *drop.Drop
	err  error
}

type cacheEntry struct {
	d          *drop.Drop
	fetched    time.Time
	refreshing bool
}

// NewDropCache returns a cache over repo whose entries are refreshed after ttl.
func NewDropCache(repo drop.Repository, ttl time.Duration) *DropCache {
	return &DropCache{repo: repo, ttl: ttl, maxStale: 4 * ttl, now: time.Now,
		entries: make(map[string]*cacheEntry), loading: make(map[string]*dropLoad)}
}

// Get returns the drop, from the cache when fresh enough. The result is
// shared: do not change it. Returns drop.ErrNotFound.
func (c *DropCache) Get(ctx context.Context, id string) (*drop.Drop, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	var d *drop.Drop
	var age time.Duration
	if ok {
		d, age = e.d, now.Sub(e.fetched)
	}
	c.mu.RUnlock()
	if ok && age < c.ttl {
		return d, nil
	}
	if ok && age < c.maxStale {
		c.mu.Lock()
		if cur := c.entries[id]; cur != e {
			// Refreshed since this caller looked: serve the new copy.
			c.mu.Unlock()
			return cur.d, nil
		}
		mine := !e.refreshing
		e.refreshing = true
		c.mu.Unlock()
		if !mine {
			return d, nil // someone else is refreshing it; this copy is recent enough
		}
		fresh, err := c.repo.Get(ctx, id)
		c.mu.Lock()
		e.refreshing = false
		c.mu.Unlock()
		if err != nil {
			return d, nil // keep serving the recent copy; the next caller retries
		}
		c.Put(fresh)
		return fresh, nil
	}
	return c.load(ctx, id)
}

// load reads a drop the cache does not hold (or holds too stale to serve).
// Concurrent misses share one read: the first 64 claims on a new 100,000-seat
// drop each read and parsed it and stalled the server for seconds. A caller
// whose own context ends stops waiting; one whose leader's context ended
// reads again itself.
func (c *DropCache) load(ctx context.Context, id string) (*drop.Drop, error) {
	for {
		c.mu.Lock()
		if e, ok := c.entries[id]; ok && c.now().Sub(e.fetched) < c.ttl {
			c.mu.Unlock()
			return e.d, nil // loaded while this caller waited
		}
		l, waiting := c.loading[id]
		if !waiting {
			l = &dropLoad{done: make(chan struct{})}
			c.loading[id] = l
		}
		c.mu.Unlock()
		if !waiting {
			l.d, l.err = c.repo.Get(ctx, id)
			if l.err == nil {
				c.Put(l.d)
			}
			c.mu.Lock()
			delete(c.loading, id)
			c.mu.Unlock()
			close(l.done)
			return l.d, l.err
		}
		select {
		case <-l.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if l.err == nil || (!errors.Is(l.err, context.Canceled) && !errors.Is(l.err, context.DeadlineExceeded)) {
			return l.d, l.err
		}
	}
}

// Fresh returns the cached drop when its copy is younger than the cache's
// ttl, and never reads the store: for answers that must not wait on it (a
// ticketed status poll). The result is shared: do not change it.
func (c *DropCache) Fresh(id string) (*drop.Drop, bool) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if !ok || now.Sub(e.fetched) >= c.ttl {
		return nil, false
	}
	return e.d, true
}

// Put stores a fresh copy of d, e.g. right after this instance changed it.
func (c *DropCache) Put(d *drop.Drop) {
	c.mu.Lock()
	c.entries[d.ID()] = &cacheEntry{d: d.Clone(), fetched: c.now()}
	c.mu.Unlock()
}
