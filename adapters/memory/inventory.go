package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

var _ inventory.Inventory = (*Inventory)(nil)

// Inventory keeps the units of each drop in memory. Every method is safe for
// concurrent use; claims on one drop are serialised by that drop's mutex and
// never wait for another drop.
type Inventory struct {
	drops perKey[invDrop]
}

// NewInventory returns an empty Inventory: every drop must be Loaded (or
// Restored) before it can be claimed.
func NewInventory() *Inventory {
	return &Inventory{drops: perKey[invDrop]{newT: func() *invDrop { return &invDrop{} }}}
}

// invDrop is one drop's state. The zero value is "not loaded".
type invDrop struct {
	mu     sync.Mutex
	d      *drop.Drop // nil until loaded
	seq    uint64
	byID   map[string]*holding
	bySeat map[string]*holding
	byUser map[string]*holder
}

// holding is one unit held by one issuance.
type holding struct {
	iss issuance.Issuance
	key string
	seq uint64 // claim order, breaks IssuedAt ties
}

// holder is what one buyer holds in one drop.
type holder struct {
	units []*holding
	keys  map[string]*holding
}

func (s *invDrop) init(d *drop.Drop) {
	s.d = d.Clone()
	s.byID = make(map[string]*holding)
	s.bySeat = make(map[string]*holding)
	s.byUser = make(map[string]*holder)
}

func (s *invDrop) remaining() int64 {
	return max(int64(s.d.Stock())-int64(len(s.byID)), 0)
}

func (s *invDrop) add(h *holding) {
	s.seq++
	h.seq = s.seq
	s.byID[h.iss.ID] = h
	if h.iss.Seat != "" {
		s.bySeat[h.iss.Seat] = h
	}
	u := s.byUser[h.iss.UserID]
	if u == nil {
		u = &holder{keys: make(map[string]*holding)}
		s.byUser[h.iss.UserID] = u
	}
	u.units = append(u.units, h)
	if h.key != "" {
		u.keys[h.key] = h
	}
}

func (s *invDrop) remove(h *holding) {
	delete(s.byID, h.iss.ID)
	if h.iss.Seat != "" && s.bySeat[h.iss.Seat] == h {
		delete(s.bySeat, h.iss.Seat)
	}
	u := s.byUser[h.iss.UserID]
	if u == nil {
		return
	}
	u.units = slices.DeleteFunc(u.units, func(x *holding) bool { return x == h })
	if h.key != "" && u.keys[h.key] == h {
		delete(u.keys, h.key)
	}
	if len(u.units) == 0 {
		delete(s.byUser, h.iss.UserID)
	}
}

// freeN returns the smallest unit number the user does not hold, so that N
// stays within 1..limit and (drop, user, n) backstops the per-user limit in
// the ledger even after a release.
func (u *holder) freeN() int {
	if u == nil {
		return 1
	}
	for n := 1; ; n++ {
		if !slices.ContainsFunc(u.units, func(h *holding) bool { return h.iss.N == n }) {
			return n
		}
	}
}

func (u *holder) count() int {
	if u == nil {
		return 0
	}
	return len(u.units)
}

// lockLoaded returns the drop's state locked, so the caller decides under
// the same lock that found it loaded; the caller unlocks.
func (i *Inventory) lockLoaded(dropID string) (*invDrop, error) {
	s, ok := i.drops.get(dropID)
	if !ok {
		return nil, inventory.ErrNotLoaded
	}
	s.mu.Lock()
	if s.d == nil {
		s.mu.Unlock()
		return nil, inventory.ErrNotLoaded
	}
	return s, nil
}

// Load makes d claimable with its full stock. Loading a drop that is already
// loaded (or restored) changes nothing.
func (i *Inventory) Load(_ context.Context, d *drop.Drop) error {
	s := i.drops.getOrCreate(d.ID())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d == nil {
		s.init(d)
	}
	return nil
}

// Claim decides a request atomically, in this order: a request the buyer
// already holds (same key, same issuance id, or the seat they hold) is
// Duplicate with the earlier issuance; then a buyer at req.Limit gets
// LimitReached, never SoldOut or SeatTaken; then the seat or the stock
// decides between SeatTaken, SoldOut and Claimed. A claimed issuance gets the
// smallest N the buyer does not hold. Returns ErrNotLoaded (wrapped) for a
// drop never loaded, and an error wrapping drop.ErrSeatRequired,
// drop.ErrSeatNotAllowed or drop.ErrUnknownSeat for a seat that does not fit
// the drop.
func (i *Inventory) Claim(_ context.Context, req inventory.Request) (inventory.Result, error) {
	iss := req.Issuance
	s, err := i.lockLoaded(iss.DropID)
	if err != nil {
		return inventory.Result{}, fmt.Errorf("memory: claim in drop %s: %w", iss.DropID, err)
	}
	defer s.mu.Unlock()
	if iss.ID == "" {
		return inventory.Result{}, fmt.Errorf("memory: claim in drop %s: issuance has no id", iss.DropID)
	}
	if err := s.d.CheckSeat(iss.Seat); err != nil {
		return inventory.Result{}, fmt.Errorf("memory: claim seat %q in drop %s: %w", iss.Seat, iss.DropID, err)
	}
	u := s.byUser[iss.UserID]
	if u != nil && req.Key != "" {
		if h := u.keys[req.Key]; h != nil {
			return inventory.Result{Outcome: inventory.Duplicate, Issuance: h.iss}, nil
		}
	}
	if h := s.byID[iss.ID]; h != nil {
		if h.iss.UserID != iss.UserID {
			return inventory.Result{}, fmt.Errorf("memory: claim in drop %s: issuance id %s belongs to another buyer", iss.DropID, iss.ID)
		}
		return inventory.Result{Outcome: inventory.Duplicate, Issuance: h.iss}, nil
	}
	seatHolder := s.bySeat[iss.Seat]
	if iss.Seat != "" && seatHolder != nil && seatHolder.iss.UserID == iss.UserID {
		return inventory.Result{Outcome: inventory.Duplicate, Issuance: seatHolder.iss}, nil
	}
	if u.count() >= req.Limit {
		return inventory.Result{Outcome: inventory.LimitReached}, nil
	}
	if s.remaining() == 0 {
		return inventory.Result{Outcome: inventory.SoldOut}, nil
	}
	if iss.Seat != "" && seatHolder != nil {
		return inventory.Result{Outcome: inventory.SeatTaken}, nil
	}
	iss.N = u.freeN()
	s.add(&holding{iss: iss, key: req.Key})
	return inventory.Result{Outcome: inventory.Claimed, Issuance: iss}, nil
}

// Release frees the unit iss holds: its stock or seat, its place in the
// buyer's count and the idempotency key that claimed it. key is not needed
// here, since the holding remembers its key. Returns ErrNotHeld (wrapped) if
// no unit is held by an issuance with iss's id and buyer, and ErrNotLoaded if
// the drop was never loaded.
func (i *Inventory) Release(_ context.Context, iss issuance.Issuance, _ string) error {
	s, err := i.lockLoaded(iss.DropID)
	if err != nil {
		return fmt.Errorf("memory: release %s in drop %s: %w", iss.ID, iss.DropID, err)
	}
	defer s.mu.Unlock()
	h := s.byID[iss.ID]
	if h == nil || h.iss.UserID != iss.UserID {
		return fmt.Errorf("memory: release %s in drop %s: %w", iss.ID, iss.DropID, inventory.ErrNotHeld)
	}
	s.remove(h)
	return nil
}

// Remaining returns how many units of the drop are not held. Returns
// ErrNotLoaded (wrapped).
func (i *Inventory) Remaining(_ context.Context, dropID string) (int64, error) {
	s, err := i.lockLoaded(dropID)
	if err != nil {
		return 0, fmt.Errorf("memory: remaining in drop %s: %w", dropID, err)
	}
	defer s.mu.Unlock()
	return s.remaining(), nil
}

// Holdings returns the buyer's units in the drop, oldest IssuedAt first.
// Returns ErrNotLoaded (wrapped).
func (i *Inventory) Holdings(_ context.Context, dropID, userID string) ([]issuance.Issuance, error) {
	s, err := i.lockLoaded(dropID)
	if err != nil {
		return nil, fmt.Errorf("memory: holdings in drop %s: %w", dropID, err)
	}
	defer s.mu.Unlock()
	u := s.byUser[userID]
	if u == nil {
		return nil, nil
	}
	return oldestFirst(u.units), nil
}

// Taken returns the labels of the held seats (empty for a general drop).
// Returns ErrNotLoaded (wrapped).
func (i *Inventory) Taken(_ context.Context, dropID string) (map[string]bool, error) {
	s, err := i.lockLoaded(dropID)
	if err != nil {
		return nil, fmt.Errorf("memory: taken in drop %s: %w", dropID, err)
	}
	defer s.mu.Unlock()
	taken := make(map[string]bool, len(s.bySeat))
	for seat := range s.bySeat {
		taken[seat] = true
	}
	return taken, nil
}

// Snapshot returns every holder record of the drop, oldest IssuedAt first.
// Returns ErrNotLoaded (wrapped).
func (i *Inventory) Snapshot(_ context.Context, dropID string) ([]issuance.Issuance, error) {
	s, err := i.lockLoaded(dropID)
	if err != nil {
		return nil, fmt.Errorf("memory: snapshot of drop %s: %w", dropID, err)
	}
	defer s.mu.Unlock()
	hs := make([]*holding, 0, len(s.byID))
	for _, h := range s.byID {
		hs = append(hs, h)
	}
	return oldestFirst(hs), nil
}

// Restore loads d if it is not loaded, then adds every issuance of held
// whose id it does not hold, taking its seat or stock and counting it
// against its buyer. A durable issuance wins over a record it conflicts with
// (same seat, or same buyer and N, under another id): that record belonged
// to a claim that can no longer be recorded, so it is dropped. Returns how
// many records it added.
func (i *Inventory) Restore(_ context.Context, d *drop.Drop, held []issuance.Issuance) (int, error) {
	for _, iss := range held {
		if iss.DropID != d.ID() {
			return 0, fmt.Errorf("memory: restore drop %s: issuance %s is of drop %s", d.ID(), iss.ID, iss.DropID)
		}
		if iss.ID == "" {
			return 0, errors.New("memory: restore drop " + d.ID() + ": issuance has no id")
		}
	}
	s := i.drops.getOrCreate(d.ID())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.d == nil {
		s.init(d)
	}
	added := 0
	for _, iss := range held {
		if s.byID[iss.ID] != nil {
			continue
		}
		if iss.Seat != "" {
			if h := s.bySeat[iss.Seat]; h != nil {
				s.remove(h)
			}
		}
		if u := s.byUser[iss.UserID]; u != nil {
			if j := slices.IndexFunc(u.units, func(h *holding) bool { return h.iss.N == iss.N }); j >= 0 {
				s.remove(u.units[j])
			}
		}
		s.add(&holding{iss: iss})
		added++
	}
	return added, nil
}

func oldestFirst(hs []*holding) []issuance.Issuance {
	hs = slices.Clone(hs)
	slices.SortFunc(hs, func(a, b *holding) int {
		if c := a.iss.IssuedAt.Compare(b.iss.IssuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]issuance.Issuance, len(hs))
	for k, h := range hs {
		out[k] = h.iss
	}
	return out
}
