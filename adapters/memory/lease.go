package memory

import (
	"context"
	"sync"
	"time"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/lease"
)

var _ lease.Lease = (*Lease)(nil)

// Lease grants named leases within one process, timed by the clock it was
// built with. Safe for concurrent use.
type Lease struct {
	clock clock.Clock
	mu    sync.Mutex
	held  map[string]leaseHold
}

type leaseHold struct {
	holder  string
	expires time.Time
}

// NewLease returns a Lease that reads the time from c (clock.System{} if nil).
func NewLease(c clock.Clock) *Lease {
	if c == nil {
		c = clock.System{}
	}
	return &Lease{clock: c, held: make(map[string]leaseHold)}
}

// live returns the current hold of name, treating a lease as gone from the
// instant it expires.
func (l *Lease) live(name string, now time.Time) (leaseHold, bool) {
	h, ok := l.held[name]
	if !ok || !now.Before(h.expires) {
		return leaseHold{}, false
	}
	return h, true
}

// Acquire gives name to holder until now+ttl if nobody holds it, it expired,
// or holder already has it (a renewal). It reports whether holder holds it.
func (l *Lease) Acquire(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.clock.Now()
	if h, ok := l.live(name, now); ok && h.holder != holder {
		return false, nil
	}
	l.held[name] = leaseHold{holder: holder, expires: now.Add(ttl)}
	return true, nil
}

// Release gives name up if holder holds it; otherwise it changes nothing.
func (l *Lease) Release(_ context.Context, name, holder string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if h, ok := l.live(name, l.clock.Now()); ok && h.holder == holder {
		delete(l.held, name)
	}
	return nil
}

// Holder returns who holds name now, or "" if nobody does or the lease expired.
func (l *Lease) Holder(_ context.Context, name string) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h, _ := l.live(name, l.clock.Now())
	return h.holder, nil
}
