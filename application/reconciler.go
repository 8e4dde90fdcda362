package application

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// ReconcileReport says what a reconcile changed.
type ReconcileReport struct {
	Repaired int
	Details  []string
}

// Reconciler makes the inventory (the hot store) and the ledger (the durable
// one) agree: holder records the ledger lacks are persisted (a process died
// between claim and commit), and durable issuances the inventory lost (Redis
// restarted empty) are restored with the stock and per-user counts they imply.
type Reconciler struct {
	st     Stores
	log    *zap.Logger
	settle time.Duration

	mu     sync.Mutex
	flight map[string]*reconcileCall
}

type reconcileCall struct {
	done chan struct{}
	rep  ReconcileReport
	err  error
}

// ReconcilerOption tunes a Reconciler.
type ReconcilerOption func(*Reconciler)

// WithSettle sets how long to wait, once the inventory is found to have lost
// a drop, before reading the ledger to restore it. Claims that took a unit
// just before the loss are still committing; after the longest a commit may
// take (the store timeout) each of them is durable or given up, so the
// restore counts every unit sold and cannot sell one twice. Zero restores at
// once (right for stores that cannot lose state while claims are in flight).
func WithSettle(d time.Duration) ReconcilerOption {
	return func(r *Reconciler) { r.settle = d }
}

// NewReconciler returns a reconciler over st.
func NewReconciler(st Stores, log *zap.Logger, opts ...ReconcilerOption) *Reconciler {
	if log == nil {
		log = zap.NewNop()
	}
	r := &Reconciler{st: st.withDefaults(), log: log, flight: make(map[string]*reconcileCall)}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Reconcile repairs one drop. Concurrent calls for one drop share a single
// repair, which runs to its end even if every caller gives up waiting (each
// caller is bounded by its own ctx and then gets ErrUnavailable). Errors:
// drop.ErrNotFound, ErrUnavailable.
func (r *Reconciler) Reconcile(ctx context.Context, dropID string) (ReconcileReport, error) {
	r.mu.Lock()
	c, running := r.flight[dropID]
	if !running {
		c = &reconcileCall{done: make(chan struct{})}
		r.flight[dropID] = c
		go func() {
			wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.settle+time.Minute)
			defer cancel()
			c.rep, c.err = r.reconcile(wctx, dropID, true)
			r.mu.Lock()
			delete(r.flight, dropID)
			r.mu.Unlock()
			close(c.done)
		}()
	}
	r.mu.Unlock()
	select {
	case <-c.done:
		return c.rep, c.err
	case <-ctx.Done():
		return ReconcileReport{}, unavailable("reconcile "+dropID, ctx.Err())
	}
}

func (r *Reconciler) reconcile(ctx context.Context, dropID string, settle bool) (ReconcileReport, error) {
	var rep ReconcileReport
	d, err := r.st.Drops.Get(ctx, dropID)
	if err != nil {
		if errors.Is(err, drop.ErrNotFound) {
			return rep, err
		}
		return rep, unavailable("read drop", err)
	}
	held, err := r.st.Inventory.Snapshot(ctx, dropID)
	if errors.Is(err, inventory.ErrNotLoaded) {
		if settle && r.settle > 0 {
			r.log.Warn("inventory lost a drop; waiting for in-flight claims to settle before restoring it",
				zap.String("drop", dropID), zap.Duration("settle", r.settle))
			if err := r.wait(ctx); err != nil {
				return rep, err
			}
		}
		err = nil
	}
	if err != nil {
		return rep, unavailable("read inventory", err)
	}
	// The ledger is read after the inventory (and after settling), so that
	// every unit the inventory's state implies is already durable or gone.
	durable, err := r.st.Ledger.ByDrop(ctx, dropID)
	if err != nil {
		return rep, unavailable("read ledger", err)
	}
	known := make(map[string]bool, len(durable))
	for _, iss := range durable {
		known[iss.ID] = true
	}
	for _, iss := range held {
		if known[iss.ID] {
			continue
		}
		switch err := r.st.Ledger.Record(ctx, iss); {
		case err == nil:
			durable = append(durable, iss)
			known[iss.ID] = true
			rep.Repaired++
			rep.Details = append(rep.Details, fmt.Sprintf("persisted issuance %s (user %s, seat %q) held in inventory but missing from the ledger", iss.ID, iss.UserID, iss.Seat))
		case errors.Is(err, issuance.ErrDuplicate):
			// A different durable issuance owns this unit: the holder record is
			// the stale one, so give it back.
			if rerr := r.st.Inventory.Release(ctx, iss, ""); rerr != nil && !errors.Is(rerr, inventory.ErrNotHeld) {
				return rep, unavailable("release stale holder", rerr)
			}
			rep.Repaired++
			rep.Details = append(rep.Details, fmt.Sprintf("released stale holder %s (user %s, seat %q): a durable issuance owns that unit", iss.ID, iss.UserID, iss.Seat))
		default:
			return rep, unavailable("persist held issuance", err)
		}
	}
	added, err := r.st.Inventory.Restore(ctx, d, durable)
	if err != nil {
		return rep, unavailable("restore inventory", err)
	}
	if added > 0 {
		rep.Repaired += added
		rep.Details = append(rep.Details, fmt.Sprintf("restored %d durable issuances into the inventory", added))
	}
	if rep.Repaired > 0 {
		r.log.Warn("reconciled drop", zap.String("drop", dropID), zap.Int("repaired", rep.Repaired), zap.Strings("details", rep.Details))
	}
	if rep.Details == nil {
		rep.Details = []string{}
	}
	return rep, nil
}

// ReconcileAll repairs every drop, e.g. at start-up before admission begins.
// Drops the inventory lost share one settle wait. It goes on past a failing
// drop and returns the first error.
func (r *Reconciler) ReconcileAll(ctx context.Context) (int, error) {
	ds, err := r.st.Drops.List(ctx, drop.Filter{Now: r.st.Clock.Now()})
	if err != nil {
		return 0, unavailable("list drops", err)
	}
	lost := false
	for _, d := range ds {
		if _, err := r.st.Inventory.Remaining(ctx, d.ID()); errors.Is(err, inventory.ErrNotLoaded) {
			lost = true
			break
		}
	}
	if lost && r.settle > 0 {
		r.log.Info("inventory is missing drops; waiting for in-flight claims to settle before restoring", zap.Duration("settle", r.settle))
		if err := r.wait(ctx); err != nil {
			return 0, err
		}
	}
	var first error
	total := 0
	for _, d := range ds {
		rep, err := r.reconcile(ctx, d.ID(), false)
		if err != nil && first == nil {
			first = err
		}
		total += rep.Repaired
	}
	return total, first
}

// wait sleeps the settle time, so that claims which took a unit just before
// the inventory lost its state are durable or given up before a restore.
func (r *Reconciler) wait(ctx context.Context) error {
	if r.settle <= 0 {
		return nil
	}
	select {
	case <-time.After(r.settle):
		return nil
	case <-ctx.Done():
		return unavailable("settle before restore", ctx.Err())
	}
}
