package memory

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

var _ waitline.WaitingLine = (*Line)(nil)

// Line keeps the waiting line of each drop in memory. Join, Standing, Leave
// and each decided buyer cost O(log n) in the length of the line; Peek costs
// O(k log n) for k buyers. Every method is safe for concurrent use; each drop
// has its own mutex. Line reads no clock: the caller passes the time. Each
// Line is its own incarnation of every line it holds: a new Line numbers
// from 1 again under new epochs.
type Line struct {
	drops perKey[lineDrop]
}

// NewLine returns a Line with no drops.
func NewLine() *Line {
	return &Line{drops: perKey[lineDrop]{newT: func() *lineDrop {
		return &lineDrop{
			epoch:   newEpoch(),
			waiting: make(map[string]int),
			decided: make(map[string]waitline.Decision),
			armed:   make(map[string]time.Time),
			pq:      make(map[string]int),
		}
	}}}
}

func newEpoch() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	return hex.EncodeToString(b[:])
}

// lineDrop is one drop's line. Buyers are numbered by arrival (seq, from 1);
// bySeq[seq-1] is the buyer, "" once they left or while the seq is reserved
// for a pre-queue member not yet placed, and order counts the buyers still
// waiting at each seq, so a position is a prefix count.
//
// The pre-queue numbers its members by arrival slot the same way (pqBySlot,
// pqOrder). Freezing it reserves seqs pqBase+1 .. pqBase+len(pqBySlot) at
// the back of the line, so later joiners stand behind every member however
// the members are then placed.
type lineDrop struct {
	mu       sync.Mutex
	epoch    string
	closed   bool
	bySeq    []string
	order    fenwick
	waiting  map[string]int // user -> seq
	gone     gaps
	decided  map[string]waitline.Decision
	admitted int64
	armed    map[string]time.Time // user -> pass expiry
	passes   []armedPass          // the armed passes, by expiry

	pq       map[string]int // unplaced member -> slot
	pqBySlot []string       // slot-1 -> member, "" once placed or gone
	pqOrder  fenwick        // unplaced members by slot
	pqLeft   []int64        // slots of members who left unplaced
	pqFrozen bool
	pqPlaced bool
	pqKey    []byte
	pqBase   int64
}

type armedPass struct {
	expires time.Time
	user    string
}

func comparePasses(a, b armedPass) int {
	if c := a.expires.Compare(b.expires); c != 0 {
		return c
	}
	return strings.Compare(a.user, b.user)
}

func (s *lineDrop) tail() int64 { return int64(len(s.bySeq)) }

func (s *lineDrop) slots() int64 { return int64(len(s.pqBySlot)) }

// reserving reports whether seqs are reserved for a pre-queue that is not
// finished: they are neither waiting nor gone yet.
func (s *lineDrop) reserving() bool { return s.pqFrozen && !s.pqPlaced && s.slots() > 0 }

// head is the lowest seq still waiting (Tail+1 when none). While reserved
// seqs are unfinished the first of them counts as waiting, so the head never
// jumps over members about to be placed and never moves back.
func (s *lineDrop) head() int64 {
	h := s.tail() + 1
	if len(s.waiting) > 0 {
		h = int64(s.order.kth(1))
	}
	if s.reserving() {
		h = min(h, s.pqBase+1)
	}
	return h
}

// fill makes seq hold user (seq <= tail).
func (s *lineDrop) fill(seq int, user string) {
	s.bySeq[seq-1] = user
	if !s.order.ensure(len(s.bySeq), s.present) {
		s.order.add(seq, 1)
	}
	s.waiting[user] = seq
}

func (s *lineDrop) present(i int) bool { return i <= len(s.bySeq) && s.bySeq[i-1] != "" }

func (s *lineDrop) enqueue(user string) int {
	s.bySeq = append(s.bySeq, "")
	seq := len(s.bySeq)
	s.fill(seq, user)
	return seq
}

// dequeue takes a waiting buyer out of the line and returns their seq, for
// the caller to record as a gap once the new head is known.
func (s *lineDrop) dequeue(user string) (int64, bool) {
	seq, ok := s.waiting[user]
	if !ok {
		return 0, false
	}
	delete(s.waiting, user)
	s.bySeq[seq-1] = ""
	s.order.add(seq, -1)
	return int64(seq), true
}

// settle records the seqs taken out of the line as gaps unless the head
// passed them, and forgets gaps the head passed.
func (s *lineDrop) settle(removed ...int64) {
	h := s.head()
	for _, seq := range removed {
		if seq >= h {
			s.gone.add(seq)
		}
	}
	s.gone.advance(h)
}

// leavePreQueue takes an unplaced member out of the pre-queue; their
// reserved seq will stay empty.
func (s *lineDrop) leavePreQueue(user string) bool {
	slot, ok := s.pq[user]
	if !ok {
		return false
	}
	delete(s.pq, user)
	s.pqBySlot[slot-1] = ""
	s.pqOrder.add(slot, -1)
	s.pqLeft = append(s.pqLeft, int64(slot))
	return true
}

func (s *lineDrop) presentSlot(i int) bool {
	return i <= len(s.pqBySlot) && s.pqBySlot[i-1] != ""
}

// freeze reserves a seq for every slot handed out so far; once only.
func (s *lineDrop) freeze() {
	if s.pqFrozen {
		return
	}
	s.pqFrozen = true
	s.pqBase = s.tail()
	if s.slots() == 0 {
		// Nobody ever joined the pre-queue: there is nothing to place.
		s.pqPlaced = true
		return
	}
	s.bySeq = append(s.bySeq, make([]string, s.slots())...)
	s.order.ensure(len(s.bySeq), s.present)
}

// position is where a waiting buyer at seq stands. Unplaced pre-queue members
// may land anywhere in the reserved seqs, so a buyer at or behind them counts
// them all as ahead: placing them then never moves anyone back.
func (s *lineDrop) position(seq int) int64 {
	p := s.order.prefix(seq)
	if s.reserving() && int64(seq) > s.pqBase {
		p += int64(len(s.pq))
	}
	return p
}

// standing must be called with s.mu held.
func (s *lineDrop) standing(user string) (waitline.Standing, bool) {
	if d, ok := s.decided[user]; ok {
		return waitline.Standing{Status: d.Status, Decision: d}, true
	}
	seq, ok := s.waiting[user]
	if !ok {
		if _, ok := s.pq[user]; !ok {
			return waitline.Standing{}, false
		}
	}
	if s.closed {
		return soldOut(user), true
	}
	if !ok {
		return waitline.Standing{Status: waitline.PreQueue}, true
	}
	return s.waitingAt(seq), true
}

func (s *lineDrop) waitingAt(seq int) waitline.Standing {
	return waitline.Standing{
		Status: waitline.Waiting, Position: s.position(seq),
		Seq: int64(seq), Epoch: s.epoch,
	}
}

func soldOut(user string) waitline.Standing {
	return waitline.Standing{
		Status:   waitline.SoldOut,
		Decision: waitline.Decision{UserID: user, Status: waitline.SoldOut},
	}
}

// join must be called with s.mu held.
func (s *lineDrop) join(user string) (waitline.Standing, bool) {
	if st, ok := s.standing(user); ok {
		return st, false
	}
	if s.closed {
		return soldOut(user), false
	}
	if len(s.pq) > 0 {
		// A buyer in the line before the pre-queue is frozen would stand
		// ahead of its members: freezing first keeps them all ahead.
		s.freeze()
	}
	return s.waitingAt(s.enqueue(user)), true
}

// Join puts the buyer at the back of the line and returns their position
// (created true). A buyer already waiting (or in the pre-queue) keeps their
// place, a decided buyer gets their decision, and once the line is closed a
// newcomer gets SoldOut without being queued; all three with created false.
// A join while the pre-queue holds anyone freezes it first.
func (l *Line) Join(_ context.Context, dropID, userID string) (waitline.Standing, bool, error) {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	st, created := s.join(userID)
	return st, created, nil
}

// JoinPreQueue gives the buyer the next arrival slot of the pre-queue
// (created true) until it is frozen; after that, and for a buyer already
// waiting or decided, it answers as Join does.
func (l *Line) JoinPreQueue(_ context.Context, dropID, userID string) (waitline.Standing, bool, error) {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pqFrozen {
		st, created := s.join(userID)
		return st, created, nil
	}
	if st, ok := s.standing(userID); ok {
		return st, false, nil
	}
	if s.closed {
		return soldOut(userID), false, nil
	}
	s.pqBySlot = append(s.pqBySlot, userID)
	slot := len(s.pqBySlot)
	if !s.pqOrder.ensure(slot, s.presentSlot) {
		s.pqOrder.add(slot, 1)
	}
	s.pq[userID] = slot
	return waitline.Standing{Status: waitline.PreQueue}, true, nil
}

// Standing returns the buyer's decision, or their position (1 is next) while
// waiting, PreQueue while in the pre-queue, or SoldOut while waiting in a
// closed line. Returns ErrNotInLine (wrapped) for a buyer neither waiting
// nor decided.
func (l *Line) Standing(_ context.Context, dropID, userID string) (waitline.Standing, error) {
	if s, ok := l.drops.get(dropID); ok {
		s.mu.Lock()
		st, ok := s.standing(userID)
		s.mu.Unlock()
		if ok {
			return st, nil
		}
	}
	return waitline.Standing{}, fmt.Errorf("memory: standing of %s in drop %s: %w", userID, dropID, waitline.ErrNotInLine)
}

// Peek returns up to n waiting buyers, oldest first (by seq), leaving them
// in line. Unplaced pre-queue members are not in the line yet.
func (l *Line) Peek(_ context.Context, dropID string, n int) ([]string, error) {
	s, ok := l.drops.get(dropID)
	if !ok || n <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.waiting))
	out := make([]string, 0, n)
	// kth rather than a walk from the head: buyers who left mid-line leave
	// gaps that a walk would pay for on every Peek.
	for k := 1; k <= n; k++ {
		out = append(out, s.bySeq[s.order.kth(int64(k))-1])
	}
	return out, nil
}

// Decide records each decision, keyed by its UserID, and takes that buyer
// out of the line or the pre-queue, all under one lock. A buyer taken out
// counts once in Admitted; deciding again only overwrites the decision. An
// Admitted decision, or one with KeepPass, arms its pass for Lapsed and
// ActivePasses; any other disarms it.
func (l *Line) Decide(_ context.Context, dropID string, ds []waitline.Decision) error {
	for _, d := range ds {
		if d.UserID == "" {
			return fmt.Errorf("memory: decide in drop %s: decision without a user", dropID)
		}
	}
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	touched := make(map[string]bool, len(ds))
	var removed []int64
	for _, d := range ds {
		if seq, ok := s.dequeue(d.UserID); ok {
			removed = append(removed, seq)
			s.admitted++
		} else if s.leavePreQueue(d.UserID) {
			s.admitted++
		}
		s.decided[d.UserID] = d
		touched[d.UserID] = true
	}
	if len(removed) > 0 {
		s.settle(removed...)
	}
	// The last decision of each buyer in the batch is the one that counts.
	arm := make(map[string]time.Time, len(touched))
	for u := range touched {
		if d := s.decided[u]; d.Status == waitline.Admitted || d.KeepPass {
			arm[u] = d.Pass.ExpiresAt
		}
	}
	s.rearm(touched, arm)
	return nil
}

// rearm replaces the armed passes of the touched buyers with arm.
func (s *lineDrop) rearm(touched map[string]bool, arm map[string]time.Time) {
	wasArmed := false
	for u := range touched {
		if _, ok := s.armed[u]; ok {
			wasArmed = true
			delete(s.armed, u)
		}
	}
	if wasArmed {
		s.passes = slices.DeleteFunc(s.passes, func(p armedPass) bool { return touched[p.user] })
	}
	if len(arm) == 0 {
		return
	}
	added := make([]armedPass, 0, len(arm))
	for u, exp := range arm {
		s.armed[u] = exp
		added = append(added, armedPass{exp, u})
	}
	slices.SortFunc(added, comparePasses)
	// Passes are usually armed with later expiries than those already armed,
	// so appending keeps the slice sorted without a full sort.
	inOrder := len(s.passes) == 0 || comparePasses(s.passes[len(s.passes)-1], added[0]) < 0
	s.passes = append(s.passes, added...)
	if !inOrder {
		slices.SortFunc(s.passes, comparePasses)
	}
}

// Leave takes a waiting buyer out of the line or the pre-queue without a
// decision, or ends an armed pass at once (the decision becomes Expired).
// Returns ErrNotInLine (wrapped) if the buyer is none of those.
func (l *Line) Leave(_ context.Context, dropID, userID string) error {
	if s, ok := l.drops.get(dropID); ok {
		s.mu.Lock()
		left := s.leave(userID)
		s.mu.Unlock()
		if left {
			return nil
		}
	}
	return fmt.Errorf("memory: leave of %s in drop %s: %w", userID, dropID, waitline.ErrNotInLine)
}

func (s *lineDrop) leave(user string) bool {
	if seq, ok := s.dequeue(user); ok {
		s.settle(seq)
		return true
	}
	if s.leavePreQueue(user) {
		return true
	}
	exp, ok := s.armed[user]
	if !ok {
		return false
	}
	delete(s.armed, user)
	if i, found := slices.BinarySearchFunc(s.passes, armedPass{exp, user}, comparePasses); found {
		s.passes = slices.Delete(s.passes, i, i+1)
	}
	d := s.decided[user]
	d.Status, d.KeepPass = waitline.Expired, false
	s.decided[user] = d
	return true
}

// Length returns how many buyers are waiting in the line (still counted
// after Close); pre-queue members are not in it yet.
func (l *Line) Length(_ context.Context, dropID string) (int64, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.waiting)), nil
}

// Admitted returns how many buyers Decide took out of the line or the
// pre-queue.
func (l *Line) Admitted(_ context.Context, dropID string) (int64, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitted, nil
}

// lapsedBefore returns how many armed passes expired before now.
func (s *lineDrop) lapsedBefore(now time.Time) int {
	return sort.Search(len(s.passes), func(i int) bool { return !s.passes[i].expires.Before(now) })
}

// ActivePasses counts armed passes whose expiry is not before now.
func (l *Line) ActivePasses(_ context.Context, dropID string, now time.Time) (int64, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.passes) - s.lapsedBefore(now)), nil
}

// Lapsed returns the decisions of up to n buyers whose armed pass expired
// before now, earliest expiry first. It changes nothing: the caller decides
// them (e.g. Expired), which disarms their passes.
func (l *Line) Lapsed(_ context.Context, dropID string, now time.Time, n int) ([]waitline.Decision, error) {
	s, ok := l.drops.get(dropID)
	if !ok || n <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := min(n, s.lapsedBefore(now))
	out := make([]waitline.Decision, k)
	for i := range k {
		out[i] = s.decided[s.passes[i].user]
	}
	return out, nil
}

// Close ends the drop's line: waiting buyers, pre-queue members and later
// joiners stand SoldOut. Decided buyers keep their decisions.
func (l *Line) Close(_ context.Context, dropID string) error {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	return nil
}

// Closed reports whether Close was called for the drop.
func (l *Line) Closed(_ context.Context, dropID string) (bool, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return false, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed, nil
}

// Snapshot returns the line's epoch, head, tail and gaps under one lock. It
// costs O(g) in the gaps ahead of the tail, not in the length of the line.
func (l *Line) Snapshot(_ context.Context, dropID string) (waitline.Snapshot, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return waitline.Snapshot{Head: 1, Ready: true}, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.head()
	return waitline.Snapshot{
		Epoch:  s.epoch,
		Head:   h,
		Tail:   s.tail(),
		Gone:   s.gone.list(h),
		Closed: s.closed,
		Ready:  s.slots() == 0 || s.pqPlaced,
	}, nil
}

// PreQueueLength returns how many members wait in the pre-queue, unplaced.
func (l *Line) PreQueueLength(_ context.Context, dropID string) (int64, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.pq)), nil
}

// FreezePreQueue freezes the pre-queue once (see the port) and returns the
// plan; key is kept only if none is stored yet.
func (l *Line) FreezePreQueue(_ context.Context, dropID string, key []byte) (waitline.PreQueuePlan, error) {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.freeze()
	if s.pqKey == nil {
		s.pqKey = append([]byte{}, key...)
	}
	return waitline.PreQueuePlan{
		Frozen: true, Placed: s.pqPlaced, Key: slices.Clone(s.pqKey),
		Base: s.pqBase, Slots: s.slots(),
	}, nil
}

// PreQueueMembers returns up to n unplaced members with a slot above after,
// in slot order, in O(k log n).
func (l *Line) PreQueueMembers(_ context.Context, dropID string, after int64, n int) ([]waitline.PreQueueMember, error) {
	s, ok := l.drops.get(dropID)
	if !ok || n <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	after = min(max(after, 0), s.slots())
	skip := s.pqOrder.prefix(int(after))
	n = min(n, len(s.pq)-int(skip))
	out := make([]waitline.PreQueueMember, 0, max(n, 0))
	for k := 1; k <= n; k++ {
		slot := s.pqOrder.kth(skip + int64(k))
		out = append(out, waitline.PreQueueMember{UserID: s.pqBySlot[slot-1], Slot: int64(slot)})
	}
	return out, nil
}

// errBadPlacement: a placement or hole outside the reserved seqs, or on a
// seq someone already holds; a bug in the caller, never retried.
var errBadPlacement = errors.New("seq not reserved for the pre-queue or already taken")

// reservedFree reports whether seq is reserved for the pre-queue and empty.
func (s *lineDrop) reservedFree(seq int64) bool {
	return s.pqFrozen && seq > s.pqBase && seq <= s.pqBase+s.slots() && s.bySeq[seq-1] == ""
}

// Place moves the members still in the pre-queue to their seqs, all or none:
// every placement is checked before any is made.
func (l *Line) Place(_ context.Context, dropID string, ps []waitline.Placement) error {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := make(map[int64]bool, len(ps))
	for _, p := range ps {
		if _, ok := s.pq[p.UserID]; !ok {
			continue
		}
		if seen[p.Seq] || !s.reservedFree(p.Seq) {
			return fmt.Errorf("memory: place %s at %d in drop %s: %w", p.UserID, p.Seq, dropID, errBadPlacement)
		}
		seen[p.Seq] = true
	}
	for _, p := range ps {
		slot, ok := s.pq[p.UserID]
		if !ok {
			continue
		}
		delete(s.pq, p.UserID)
		s.pqBySlot[slot-1] = ""
		s.pqOrder.add(slot, -1)
		s.fill(int(p.Seq), p.UserID)
	}
	return nil
}

// PreQueueLeft returns the slots of members who left the pre-queue unplaced,
// in slot order.
func (l *Line) PreQueueLeft(_ context.Context, dropID string) ([]int64, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.pqLeft)
	slices.Sort(out)
	return out, nil
}

// FinishPreQueue records holes as gaps and marks the line Ready once every
// member is placed; see the port for ErrPreQueueBusy.
func (l *Line) FinishPreQueue(_ context.Context, dropID string, holes []int64) error {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pqPlaced {
		return nil
	}
	if !s.pqFrozen || len(s.pq) > 0 || len(holes) != len(s.pqLeft) {
		return fmt.Errorf("memory: finish pre-queue of drop %s (%d unplaced, %d holes for %d left): %w",
			dropID, len(s.pq), len(holes), len(s.pqLeft), waitline.ErrPreQueueBusy)
	}
	seen := make(map[int64]bool, len(holes))
	for _, h := range holes {
		if seen[h] || !s.reservedFree(h) {
			return fmt.Errorf("memory: finish pre-queue of drop %s, hole %d: %w", dropID, h, errBadPlacement)
		}
		seen[h] = true
	}
	s.pqPlaced = true
	s.settle(holes...)
	return nil
}
