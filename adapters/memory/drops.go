package memory

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/fastdeal/fastdeal/domain/drop"
)

var _ drop.Repository = (*Drops)(nil)

// Drops stores drops in memory. It hands out clones, so a caller can never
// change a stored drop except through Update. Safe for concurrent use.
type Drops struct {
	mu   sync.RWMutex
	byID map[string]*dropEntry
	seq  uint64
}

type dropEntry struct {
	mu     sync.Mutex // serialises Update of this drop without blocking others
	d      *drop.Drop
	issued int64
	seq    uint64 // creation order, breaks CreatedAt ties
}

// NewDrops returns an empty repository.
func NewDrops() *Drops {
	return &Drops{byID: make(map[string]*dropEntry)}
}

func (r *Drops) entry(id string) (*dropEntry, error) {
	r.mu.RLock()
	e := r.byID[id]
	r.mu.RUnlock()
	if e == nil {
		return nil, fmt.Errorf("memory: drop %s: %w", id, drop.ErrNotFound)
	}
	return e, nil
}

// Create stores a copy of d. Returns ErrExists (wrapped) if the id is taken.
func (r *Drops) Create(_ context.Context, d *drop.Drop) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.byID[d.ID()]; ok {
		return fmt.Errorf("memory: create drop %s: %w", d.ID(), drop.ErrExists)
	}
	r.seq++
	r.byID[d.ID()] = &dropEntry{d: d.Clone(), seq: r.seq}
	return nil
}

// Get returns a copy of the drop. Returns ErrNotFound (wrapped).
func (r *Drops) Get(_ context.Context, id string) (*drop.Drop, error) {
	e, err := r.entry(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.d.Clone(), nil
}

// List returns copies of the drops matching f, oldest CreatedAt first.
func (r *Drops) List(_ context.Context, f drop.Filter) ([]*drop.Drop, error) {
	r.mu.RLock()
	entries := make([]*dropEntry, 0, len(r.byID))
	for _, e := range r.byID {
		entries = append(entries, e)
	}
	r.mu.RUnlock()

	type found struct {
		d   *drop.Drop
		seq uint64
	}
	var out []found
	for _, e := range entries {
		e.mu.Lock()
		d := e.d.Clone()
		e.mu.Unlock()
		if f.Region != "" && d.Region() != f.Region {
			continue
		}
		if f.Status != "" && d.StatusAt(f.Now) != f.Status {
			continue
		}
		out = append(out, found{d, e.seq})
	}
	slices.SortFunc(out, func(a, b found) int {
		if c := a.d.CreatedAt().Compare(b.d.CreatedAt()); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	ds := make([]*drop.Drop, len(out))
	for k, x := range out {
		ds[k] = x.d
	}
	return ds, nil
}

// Update runs fn on a copy of the drop and stores the copy only if fn
// returns nil, while no other Update of that drop runs. Returns ErrNotFound
// (wrapped), or fn's error unchanged.
func (r *Drops) Update(_ context.Context, id string, fn func(*drop.Drop) error) (*drop.Drop, error) {
	e, err := r.entry(id)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.d.Clone()
	if err := fn(d); err != nil {
		return nil, err
	}
	e.d = d
	return d.Clone(), nil
}

// SaveIssuedCount stores n as the drop's last observed issued count.
// Returns ErrNotFound (wrapped).
func (r *Drops) SaveIssuedCount(_ context.Context, id string, n int64) error {
	e, err := r.entry(id)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.issued = n
	e.mu.Unlock()
	return nil
}

// IssuedCount returns the count SaveIssuedCount last stored, 0 if none.
// Returns ErrNotFound (wrapped).
func (r *Drops) IssuedCount(_ context.Context, id string) (int64, error) {
	e, err := r.entry(id)
	if err != nil {
		return 0, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.issued, nil
}
