package application

import (
	"context"
	"sync"
	"time"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// DropCache keeps recently read drops in process so that claims and line
// calls do not read the drop store on every request. Entries live for ttl, so
// an admin change made on another instance reaches this one within ttl.
type DropCache struct {
	repo drop.Repository
	ttl  time.Duration
	now  func() time.Time

	mu      sync.RWMutex
	entries map[string]cacheEntry
}

type cacheEntry struct {
	d       *drop.Drop
	fetched time.Time
}

// NewDropCache returns a cache over repo whose entries live for ttl.
func NewDropCache(repo drop.Repository, ttl time.Duration) *DropCache {
	return &DropCache{repo: repo, ttl: ttl, now: time.Now, entries: make(map[string]cacheEntry)}
}

// Get returns the drop, from the cache when fresh. The result is shared: do
// not change it. Returns drop.ErrNotFound.
func (c *DropCache) Get(ctx context.Context, id string) (*drop.Drop, error) {
	now := c.now()
	c.mu.RLock()
	e, ok := c.entries[id]
	c.mu.RUnlock()
	if ok && now.Sub(e.fetched) < c.ttl {
		return e.d, nil
	}
	d, err := c.repo.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	c.Put(d)
	return d, nil
}

// Put stores a fresh copy of d, e.g. right after this instance changed it.
func (c *DropCache) Put(d *drop.Drop) {
	c.mu.Lock()
	c.entries[d.ID()] = cacheEntry{d: d.Clone(), fetched: c.now()}
	c.mu.Unlock()
}
