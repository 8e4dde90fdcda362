package application

import (
	"context"
	"errors"
	"fmt"

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
	st  Stores
	log *zap.Logger
}

// NewReconciler returns a reconciler over st.
func NewReconciler(st Stores, log *zap.Logger) *Reconciler {
	if log == nil {
		log = zap.NewNop()
	}
	return &Reconciler{st: st.withDefaults(), log: log}
}

// Reconcile repairs one drop. Errors: drop.ErrNotFound, ErrUnavailable.
func (r *Reconciler) Reconcile(ctx context.Context, dropID string) (ReconcileReport, error) {
	var rep ReconcileReport
	d, err := r.st.Drops.Get(ctx, dropID)
	if err != nil {
		if errors.Is(err, drop.ErrNotFound) {
			return rep, err
		}
		return rep, unavailable("read drop", err)
	}
	durable, err := r.st.Ledger.ByDrop(ctx, dropID)
	if err != nil {
		return rep, unavailable("read ledger", err)
	}
	known := make(map[string]bool, len(durable))
	for _, iss := range durable {
		known[iss.ID] = true
	}
	held, err := r.st.Inventory.Snapshot(ctx, dropID)
	if err != nil && !errors.Is(err, inventory.ErrNotLoaded) {
		return rep, unavailable("read inventory", err)
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
// It goes on past a failing drop and returns the first error.
func (r *Reconciler) ReconcileAll(ctx context.Context) (int, error) {
	ds, err := r.st.Drops.List(ctx, drop.Filter{Now: r.st.Clock.Now()})
	if err != nil {
		return 0, unavailable("list drops", err)
	}
	var first error
	total := 0
	for _, d := range ds {
		rep, err := r.Reconcile(ctx, d.ID())
		if err != nil && first == nil {
			first = err
		}
		total += rep.Repaired
	}
	return total, first
}
