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
	Expired  Status = "expired" // the pass lapsed unused, or was given back
	// PreQueue: joined the pre-queue of a drop that has not opened; the buyer
	// has no place until the pre-queue is placed at opening.
	PreQueue Status = "pre_queue"
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
	// KeepPass keeps the pass armed under a non-Admitted decision: a seated
	// buyer who got a seat but may claim more before the per-user limit.
	KeepPass bool
}

// Standing is a buyer's place: waiting at Position (1 is next), or decided.
type Standing struct {
	Status   Status
	Position int64
	// Seq is a waiting buyer's sequence in the line (see Snapshot), Epoch the
	// line's incarnation it belongs to; both are set only while Waiting.
	Seq      int64
	Epoch    string
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
	// Decide records decisions and removes those buyers from the line (or
	// the pre-queue), in one atomic step. An Admitted decision, or any
	// decision with KeepPass set, arms its pass for Lapsed and ActivePasses;
	// any other decision disarms it. Deciding again overwrites. A buyer taken
	// out of the line leaves a gap that Snapshot reports until the head
	// passes it.
	Decide(ctx context.Context, dropID string, ds []Decision) error
	// Leave removes a waiting buyer (from the line or the pre-queue), or ends
	// an armed pass at once (its decision becomes Expired and it no longer
	// counts as active). Returns ErrNotInLine if the buyer is neither waiting
	// nor holding an armed pass.
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

	// Snapshot reads what a position is computed from (see Snapshot), in one
	// atomic read. A line nobody joined has an empty snapshot (Tail 0).
	Snapshot(ctx context.Context, dropID string) (Snapshot, error)

	// JoinPreQueue puts the buyer in the drop's pre-queue (Standing PreQueue,
	// created true), or answers as Join does when the buyer is already in
	// the pre-queue (created false), in the line, decided, or when the
	// pre-queue is already frozen (then it joins the line as Join does).
	JoinPreQueue(ctx context.Context, dropID, userID string) (st Standing, created bool, err error)
	// PreQueueLength is how many buyers wait in the pre-queue, unplaced.
	PreQueueLength(ctx context.Context, dropID string) (int64, error)
	// FreezePreQueue closes the pre-queue to new members, once: it reserves a
	// sequence for every arrival slot handed out so far (Base+1 .. Base+Slots)
	// so that anyone who joins the line afterwards stands behind all of them,
	// and stores key (the shuffle's secret) unless one is stored already.
	// Calling it again changes nothing and returns the stored plan. Join
	// freezes the pre-queue by itself when a buyer joins the line while the
	// pre-queue holds anyone; Snapshot is not Ready until FinishPreQueue.
	FreezePreQueue(ctx context.Context, dropID string, key []byte) (PreQueuePlan, error)
	// PreQueueMembers returns up to n unplaced pre-queue members whose arrival
	// slot is above after, in slot order.
	PreQueueMembers(ctx context.Context, dropID string, after int64, n int) ([]PreQueueMember, error)
	// Place moves pre-queue members to the given line sequences in one atomic
	// step; a member no longer in the pre-queue (placed before, or left) is
	// skipped, so a replay after a crash places nobody twice.
	Place(ctx context.Context, dropID string, ps []Placement) error
	// PreQueueLeft returns the arrival slots of buyers who left the pre-queue
	// unplaced: their reserved sequences stay empty.
	PreQueueLeft(ctx context.Context, dropID string) ([]int64, error)
	// FinishPreQueue records the reserved sequences that stay empty (holes,
	// from PreQueueLeft) as gaps and marks the line Ready. It returns
	// ErrPreQueueBusy, changing nothing, while buyers are still unplaced or
	// when len(holes) is not the number of slots left (someone left since
	// PreQueueLeft was read: read again). Finishing again is harmless.
	FinishPreQueue(ctx context.Context, dropID string, holes []int64) error
}

// ErrPreQueueBusy: FinishPreQueue was called before every member was placed,
// or with a stale list of holes.
var ErrPreQueueBusy = errors.New("pre-queue not fully placed")

// PreQueuePlan is a frozen pre-queue: arrival slots 1..Slots own the line
// sequences Base+1 .. Base+Slots, in an order derived from Key.
type PreQueuePlan struct {
	Frozen bool
	// Placed is true once FinishPreQueue ran: nothing is left to do.
	Placed bool
	Key    []byte
	Base   int64
	Slots  int64
}

// PreQueueMember is a buyer waiting in the pre-queue with its arrival slot
// (1 is the first to arrive).
type PreQueueMember struct {
	UserID string
	Slot   int64
}

// Placement puts a pre-queue member at a line sequence.
type Placement struct {
	UserID string
	Seq    int64
}
