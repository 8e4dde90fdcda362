package redis

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestLease(t *testing.T) {
	c := testClient(t)
	l := NewLease(c)
	ctx := t.Context()
	name := newID("lease")
	t.Cleanup(func() { c.Do(context.Background(), c.B().Del().Key(leaseKey(name)).Build()) })

	if h, err := l.Holder(ctx, name); err != nil || h != "" {
		t.Fatalf("Holder of a free lease = %q, %v", h, err)
	}
	// Ten seconds: a's term must outlast a busy machine's pause before b's
	// try, and still be far below the minute the renewal sets.
	if ok, err := l.Acquire(ctx, name, "a", 10*time.Second); err != nil || !ok {
		t.Fatalf("Acquire(a) = %v, %v; want true", ok, err)
	}
	if ok, err := l.Acquire(ctx, name, "b", 10*time.Second); err != nil || ok {
		t.Fatalf("Acquire(b) while a holds = %v, %v; want false", ok, err)
	}
	// Renewal by the holder extends the lease.
	if ok, err := l.Acquire(ctx, name, "a", time.Minute); err != nil || !ok {
		t.Fatalf("renewal by a = %v, %v; want true", ok, err)
	}
	if ttl, err := c.Do(ctx, c.B().Pttl().Key(leaseKey(name)).Build()).AsInt64(); err != nil || ttl < 50_000 {
		t.Fatalf("PTTL after renewal = %d, %v; want about a minute", ttl, err)
	}
	if err := l.Release(ctx, name, "b"); err != nil {
		t.Fatalf("Release by a non-holder: %v", err)
	}
	if h, err := l.Holder(ctx, name); err != nil || h != "a" {
		t.Fatalf("Holder after a non-holder's Release = %q, %v; want a", h, err)
	}
	if err := l.Release(ctx, name, "a"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if ok, err := l.Acquire(ctx, name, "b", 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("Acquire(b) after release = %v, %v; want true", ok, err)
	}
	// A holder that stops renewing loses the lease by itself.
	deadline := time.Now().Add(30 * time.Second)
	for {
		h, err := l.Holder(ctx, name)
		if err != nil {
			t.Fatalf("Holder: %v", err)
		}
		if h == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease still held by %q long after its ttl", h)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if ok, err := l.Acquire(ctx, name, "a", time.Second); err != nil || !ok {
		t.Fatalf("Acquire(a) after expiry = %v, %v; want true", ok, err)
	}
	if _, err := l.Acquire(ctx, name, "a", time.Microsecond); err == nil {
		t.Fatalf("Acquire with a sub-millisecond ttl succeeded")
	}
}

func TestLeaseUnavailable(t *testing.T) {
	closed := testClient(t)
	closed.Close()
	if _, err := NewLease(closed).Acquire(t.Context(), "x", "a", time.Second); !errors.Is(err, ErrLeaseUnavailable) {
		t.Fatalf("Acquire on a closed client: err = %v, want ErrLeaseUnavailable", err)
	}
}
