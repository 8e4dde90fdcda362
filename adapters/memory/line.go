package memory

import (
	"context"
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
// has its own mutex. Line reads no clock: the caller passes the time.
type Line struct {
	drops perKey[lineDrop]
}

// NewLine returns a Line with no drops.
func NewLine() *Line {
	return &Line{drops: perKey[lineDrop]{newT: func() *lineDrop {
		return &lineDrop{
			waiting: make(map[string]int),
			decided: make(map[string]waitline.Decision),
			armed:   make(map[string]time.Time),
		}
	}}}
}

// lineDrop is one drop's line. Buyers are numbered by arrival (seq, from 1);
// bySeq[seq-1] is the buyer, "" once they left, and order counts the buyers
// still waiting at each seq, so a position is a prefix count.
type lineDrop struct {
	mu       sync.Mutex
	closed   bool
	bySeq    []string
	order    fenwick
	waiting  map[string]int // user -> seq
	decided  map[string]waitline.Decision
	admitted int64
	armed    map[string]time.Time // user -> pass expiry
	passes   []armedPass          // the armed passes, by expiry
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

func (s *lineDrop) enqueue(user string) int {
	s.bySeq = append(s.bySeq, user)
	seq := len(s.bySeq)
	if seq > s.order.size() {
		// Doubling keeps the O(n) rebuild amortised O(1) per join.
		s.order.rebuild(max(2*s.order.size(), 1024), func(i int) bool {
			return i <= len(s.bySeq) && s.bySeq[i-1] != ""
		})
	} else {
		s.order.add(seq, 1)
	}
	s.waiting[user] = seq
	return seq
}

func (s *lineDrop) dequeue(user string) bool {
	seq, ok := s.waiting[user]
	if !ok {
		return false
	}
	delete(s.waiting, user)
	s.bySeq[seq-1] = ""
	s.order.add(seq, -1)
	return true
}

// standing must be called with s.mu held.
func (s *lineDrop) standing(user string) (waitline.Standing, bool) {
	if d, ok := s.decided[user]; ok {
		return waitline.Standing{Status: d.Status, Decision: d}, true
	}
	seq, ok := s.waiting[user]
	if !ok {
		return waitline.Standing{}, false
	}
	if s.closed {
		return soldOut(user), true
	}
	return waitline.Standing{Status: waitline.Waiting, Position: s.order.prefix(seq)}, true
}

func soldOut(user string) waitline.Standing {
	return waitline.Standing{
		Status:   waitline.SoldOut,
		Decision: waitline.Decision{UserID: user, Status: waitline.SoldOut},
	}
}

// Join puts the buyer at the back of the line and returns their position
// (created true). A buyer already waiting keeps their place, a decided
// buyer gets their decision, and once the line is closed a newcomer gets
// SoldOut without being queued; all three with created false.
func (l *Line) Join(_ context.Context, dropID, userID string) (waitline.Standing, bool, error) {
	s := l.drops.getOrCreate(dropID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if st, ok := s.standing(userID); ok {
		return st, false, nil
	}
	if s.closed {
		return soldOut(userID), false, nil
	}
	seq := s.enqueue(userID)
	return waitline.Standing{Status: waitline.Waiting, Position: s.order.prefix(seq)}, true, nil
}

// Standing returns the buyer's decision, or their position (1 is next) while
// waiting, or SoldOut while waiting in a closed line. Returns ErrNotInLine
// (wrapped) for a buyer neither waiting nor decided.
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

// Peek returns up to n waiting buyers, oldest first, leaving them in line.
func (l *Line) Peek(_ context.Context, dropID string, n int) ([]string, error) {
	s, ok := l.drops.get(dropID)
	if !ok || n <= 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n = min(n, len(s.waiting))
	out := make([]string, 0, n)
	if n == 0 {
		return out, nil
	}
	// kth rather than a walk from the head: buyers who left mid-line leave
	// gaps that a walk would pay for on every Peek.
	for k := 1; k <= n; k++ {
		out = append(out, s.bySeq[s.order.kth(int64(k))-1])
	}
	return out, nil
}

// Decide records each decision, keyed by its UserID, and takes that buyer
// out of the line, all under one lock. A buyer taken out of the line counts
// once in Admitted; deciding again only overwrites the decision. An Admitted
// decision arms its pass for Lapsed and ActivePasses; any other disarms it.
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
	rearmed := false
	for _, d := range ds {
		if s.dequeue(d.UserID) {
			s.admitted++
		}
		s.decided[d.UserID] = d
		if _, ok := s.armed[d.UserID]; ok && !touched[d.UserID] {
			rearmed = true
		}
		touched[d.UserID] = true
		if d.Status == waitline.Admitted {
			s.armed[d.UserID] = d.Pass.ExpiresAt
		} else {
			delete(s.armed, d.UserID)
		}
	}
	if rearmed {
		s.passes = slices.DeleteFunc(s.passes, func(p armedPass) bool { return touched[p.user] })
	}
	var added []armedPass
	for u := range touched {
		if exp, ok := s.armed[u]; ok {
			added = append(added, armedPass{exp, u})
		}
	}
	if len(added) == 0 {
		return nil
	}
	slices.SortFunc(added, comparePasses)
	// Passes are usually armed with later expiries than those already armed,
	// so appending keeps the slice sorted without a full sort.
	inOrder := len(s.passes) == 0 || comparePasses(s.passes[len(s.passes)-1], added[0]) < 0
	s.passes = append(s.passes, added...)
	if !inOrder {
		slices.SortFunc(s.passes, comparePasses)
	}
	return nil
}

// Leave takes a waiting buyer out of the line without a decision. Returns
// ErrNotInLine (wrapped) if the buyer is not waiting.
func (l *Line) Leave(_ context.Context, dropID, userID string) error {
	if s, ok := l.drops.get(dropID); ok {
		s.mu.Lock()
		left := s.dequeue(userID)
		s.mu.Unlock()
		if left {
			return nil
		}
	}
	return fmt.Errorf("memory: leave of %s in drop %s: %w", userID, dropID, waitline.ErrNotInLine)
}

// Length returns how many buyers are waiting (still counted after Close).
func (l *Line) Length(_ context.Context, dropID string) (int64, error) {
	s, ok := l.drops.get(dropID)
	if !ok {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.waiting)), nil
}

// Admitted returns how many buyers Decide took out of the line.
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

// Lapsed returns the Admitted decisions of up to n buyers whose armed pass
// expired before now, earliest expiry first. It changes nothing: the caller
// decides them (e.g. Expired), which disarms their passes.
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

// Close ends the drop's line: waiting buyers and later joiners stand SoldOut.
// Decided buyers keep their decisions.
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
