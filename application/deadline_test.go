package application

import (
	"context"
	"errors"
	"testing"
	"time"
)

type ctxKey struct{}

func TestDeadlinesShareASlotAndKeepValues(t *testing.T) {
	dl := newDeadlines(time.Hour)
	parent := context.WithValue(context.Background(), ctxKey{}, "v")
	before := time.Now()
	a, cancelA := dl.bound(parent)
	defer cancelA()
	b, cancelB := dl.bound(context.Background())
	defer cancelB()
	da, ok := a.Deadline()
	if !ok || da.Before(before.Add(time.Hour)) || da.After(time.Now().Add(time.Hour+deadlineSlot)) {
		t.Fatalf("Deadline = %v, %v; want within a slot after now+1h", da, ok)
	}
	if a.Value(ctxKey{}) != "v" {
		t.Fatalf("the bounded context lost its parent's values")
	}
	if a.Err() != nil || a.Done() == nil {
		t.Fatalf("a fresh bound context is done: %v", a.Err())
	}
	// Requests bounded within one slot share one deadline (and one timer).
	if db, _ := b.Deadline(); db.Before(da) {
		t.Fatalf("a later request got an earlier deadline: %v < %v", db, da)
	}
}

func TestDeadlinesEnd(t *testing.T) {
	dl := newDeadlines(time.Millisecond)
	ctx, cancel := dl.bound(context.Background())
	defer cancel()
	// A child follows the shared deadline through AfterFunc, not a goroutine.
	child, cancelChild := context.WithCancel(ctx)
	defer cancelChild()
	select {
	case <-child.Done():
	case <-time.After(time.Minute):
		t.Fatal("the child of a 1 ms deadline was not done after a minute")
	}
	if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
		t.Fatalf("Err = %v, child %v; want deadline exceeded", ctx.Err(), child.Err())
	}
}

func TestDeadlinesKeepACancellableParent(t *testing.T) {
	dl := newDeadlines(time.Hour)
	parent, cancelParent := context.WithCancel(context.Background())
	ctx, cancel := dl.bound(parent)
	defer cancel()
	cancelParent()
	select {
	case <-ctx.Done():
	case <-time.After(time.Minute):
		t.Fatal("cancelling the parent did not reach the bounded context")
	}
	if !errors.Is(ctx.Err(), context.Canceled) {
		t.Fatalf("Err = %v, want canceled", ctx.Err())
	}
}
