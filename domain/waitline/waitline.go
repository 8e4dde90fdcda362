// Package waitline declares the WaitingLine port: the first-come-first-served
// line of a queued drop, and what became of each buyer who left it.
package waitline

import (
	"context"
	"errors"
	"time"
)

// Sentinel errors of the waitline package.
var (
	// ErrNotInLine: the buyer is neither waiting nor decided.
	ErrNotInLine = errors.New("not in line")
	// ErrNotAdmitted: a claim in a queued drop without a valid pass.
	ErrNotAdmitted = errors.New("not admitted")
	// ErrUnavailable: the store cannot be reached.
	ErrUnavailable = errors.New("waiting line unavailable")
)

// Status is where a buyer of a queued drop stands.
type Status string

// Statuses of a buyer in a queued drop.
const (
	Waiting  Status = "waiting"
	Admitted Status = "admitted" // holds a pass (seated drops)
	Issued   Status = "issued"
	SoldOut  Status = "sold_out"
	Expired  Status = "expired" // the pass lapsed unused
)

// Pass lets an admitted buyer of a seated drop claim a seat until ExpiresAt.
type Pass struct {
	Token     string
	ExpiresAt time.Time
}

// Decision is what became of a buyer who left the line by admission.
type Decision struct {
	UserID     string
	Status     Status
	IssuanceID string // when Issued
	Pass       Pass   // when Admitted (and kept when Expired)
}

// Standing is a buyer's place: waiting at Position (1 is next), or decided.
type Standing struct {
	Status   Status
	Position int64
	Decision Decision
}

// WaitingLine is the line of each queued drop. Every method is safe for
// concurrent use by any number of goroutines and processes sharing the store.
type WaitingLine interface {
	// Join puts the buyer at the back of the line. Joining again keeps the
	// first place (created false). A decided buyer gets the decision back and
	// is not queued again; so does anyone once the line is closed (SoldOut).
	Join(ctx context.Context, dropID, userID string) (st Standing, created bool, err error)
	// Standing returns the buyer's place or decision. Returns ErrNotInLine.
	// Once the line is closed, waiting buyers stand SoldOut.
	Standing(ctx context.Context, dropID, userID string) (Standing, error)
	// Peek returns up to n waiting buyers, oldest first, without removing them.
	Peek(ctx context.Context, dropID string, n int) ([]string, error)
	// Decide records decisions and removes those buyers from the line, in one
	// atomic step. An Admitted decision also arms its pass for Lapsed;
	// any other decision disarms it. Deciding again overwrites.
	Decide(ctx context.Context, dropID string, ds []Decision) error
	// Leave removes a waiting buyer. Returns ErrNotInLine if not waiting.
	Leave(ctx context.Context, dropID, userID string) error
	// Length is how many buyers are waiting.
	Length(ctx context.Context, dropID string) (int64, error)
	// Admitted counts buyers that Decide took out of the line (each once).
	Admitted(ctx context.Context, dropID string) (int64, error)
	// ActivePasses counts passes not yet lapsed at now.
	ActivePasses(ctx context.Context, dropID string, now time.Time) (int64, error)
	// Lapsed returns up to n buyers whose passes expired before now.
	Lapsed(ctx context.Context, dropID string, now time.Time, n int) ([]Decision, error)
	// Close ends the line: everyone still waiting, and everyone who joins
	// later, stands SoldOut.
	Close(ctx context.Context, dropID string) error
	// Closed reports whether Close was called.
	Closed(ctx context.Context, dropID string) (bool, error)
}
