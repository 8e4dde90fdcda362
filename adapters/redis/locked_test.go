package redis

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// countingInventory wraps an Inventory and records how many Claims and
// Releases run at once, which is what the lock must keep at one.
type countingInventory struct {
	inventory.Inventory
	now, peak atomic.Int64
	hold      time.Duration
}

func (ci *countingInventory) enter() func() {
	n := ci.now.Add(1)
	for p := ci.peak.Load(); n > p && !ci.peak.CompareAndSwap(p, n); p = ci.peak.Load() {
	}
	time.Sleep(ci.hold)
	return func() { ci.now.Add(-1) }
}

func (ci *countingInventory) Claim(ctx context.Context, req inventory.Request) (inventory.Result, error) {
	defer ci.enter()()
	return ci.Inventory.Claim(ctx, req)
}

func (ci *countingInventory) Release(ctx context.Context, iss issuance.Issuance, key string) error {
	defer ci.enter()()
	return ci.Inventory.Release(ctx, iss, key)
}

func TestLockedInventorySerialisesClaims(t *testing.T) {
	c := testClient(t)
	inner := &countingInventory{Inventory: NewInventory(c), hold: 200 * time.Microsecond}
	li := NewLockedInventory(c, inner, LockOptions{Wait: 10 * time.Second})
	d := generalDrop(t, c, 40, 1)
	if err := li.Load(t.Context(), d); err != nil {
		t.Fatalf("Load: %v", err)
	}
	var claimed atomic.Int64
	parallel(200, 16, func(int) {
		res, err := li.Claim(t.Context(), inventory.Request{Issuance: candidate(d, newID("u"), ""), Limit: 1})
		if err != nil {
			t.Errorf("Claim: %v", err)
			return
		}
		if res.Outcome == inventory.Claimed {
			claimed.Add(1)
			if claimed.Load()%4 == 0 {
				if err := li.Release(t.Context(), res.Issuance, ""); err != nil {
					t.Errorf("Release: %v", err)
				}
				claimed.Add(-1)
			}
		}
	})
	if p := inner.peak.Load(); p != 1 {
		t.Fatalf("%d inner calls ran at once under the lock, want 1", p)
	}
	if n, err := li.Remaining(t.Context(), d.ID()); err != nil || n != 40-claimed.Load() {
		t.Fatalf("Remaining = %d, %v; want %d", n, err, 40-claimed.Load())
	}
	if ex, err := c.Do(t.Context(), c.B().Exists().Key(lockKey(d.ID(), "")).Build()).AsInt64(); err != nil || ex != 0 {
		t.Fatalf("lock key left behind: %d, %v", ex, err)
	}
}

func TestLockedInventoryPerSeatLocksOnlyTheSeat(t *testing.T) {
	c := testClient(t)
	inner := NewInventory(c)
	li := NewLockedInventory(c, inner, LockOptions{PerSeat: true, Wait: 50 * time.Millisecond})
	d := seatedDrop(t, c, 2, 1)
	if err := li.Load(t.Context(), d); err != nil {
		t.Fatalf("Load: %v", err)
	}
	// Someone else holds seat S1's lock: S1 times out, S2 goes through.
	other := lockKey(d.ID(), "S1")
	t.Cleanup(func() { c.Do(context.Background(), c.B().Del().Key(other).Build()) })
	if err := c.Do(t.Context(), c.B().Set().Key(other).Value("someone").Build()).Error(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	_, err := li.Claim(t.Context(), inventory.Request{Issuance: candidate(d, newID("u"), "S1"), Limit: 1})
	if !errors.Is(err, ErrLockTimeout) || !errors.Is(err, inventory.ErrUnavailable) {
		t.Fatalf("Claim of a locked seat: err = %v, want ErrLockTimeout (an ErrUnavailable)", err)
	}
	res, err := li.Claim(t.Context(), inventory.Request{Issuance: candidate(d, newID("u"), "S2"), Limit: 1})
	if err != nil || res.Outcome != inventory.Claimed {
		t.Fatalf("Claim of a free seat = %v, %v; want claimed", res.Outcome, err)
	}
	if n, err := inner.Remaining(t.Context(), d.ID()); err != nil || n != 1 {
		t.Fatalf("Remaining = %d, %v; want 1 (the timed-out claim took nothing)", n, err)
	}
	if h, err := c.Do(t.Context(), c.B().Get().Key(other).Build()).ToString(); err != nil || h != "someone" {
		t.Fatalf("another holder's lock = %q, %v; it must be left alone", h, err)
	}
}

func TestLockedInventoryRespectsCancellation(t *testing.T) {
	c := testClient(t)
	li := NewLockedInventory(c, NewInventory(c), LockOptions{Wait: time.Minute})
	d := generalDrop(t, c, 1, 1)
	key := lockKey(d.ID(), "")
	if err := c.Do(t.Context(), c.B().Set().Key(key).Value("someone").Build()).Error(); err != nil {
		t.Fatalf("SET: %v", err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := li.Claim(ctx, inventory.Request{Issuance: candidate(d, "u", ""), Limit: 1})
	if !errors.Is(err, inventory.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Claim with an expiring context: err = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	// The lock wait is a minute: the bound catches ignoring the context,
	// with room for a busy machine.
	if waited := time.Since(start); waited > 10*time.Second {
		t.Fatalf("Claim waited %v after its context ended", waited)
	}
}

// TestLockedInventoryUnderASpike has a thousand claimers arrive at once on
// one drop: the local queue keeps them from storming Redis with SET NX
// retries, so every one of them gets an answer.
func TestLockedInventoryUnderASpike(t *testing.T) {
	c := testClient(t)
	// The last of a thousand queued claimers waits for all the others: the
	// wait is generous so the test proves every one is answered, not speed.
	li := NewLockedInventory(c, NewInventory(c), LockOptions{Wait: 2 * time.Minute})
	d := generalDrop(t, c, 100, 1)
	if err := li.Load(t.Context(), d); err != nil {
		t.Fatalf("Load: %v", err)
	}
	var claimed atomic.Int64
	parallel(1000, 1000, func(int) {
		res, err := li.Claim(t.Context(), inventory.Request{Issuance: candidate(d, newID("u"), ""), Limit: 1})
		switch {
		case err != nil:
			t.Errorf("Claim: %v", err)
		case res.Outcome == inventory.Claimed:
			claimed.Add(1)
		case res.Outcome != inventory.SoldOut:
			t.Errorf("Claim = %v, want claimed or sold_out", res.Outcome)
		}
	})
	if claimed.Load() != 100 {
		t.Fatalf("%d claimed, want 100", claimed.Load())
	}
	if n := len(li.local.m); n != 0 {
		t.Fatalf("%d local locks left behind", n)
	}
}
