// Package application holds fastdeal's use cases: the sales facade buyers use,
// the catalog admins use, and the background workers (admission dispatcher,
// count syncer, reconciler). It speaks to storage only through the domain ports.
package application

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/lease"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// ErrUnavailable: a store could not be reached in time; nothing was issued.
var ErrUnavailable = errors.New("storage unavailable")

// Stores is the set of ports the use cases run on. Bootstrap fills it from one
// adapter set (memory, or MySQL + Redis).
type Stores struct {
	Drops     drop.Repository
	Inventory inventory.Inventory
	Line      waitline.WaitingLine
	Ledger    issuance.Ledger
	Lease     lease.Lease
	Clock     clock.Clock
	IDs       clock.IDs
}

func (s Stores) withDefaults() Stores {
	if s.Clock == nil {
		s.Clock = clock.System{}
	}
	if s.IDs == nil {
		s.IDs = clock.RandomIDs{}
	}
	return s
}

// unavailable turns a store failure into ErrUnavailable, keeping the cause in
// the message; domain outcomes pass through unchanged.
func unavailable(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, inventory.ErrUnavailable) || errors.Is(err, inventory.ErrNotLoaded) || errors.Is(err, issuance.ErrUnavailable) ||
		errors.Is(err, waitline.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, context.Canceled) ||
		errors.Is(err, ErrUnavailable) {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, op, err)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// detached returns a context that outlives a cancelled request, for clean-up
// that must happen anyway (giving a unit back), bounded by d.
func detached(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), d)
}
