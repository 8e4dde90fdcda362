package application

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// deadlineSlot is how finely shared deadlines are rounded: every request
// bounded within the same slot shares one deadline, up to this much later
// than it asked for.
const deadlineSlot = 10 * time.Millisecond

// deadlines bounds requests' storage work without a timer per request. A
// context.WithTimeout per join or claim cost about 3% of the server's CPU in
// profiles (a timer armed and stopped each time, under the timer lock).
// Requests whose deadline falls in the same 10 ms slot share one context
// made with context.WithDeadline, so one timer serves them all; the deadline
// ends up to 10 ms later than asked. Safe for concurrent use.
type deadlines struct {
	d   time.Duration
	cur atomic.Pointer[deadlineSlotCtx]
	mu  sync.Mutex // serialises making the next slot
}

type deadlineSlotCtx struct {
	end int64 // slot number: deadline's UnixNano / deadlineSlot
	ctx context.Context
	// cancel is kept, not called: the context ends at its deadline, when its
	// own timer releases it.
	cancel context.CancelFunc
}

func newDeadlines(d time.Duration) *deadlines { return &deadlines{d: d} }

// bound returns ctx bounded by the store timeout. A context that can be
// cancelled on its own (a test's, a caller's with an earlier deadline) gets
// a context.WithTimeout of its own, so its cancellation still reaches the
// store; an uncancellable one (the server's requests) shares its slot's.
func (dl *deadlines) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Done() != nil {
		return context.WithTimeout(ctx, dl.d)
	}
	slot := time.Now().Add(dl.d).UnixNano()/int64(deadlineSlot) + 1
	s := dl.cur.Load()
	if s == nil || s.end != slot {
		s = dl.next(slot)
	}
	return &sharedDeadline{Context: ctx, slot: s.ctx}, noCancel
}

// next returns the slot's context, making it if nobody has. An older slot
// is never installed over a newer one, so a request that read the clock
// just before another still gets a deadline at least d away.
func (dl *deadlines) next(slot int64) *deadlineSlotCtx {
	dl.mu.Lock()
	defer dl.mu.Unlock()
	if s := dl.cur.Load(); s != nil && s.end >= slot {
		return s
	}
	// The slot's context is never cancelled before its deadline; its timer
	// fires once, at the end, and releases it.
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, slot*int64(deadlineSlot)))
	s := &deadlineSlotCtx{end: slot, ctx: ctx, cancel: cancel}
	dl.cur.Store(s)
	return s
}

func noCancel() {}

// sharedDeadline is a request's context (its values) bounded by a shared
// slot's deadline (its Done, Err and Deadline).
type sharedDeadline struct {
	context.Context
	slot context.Context
}

func (c *sharedDeadline) Deadline() (time.Time, bool) { return c.slot.Deadline() }
func (c *sharedDeadline) Done() <-chan struct{}       { return c.slot.Done() }
func (c *sharedDeadline) Err() error                  { return c.slot.Err() }

// AfterFunc lets contexts derived from this one follow its end without a
// goroutine each (context.AfterFunc and WithCancel use it when present).
func (c *sharedDeadline) AfterFunc(f func()) func() bool { return context.AfterFunc(c.slot, f) }
