package redis

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

var _ inventory.Inventory = (*LockedInventory)(nil)

// ErrLockTimeout: LockedInventory waited LockOptions.Wait for the lock in
// vain; nothing was claimed or released. It matches inventory.ErrUnavailable
// with errors.Is, so callers answer it like any store outage.
var ErrLockTimeout = fmt.Errorf("redis lock wait timed out: %w", inventory.ErrUnavailable)

// LockOptions tunes LockedInventory. Zero fields take the defaults noted.
type LockOptions struct {
	// TTL is how long a lock outlives a holder that died without releasing
	// it (default 2s). It must exceed the slowest inner Claim: a lock that
	// expires mid-claim admits a second holder, and only the inner store's
	// own checks then prevent an oversell.
	TTL time.Duration
	// Wait bounds how long Claim and Release wait for the lock (default 1s).
	Wait time.Duration
	// MinBackoff and MaxBackoff bound the jittered pause between attempts
	// (defaults 1ms and 20ms); the pause doubles from min up to max.
	MinBackoff, MaxBackoff time.Duration
	// PerSeat locks one seat of a seated drop instead of the whole drop.
	// General drops always lock the drop. With PerSeat the per-user limit
	// across seats rests on the inner inventory alone.
	PerSeat bool
}

func (o LockOptions) withDefaults() LockOptions {
	if o.TTL < time.Millisecond {
		o.TTL = 2 * time.Second
	}
	if o.Wait <= 0 {
		o.Wait = time.Second
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Millisecond
	}
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = max(20*time.Millisecond, o.MinBackoff)
	}
	return o
}

// unlockTimeout bounds the release of a lock, which runs even when the
// caller's context is done so the next buyer does not wait out the TTL.
const unlockTimeout = time.Second

// LockedInventory is the "redislock" strategy: it runs each Claim and
// Release of another Inventory (MySQL) while holding a Redis lock on the drop
// or the seat, and passes every other method straight through.
//
// Within one process, callers of the same lock queue on a local semaphore
// first, in arrival order, so only one goroutine per process polls Redis for
// a lock. Without it a spike of thousands of claimers on one drop spends
// Redis and the CPU on SET NX retries while the lock sits free between
// backoffs, and most claims time out.
type LockedInventory struct {
	client rueidis.Client
	inner  inventory.Inventory
	opts   LockOptions
	local  localLocks
}

// NewLockedInventory wraps inner with Redis locks taken through client.
func NewLockedInventory(client rueidis.Client, inner inventory.Inventory, opts LockOptions) *LockedInventory {
	return &LockedInventory{client: client, inner: inner, opts: opts.withDefaults(), local: localLocks{m: make(map[string]*localLock)}}
}

// Claim runs inner.Claim under the lock. Returns ErrLockTimeout if the lock
// stayed taken for LockOptions.Wait, or inventory.ErrUnavailable (wrapped)
// if Redis cannot be reached; in both cases inner was not called.
func (li *LockedInventory) Claim(ctx context.Context, req inventory.Request) (inventory.Result, error) {
	var res inventory.Result
	err := li.locked(ctx, req.Issuance.DropID, req.Issuance.Seat, func() error {
		var err error
		res, err = li.inner.Claim(ctx, req)
		return err
	})
	return res, err
}

// Release runs inner.Release under the same lock Claim takes.
func (li *LockedInventory) Release(ctx context.Context, iss issuance.Issuance, key string) error {
	return li.locked(ctx, iss.DropID, iss.Seat, func() error {
		return li.inner.Release(ctx, iss, key)
	})
}

// locked runs fn while holding the lock of the drop (or seat). An error
// releasing the lock is dropped: fn's outcome stands, and the lock expires
// after TTL anyway.
func (li *LockedInventory) locked(ctx context.Context, dropID, seat string, fn func() error) error {
	if !li.opts.PerSeat {
		seat = ""
	}
	key := lockKey(dropID, seat)
	deadline := time.Now().Add(li.opts.Wait)
	unlockLocal, err := li.local.lock(ctx, key, deadline)
	if err != nil {
		return err
	}
	defer unlockLocal()
	token, err := li.lock(ctx, key, deadline)
	if err != nil {
		return err
	}
	defer func() {
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), unlockTimeout)
		defer cancel()
		_ = unlockScript.Exec(uctx, li.client, []string{key}, []string{token}).Error()
	}()
	return fn()
}

func (li *LockedInventory) lock(ctx context.Context, key string, deadline time.Time) (string, error) {
	token := newToken()
	backoff := li.opts.MinBackoff
	for {
		err := li.client.Do(ctx, li.client.B().Set().Key(key).Value(token).Nx().PxMilliseconds(li.opts.TTL.Milliseconds()).Build()).Error()
		if err == nil {
			return token, nil
		}
		if !rueidis.IsRedisNil(err) {
			return "", classify(err, inventory.ErrUnavailable, "lock "+key)
		}
		// Full jitter keeps waiting claimers from retrying in lock step.
		pause := time.Duration(rand.Int64N(int64(backoff)) + 1)
		if time.Now().Add(pause).After(deadline) {
			return "", fmt.Errorf("redis lock %s: %w", key, ErrLockTimeout)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", fmt.Errorf("redis lock %s: %w: %w", key, inventory.ErrUnavailable, ctx.Err())
		case <-t.C:
		}
		backoff = min(2*backoff, li.opts.MaxBackoff)
	}
}

// localLocks are the per-process queues in front of the Redis locks.
type localLocks struct {
	mu sync.Mutex
	m  map[string]*localLock
}

// localLock is a semaphore of one; refs counts its holder and waiters so the
// entry is dropped once nobody needs it.
type localLock struct {
	ch   chan struct{}
	refs int
}

// lock waits, in arrival order, until key is free in this process, ctx ends
// or deadline passes, and returns the function that frees it.
func (l *localLocks) lock(ctx context.Context, key string, deadline time.Time) (func(), error) {
	l.mu.Lock()
	ll := l.m[key]
	if ll == nil {
		ll = &localLock{ch: make(chan struct{}, 1)}
		l.m[key] = ll
	}
	ll.refs++
	l.mu.Unlock()
	done := func() {
		l.mu.Lock()
		if ll.refs--; ll.refs == 0 {
			delete(l.m, key)
		}
		l.mu.Unlock()
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case ll.ch <- struct{}{}:
		return func() { <-ll.ch; done() }, nil
	case <-ctx.Done():
		done()
		return nil, fmt.Errorf("redis lock %s: %w: %w", key, inventory.ErrUnavailable, ctx.Err())
	case <-t.C:
		done()
		return nil, fmt.Errorf("redis lock %s: %w", key, ErrLockTimeout)
	}
}

func newToken() string {
	var b [16]byte
	_, _ = cryptorand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Load passes through to inner.
func (li *LockedInventory) Load(ctx context.Context, d *drop.Drop) error {
	return li.inner.Load(ctx, d)
}

// Remaining passes through to inner.
func (li *LockedInventory) Remaining(ctx context.Context, dropID string) (int64, error) {
	return li.inner.Remaining(ctx, dropID)
}

// Holdings passes through to inner.
func (li *LockedInventory) Holdings(ctx context.Context, dropID, userID string) ([]issuance.Issuance, error) {
	return li.inner.Holdings(ctx, dropID, userID)
}

// Taken passes through to inner.
func (li *LockedInventory) Taken(ctx context.Context, dropID string) (map[string]bool, error) {
	return li.inner.Taken(ctx, dropID)
}

// Snapshot passes through to inner.
func (li *LockedInventory) Snapshot(ctx context.Context, dropID string) ([]issuance.Issuance, error) {
	return li.inner.Snapshot(ctx, dropID)
}

// Restore passes through to inner.
func (li *LockedInventory) Restore(ctx context.Context, d *drop.Drop, held []issuance.Issuance) (int, error) {
	return li.inner.Restore(ctx, d, held)
}
