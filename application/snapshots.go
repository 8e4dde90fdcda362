package application

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// Snapshot ages: a snapshot older than snapshotFresh is refreshed in the
// background on the next poll that reads it (so only lines being polled are
// refreshed, at most four times a second); one older than snapshotMaxAge is
// not used at all (the API promises at most a second).
const (
	snapshotFresh  = 250 * time.Millisecond
	snapshotMaxAge = time.Second
)

// lineSnapshots is this instance's cache of line snapshots, one per polled
// drop. Reads are lock-free; one refresh per drop runs at a time.
type lineSnapshots struct {
	line    waitline.WaitingLine
	clock   clock.Clock
	timeout time.Duration
	log     *zap.Logger
	entries sync.Map // drop id -> *snapEntry
}

type snapEntry struct {
	val     atomic.Pointer[snapVal]
	loading atomic.Pointer[refreshCall]
}

// refreshCall is one refresh in flight; done closes when it ends.
type refreshCall struct{ done chan struct{} }

type snapVal struct {
	snap waitline.Snapshot
	at   time.Time
}

func newLineSnapshots(line waitline.WaitingLine, clk clock.Clock, timeout time.Duration, log *zap.Logger) *lineSnapshots {
	return &lineSnapshots{line: line, clock: clk, timeout: timeout, log: log}
}

// get returns dropID's snapshot when one at most snapshotMaxAge old at now
// (the caller's reading of the clock) is held, and starts a refresh when it
// is older than snapshotFresh (or missing). When none is young enough it
// waits for the refresh in flight (at most the store timeout): a snapshot
// grows old when the store is slow, and sending every poll of the line to
// the store then would make it slower still, while one refresh serves them
// all. When ok is false the caller reads the store itself.
func (c *lineSnapshots) get(dropID string, now time.Time) (waitline.Snapshot, bool) {
	v, _ := c.entries.Load(dropID)
	e, _ := v.(*snapEntry)
	if e == nil {
		v, _ = c.entries.LoadOrStore(dropID, &snapEntry{})
		e = v.(*snapEntry)
	}
	cur := e.val.Load()
	if cur != nil && now.Sub(cur.at) < snapshotFresh {
		return cur.snap, true
	}
	call := c.refreshing(dropID, e)
	if cur != nil && now.Sub(cur.at) < snapshotMaxAge {
		return cur.snap, true
	}
	t := time.NewTimer(c.timeout)
	defer t.Stop()
	select {
	case <-call.done:
	case <-t.C:
		return waitline.Snapshot{}, false
	}
	if cur = e.val.Load(); cur != nil && c.clock.Now().Sub(cur.at) < snapshotMaxAge {
		return cur.snap, true
	}
	return waitline.Snapshot{}, false
}

// refreshing returns the refresh of dropID in flight, starting one if none is.
func (c *lineSnapshots) refreshing(dropID string, e *snapEntry) *refreshCall {
	for {
		if call := e.loading.Load(); call != nil {
			return call
		}
		call := &refreshCall{done: make(chan struct{})}
		if e.loading.CompareAndSwap(nil, call) {
			go c.refresh(dropID, e, call)
			return call
		}
	}
}

func (c *lineSnapshots) refresh(dropID string, e *snapEntry, call *refreshCall) {
	defer func() {
		// The value is in place before waiters are let go.
		e.loading.Store(nil)
		close(call.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	// The time is taken before the read, so the age errs on the old side.
	at := c.clock.Now()
	snap, err := c.line.Snapshot(ctx, dropID)
	if err != nil {
		c.log.Debug("line snapshot", zap.String("drop", dropID), zap.Error(err))
		return
	}
	e.val.Store(&snapVal{snap: snap, at: at})
}
