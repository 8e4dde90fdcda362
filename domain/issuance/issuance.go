// Package issuance holds the Issuance entity, a unit sold to one buyer, and the
// Ledger port that makes issuances durable.
package issuance

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Sentinel errors of the issuance package.
var (
	// ErrNotFound: no issuance matches.
	ErrNotFound = errors.New("issuance not found")
	// ErrDuplicate: a different issuance already holds the same (drop, user, n)
	// or (drop, seat).
	ErrDuplicate = errors.New("issuance already recorded")
	// ErrUnavailable: the store cannot be reached; nothing was recorded.
	ErrUnavailable = errors.New("storage unavailable")
	// ErrOutcomeUnknown: the store failed after the issuance was sent, and
	// could not be shown afterwards whether it was kept; it may be durable,
	// or become durable later, so the unit must not be given back.
	// It matches ErrUnavailable with errors.Is.
	ErrOutcomeUnknown = fmt.Errorf("outcome unknown: %w", ErrUnavailable)
)

// Issuance is one unit given to one buyer. N numbers the buyer's units in a
// drop from 1 to the per-user limit; (DropID, UserID, N) and, for seats,
// (DropID, Seat) are unique.
type Issuance struct {
	ID       string
	DropID   string
	UserID   string
	Seat     string
	N        int
	Code     string
	IssuedAt time.Time
}

// Ledger makes issuances durable.
type Ledger interface {
	// Record stores iss and returns only once it is durable. Recording the same
	// issuance (same id) again is a no-op that returns nil, so retries and
	// replays are safe. Returns ErrDuplicate if a different issuance holds the
	// same (drop, user, n) or (drop, seat); ErrUnavailable (wrapped) when the
	// store cannot be reached and iss is not durable; ErrOutcomeUnknown
	// (wrapped) when iss may or may not be durable.
	Record(ctx context.Context, iss Issuance) error
	// Get returns the issuance with that id, or ErrNotFound.
	Get(ctx context.Context, id string) (Issuance, error)
	// ByUser returns a buyer's issuances across drops, oldest first.
	ByUser(ctx context.Context, userID string) ([]Issuance, error)
	// ByDrop returns every issuance of a drop, oldest first.
	ByDrop(ctx context.Context, dropID string) ([]Issuance, error)
	// CountByDrop returns how many issuances of the drop are durable.
	CountByDrop(ctx context.Context, dropID string) (int64, error)
}
