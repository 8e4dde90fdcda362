package application

import (
	"context"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
)

// MaxSeatPage is the largest page of seats one request gets, and the size of
// a page when the caller asks for none in particular.
const MaxSeatPage = 1000

// seatsMaxAge is how old a seat snapshot may be when it answers: docs/openapi.yaml
// allows the seats route to lag the truth by up to a second.
const seatsMaxAge = time.Second

// SeatQuery picks one page of a seated drop's seats.
type SeatQuery struct {
	// Available keeps only the seats nobody holds.
	Available bool
	// Limit is the most seats in the page; outside 1..MaxSeatPage it is
	// MaxSeatPage (the HTTP adapter refuses such values before they get here).
	Limit int
	// After starts the page at the first label above it in label order;
	// empty starts at the first seat. It need not name a seat of the drop.
	After string
}

// SeatPage is one page of seats in label order.
type SeatPage struct {
	// Seats is never nil, so an empty page renders as [].
	Seats []SeatView
	// Next is the After of the next page; empty when no seat follows.
	Next string
	// Version names the snapshot the page was cut from, unique in the
	// process: the same drop, query and version give the same page, so a
	// caller may keep what it rendered from it.
	Version uint64
}

// seatCache holds, per seated drop, its labels in order and a snapshot of
// which are taken, so a page costs a binary search and a copy of at most
// MaxSeatPage entries instead of a store read and a sort of every seat.
// Concurrent requests that find a snapshot too old share one store read.
type seatCache struct {
	inv     inventory.Inventory
	clock   clock.Clock
	timeout time.Duration
	flight  singleflight.Group
	entries sync.Map // drop id -> *atomic.Pointer[seatSnap]
}

// seatSnap is one drop's seats as one store read saw them. It is never
// changed after it is published, so readers need no lock.
type seatSnap struct {
	// labels are the drop's seats in label order. A drop's seats never change
	// once it is created, so later snapshots of the same drop (same creation
	// time) reuse the slice instead of sorting up to 100,000 labels again.
	labels  []string
	created time.Time
	taken   []bool  // taken[i] is labels[i]'s state
	free    []int32 // indexes of the free labels, in order
	// at is when the store read started, so the age errs on the old side.
	at      time.Time
	version uint64
}

// seatVersions numbers snapshots across every Sales in the process, so a
// version never names two snapshots, not even of two drops with one id.
var seatVersions atomic.Uint64

func newSeatCache(inv inventory.Inventory, clk clock.Clock, timeout time.Duration) *seatCache {
	return &seatCache{inv: inv, clock: clk, timeout: timeout}
}

// snapshot returns d's seats no older than seatsMaxAge, reading the store
// when the one held is older. The read outlives a caller who gives up (it
// serves those still waiting), bounded by the store timeout.
func (c *seatCache) snapshot(ctx context.Context, d *drop.Drop) (*seatSnap, error) {
	slot := c.slot(d.ID())
	if s := slot.Load(); s != nil && c.fresh(s) {
		return s, nil
	}
	ch := c.flight.DoChan(d.ID(), func() (any, error) {
		// A read that finished between our look and this flight serves us.
		prev := slot.Load()
		if prev != nil && c.fresh(prev) {
			return prev, nil
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
		defer cancel()
		at := c.clock.Now()
		taken, err := c.inv.Taken(rctx, d.ID())
		if err != nil {
			return nil, unavailable("read seats", err)
		}
		var labels []string
		if prev != nil && prev.created.Equal(d.CreatedAt()) {
			labels = prev.labels
		} else {
			labels = d.Seats()
			slices.Sort(labels)
		}
		s := buildSeatSnap(labels, taken, at)
		s.created = d.CreatedAt()
		slot.Store(s)
		return s, nil
	})
	select {
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*seatSnap), nil
	case <-ctx.Done():
		return nil, unavailable("read seats", ctx.Err())
	}
}

func (c *seatCache) fresh(s *seatSnap) bool { return c.clock.Now().Sub(s.at) < seatsMaxAge }

func (c *seatCache) slot(dropID string) *atomic.Pointer[seatSnap] {
	if v, ok := c.entries.Load(dropID); ok {
		return v.(*atomic.Pointer[seatSnap])
	}
	v, _ := c.entries.LoadOrStore(dropID, new(atomic.Pointer[seatSnap]))
	return v.(*atomic.Pointer[seatSnap])
}

func buildSeatSnap(labels []string, taken map[string]bool, at time.Time) *seatSnap {
	s := &seatSnap{labels: labels, taken: make([]bool, len(labels)), at: at, version: seatVersions.Add(1)}
	s.free = make([]int32, 0, len(labels)-min(len(taken), len(labels)))
	for i, l := range labels {
		if taken[l] {
			s.taken[i] = true
			continue
		}
		s.free = append(s.free, int32(i))
	}
	return s
}

// page cuts the page q asks for out of the snapshot.
func (s *seatSnap) page(q SeatQuery) SeatPage {
	limit := q.Limit
	if limit < 1 || limit > MaxSeatPage {
		limit = MaxSeatPage
	}
	if q.Available {
		// Binary search over the free seats' labels: label order is the
		// same in free as in labels.
		start := 0
		if q.After != "" {
			start = sort.Search(len(s.free), func(k int) bool { return s.labels[s.free[k]] > q.After })
		}
		end := min(start+limit, len(s.free))
		out := make([]SeatView, 0, end-start)
		for _, i := range s.free[start:end] {
			out = append(out, SeatView{Label: s.labels[i]})
		}
		p := SeatPage{Seats: out, Version: s.version}
		if end < len(s.free) {
			p.Next = s.labels[s.free[end-1]]
		}
		return p
	}
	start := 0
	if q.After != "" {
		start = sort.Search(len(s.labels), func(i int) bool { return s.labels[i] > q.After })
	}
	end := min(start+limit, len(s.labels))
	out := make([]SeatView, 0, end-start)
	for i := start; i < end; i++ {
		out = append(out, SeatView{Label: s.labels[i], Taken: s.taken[i]})
	}
	p := SeatPage{Seats: out, Version: s.version}
	if end < len(s.labels) {
		p.Next = s.labels[end-1]
	}
	return p
}
