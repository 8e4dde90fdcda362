// Package lease declares the Lease port: a named, time-limited right held by
// one process at a time, so that exactly one dispatcher admits a given drop.
package lease

import (
	"context"
	"time"
)

// Lease grants named leases.
type Lease interface {
	// Acquire takes the lease for holder, or renews it if holder has it, for
	// ttl. It reports whether holder holds it now.
	Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// Release gives the lease up if holder has it.
	Release(ctx context.Context, name, holder string) error
	// Holder returns who holds the lease now ("" if nobody).
	Holder(ctx context.Context, name string) (string, error)
}
