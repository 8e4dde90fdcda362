// Package inventory declares the Inventory port: the atomic record of which
// units of a drop are taken and by whom. It is where "no oversell" is enforced.
package inventory

import (
	"context"
	"errors"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// Sentinel errors of the inventory package.
var (
	// ErrNotLoaded: the inventory holds no state for the drop (never loaded, or
	// lost, e.g. a Redis that restarted empty). The reconciler restores it.
	ErrNotLoaded = errors.New("inventory not loaded for drop")
	// ErrUnavailable: the store cannot be reached; nothing was claimed.
	ErrUnavailable = errors.New("inventory unavailable")
	// ErrNotHeld: Release named a unit that is not held by that issuance.
	ErrNotHeld = errors.New("unit not held")
)

// Outcome is what a claim came to. Only Claimed takes a unit.
type Outcome int

// Outcomes of a claim.
const (
	// Claimed: a unit is now held by the buyer; Result.Issuance is the
	// candidate passed in, with N set.
	Claimed Outcome = iota + 1
	// Duplicate: the buyer already holds what was asked (same idempotency key,
	// the same seat, or, with no key, an admission replay); Result.Issuance is
	// the earlier issuance.
	Duplicate
	// SoldOut: no unit is left.
	SoldOut
	// SeatTaken: another buyer holds the seat.
	SeatTaken
	// LimitReached: the buyer already holds the per-user limit.
	LimitReached
)

func (o Outcome) String() string {
	switch o {
	case Claimed:
		return "claimed"
	case Duplicate:
		return "duplicate"
	case SoldOut:
		return "sold_out"
	case SeatTaken:
		return "seat_taken"
	case LimitReached:
		return "limit_reached"
	}
	return "unknown"
}

// Request asks for one unit.
type Request struct {
	// Issuance is the candidate: ID, DropID, UserID, Seat (empty for general
	// drops), Code and IssuedAt set by the caller; the inventory sets N.
	Issuance issuance.Issuance
	// Key is the buyer's idempotency key, scoped to (drop, user); empty for none.
	Key string
	// Limit is the drop's per-user limit.
	Limit int
}

// Result is the answer to a claim.
type Result struct {
	Outcome  Outcome
	Issuance issuance.Issuance
}

// Inventory holds the units of drops. Every method is safe for concurrent use
// by any number of goroutines and processes sharing the store.
type Inventory interface {
	// Load makes the drop's stock (or seats) claimable. Loading a drop that is
	// already loaded changes nothing.
	Load(ctx context.Context, d *drop.Drop) error
	// Claim atomically checks, in this order: a repeat (the same key, the
	// same seat, or the same issuance id: Duplicate, so a retry gets its unit
	// back even at the limit), the per-user limit (so a holder never hears
	// sold out or seat taken), then the seat or the stock; and records the
	// holder. N is the smallest number in 1..Limit the buyer does not hold,
	// so the ledger's unique (drop, user, n) backs up the limit. Returns
	// ErrNotLoaded or ErrUnavailable (wrapped) on failure, in which case
	// nothing was claimed.
	Claim(ctx context.Context, req Request) (Result, error)
	// Release gives back a unit claimed by iss (with key, if one was used),
	// because it could not be made durable. Returns ErrNotHeld if iss does not
	// hold a unit.
	Release(ctx context.Context, iss issuance.Issuance, key string) error
	// Remaining returns how many units are left. Returns ErrNotLoaded.
	Remaining(ctx context.Context, dropID string) (int64, error)
	// Holdings returns what one buyer holds in a drop, oldest first.
	Holdings(ctx context.Context, dropID, userID string) ([]issuance.Issuance, error)
	// Taken returns the labels of the seats that are held.
	Taken(ctx context.Context, dropID string) (map[string]bool, error)
	// Snapshot returns every holder record of the drop: the issuances buyers
	// were or are being told about.
	Snapshot(ctx context.Context, dropID string) ([]issuance.Issuance, error)
	// Restore rebuilds the drop's state from durable issuances (held): stock
	// left, seat holders and per-user counts. Records the inventory has beyond
	// held are kept. Returns how many holder records it added.
	Restore(ctx context.Context, d *drop.Drop, held []issuance.Issuance) (int, error)
}
