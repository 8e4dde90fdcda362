package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/fastdeal/fastdeal/domain/issuance"
)

var _ issuance.Ledger = (*Ledger)(nil)

// Ledger keeps issuances in memory. "Durable" here means: recorded before
// Record returns, for as long as the process lives. Safe for concurrent use;
// records of one drop are serialised by that drop's mutex.
type Ledger struct {
	drops perKey[ledgerDrop]
	users perKey[ledgerUser]
	ids   sync.Map // issuance id -> *ledgerEntry, across drops
	seq   atomic.Uint64
}

// NewLedger returns an empty Ledger.
func NewLedger() *Ledger {
	return &Ledger{
		drops: perKey[ledgerDrop]{newT: func() *ledgerDrop {
			return &ledgerDrop{byUserN: make(map[userN]string), bySeat: make(map[string]string)}
		}},
		users: perKey[ledgerUser]{newT: func() *ledgerUser { return &ledgerUser{} }},
	}
}

type userN struct {
	user string
	n    int
}

type ledgerEntry struct {
	iss issuance.Issuance
	seq uint64 // record order, breaks IssuedAt ties
}

type ledgerDrop struct {
	mu      sync.Mutex
	entries []*ledgerEntry
	byUserN map[userN]string // -> issuance id
	bySeat  map[string]string
}

type ledgerUser struct {
	mu      sync.Mutex
	entries []*ledgerEntry
}

// Record stores iss. Recording an id already recorded returns nil and
// changes nothing. Returns ErrDuplicate (wrapped) if another issuance holds
// the same (drop, user, n) or the same seat of the drop.
func (l *Ledger) Record(_ context.Context, iss issuance.Issuance) error {
	if iss.ID == "" {
		return fmt.Errorf("memory: record issuance in drop %s: no id", iss.DropID)
	}
	d := l.drops.getOrCreate(iss.DropID)
	d.mu.Lock()
	if _, ok := l.ids.Load(iss.ID); ok {
		d.mu.Unlock()
		return nil
	}
	if id, ok := d.byUserN[userN{iss.UserID, iss.N}]; ok {
		d.mu.Unlock()
		return fmt.Errorf("memory: record %s: unit %d of user %s in drop %s is %s: %w",
			iss.ID, iss.N, iss.UserID, iss.DropID, id, issuance.ErrDuplicate)
	}
	if iss.Seat != "" {
		if id, ok := d.bySeat[iss.Seat]; ok {
			d.mu.Unlock()
			return fmt.Errorf("memory: record %s: seat %s of drop %s is %s: %w",
				iss.ID, iss.Seat, iss.DropID, id, issuance.ErrDuplicate)
		}
	}
	e := &ledgerEntry{iss: iss, seq: l.seq.Add(1)}
	// The same id may be racing into another drop; only one may win.
	if _, loaded := l.ids.LoadOrStore(iss.ID, e); loaded {
		d.mu.Unlock()
		return nil
	}
	d.entries = append(d.entries, e)
	d.byUserN[userN{iss.UserID, iss.N}] = iss.ID
	if iss.Seat != "" {
		d.bySeat[iss.Seat] = iss.ID
	}
	d.mu.Unlock()

	u := l.users.getOrCreate(iss.UserID)
	u.mu.Lock()
	u.entries = append(u.entries, e)
	u.mu.Unlock()
	return nil
}

// Get returns the issuance with that id, or ErrNotFound (wrapped).
func (l *Ledger) Get(_ context.Context, id string) (issuance.Issuance, error) {
	v, ok := l.ids.Load(id)
	if !ok {
		return issuance.Issuance{}, fmt.Errorf("memory: issuance %s: %w", id, issuance.ErrNotFound)
	}
	return v.(*ledgerEntry).iss, nil
}

// ByUser returns the buyer's issuances across drops, oldest IssuedAt first.
func (l *Ledger) ByUser(_ context.Context, userID string) ([]issuance.Issuance, error) {
	u, ok := l.users.get(userID)
	if !ok {
		return nil, nil
	}
	u.mu.Lock()
	es := slices.Clone(u.entries)
	u.mu.Unlock()
	return sortEntries(es), nil
}

// ByDrop returns every issuance of the drop, oldest IssuedAt first.
func (l *Ledger) ByDrop(_ context.Context, dropID string) ([]issuance.Issuance, error) {
	d, ok := l.drops.get(dropID)
	if !ok {
		return nil, nil
	}
	d.mu.Lock()
	es := slices.Clone(d.entries)
	d.mu.Unlock()
	return sortEntries(es), nil
}

// CountByDrop returns how many issuances of the drop are recorded.
func (l *Ledger) CountByDrop(_ context.Context, dropID string) (int64, error) {
	d, ok := l.drops.get(dropID)
	if !ok {
		return 0, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return int64(len(d.entries)), nil
}

func sortEntries(es []*ledgerEntry) []issuance.Issuance {
	slices.SortFunc(es, func(a, b *ledgerEntry) int {
		if c := a.iss.IssuedAt.Compare(b.iss.IssuedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]issuance.Issuance, len(es))
	for k, e := range es {
		out[k] = e.iss
	}
	return out
}
