package drop

import (
	"context"
	"time"
)

// Filter selects drops in List. Empty fields select everything.
type Filter struct {
	Region string
	Status Status
	// Now is the instant Status is judged at.
	Now time.Time
}

// Repository stores drops.
type Repository interface {
	// Create stores a new drop. Returns ErrExists if the id is taken.
	Create(ctx context.Context, d *Drop) error
	// Get returns the drop. Returns ErrNotFound if no drop has that id.
	Get(ctx context.Context, id string) (*Drop, error)
	// List returns the drops matching f, oldest first.
	List(ctx context.Context, f Filter) ([]*Drop, error)
	// Update applies fn to the stored drop and stores the result atomically.
	// Returns ErrNotFound, or fn's error unchanged.
	Update(ctx context.Context, id string, fn func(*Drop) error) (*Drop, error)
	// SaveIssuedCount records the issued count the count syncer last observed.
	SaveIssuedCount(ctx context.Context, id string, n int64) error
	// IssuedCount returns the last count SaveIssuedCount stored (0 if none).
	IssuedCount(ctx context.Context, id string) (int64, error)
}
