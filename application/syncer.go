package application

import (
	"context"
	"sync"
	"time"

	"go.uber.org/zap"
)

// CountSyncer keeps each drop's stored issued count (drops.issued_count)
// current without a write per claim: it writes after every N issues of a
// drop, on a timer for drops with unsynced issues, and once more at shutdown.
// The count it writes is the inventory's live one (stock - remaining), so it
// is right across instances even though each counts only its own issues.
type CountSyncer struct {
	st       Stores
	drops    *DropCache
	every    int
	interval time.Duration
	log      *zap.Logger

	mu      sync.Mutex
	pending map[string]int
	kick    chan string

	flushes func(dropID string, err error)

	cancel context.CancelFunc
	done   chan struct{}
}

// NewCountSyncer returns a syncer that writes after every `every` issues of a
// drop and every interval. onFlush, if not nil, observes each write.
func NewCountSyncer(st Stores, drops *DropCache, every int, interval time.Duration, onFlush func(dropID string, err error), log *zap.Logger) *CountSyncer {
	if every < 1 {
		every = 100
	}
	if interval <= 0 {
		interval = time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	return &CountSyncer{st: st.withDefaults(), drops: drops, every: every, interval: interval, log: log,
		pending: make(map[string]int), kick: make(chan string, 64), flushes: onFlush}
}

// Issued notes one new issuance of the drop. It never blocks.
func (c *CountSyncer) Issued(dropID string) {
	c.mu.Lock()
	c.pending[dropID]++
	due := c.pending[dropID] >= c.every
	c.mu.Unlock()
	if due {
		select {
		case c.kick <- dropID:
		default: // a flush is already queued; the timer catches the rest
		}
	}
}

// Start runs the syncer until Stop.
func (c *CountSyncer) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go c.run(ctx)
}

// Stop ends the loop and writes every drop with unsynced issues once more.
func (c *CountSyncer) Stop(ctx context.Context) {
	if c.cancel == nil {
		return
	}
	c.cancel()
	select {
	case <-c.done:
	case <-ctx.Done():
		return
	}
	c.FlushAll(ctx)
}

func (c *CountSyncer) run(ctx context.Context) {
	defer close(c.done)
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case id := <-c.kick:
			c.flush(ctx, id)
		case <-t.C:
			c.FlushAll(ctx)
		}
	}
}

// FlushAll writes the count of every drop with unsynced issues.
func (c *CountSyncer) FlushAll(ctx context.Context) {
	c.mu.Lock()
	ids := make([]string, 0, len(c.pending))
	for id, n := range c.pending {
		if n > 0 {
			ids = append(ids, id)
		}
	}
	c.mu.Unlock()
	for _, id := range ids {
		c.flush(ctx, id)
	}
}

func (c *CountSyncer) flush(ctx context.Context, id string) {
	c.mu.Lock()
	n := c.pending[id]
	c.pending[id] = 0
	c.mu.Unlock()
	if n == 0 {
		return
	}
	err := c.write(ctx, id)
	if err != nil {
		c.mu.Lock()
		c.pending[id] += n // try again on the next tick
		c.mu.Unlock()
		c.log.Warn("sync issued count", zap.String("drop", id), zap.Error(err))
	}
	if c.flushes != nil {
		c.flushes(id, err)
	}
}

func (c *CountSyncer) write(ctx context.Context, id string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
	defer cancel()
	d, err := c.drops.Get(ctx, id)
	if err != nil {
		return err
	}
	rem, err := c.st.Inventory.Remaining(ctx, id)
	if err != nil {
		return err
	}
	return c.st.Drops.SaveIssuedCount(ctx, id, int64(d.Stock())-rem)
}
