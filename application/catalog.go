package application

import (
	"context"
	"errors"
	"time"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// Catalog is what admins use: create drops, steer them live, read stats.
type Catalog struct {
	st     Stores
	drops  *DropCache
	recon  *Reconciler
	synced func(ctx context.Context, dropID string) (int64, error)
}

// NewCatalog returns the admin use cases.
func NewCatalog(st Stores, drops *DropCache, recon *Reconciler) *Catalog {
	st = st.withDefaults()
	return &Catalog{st: st, drops: drops, recon: recon, synced: st.Drops.IssuedCount}
}

// Create validates p and creates the drop, generating its id when p.ID is
// empty, and makes its stock claimable. Errors: drop.ErrInvalid (a
// *drop.ValidationError naming the field), drop.ErrExists, ErrUnavailable.
func (c *Catalog) Create(ctx context.Context, p drop.Params) (*drop.Drop, error) {
	if p.ID == "" {
		p.ID = c.st.IDs.NewID()
	}
	p.CreatedAt = c.st.Clock.Now()
	d, err := drop.New(p)
	if err != nil {
		return nil, err
	}
	if err := c.st.Drops.Create(ctx, d); err != nil {
		if errors.Is(err, drop.ErrExists) {
			return nil, err
		}
		return nil, unavailable("create drop", err)
	}
	// If loading fails the drop still exists and the admin hears 503; the
	// first claim finds the inventory not loaded and restores it.
	if err := c.st.Inventory.Load(ctx, d); err != nil {
		return nil, unavailable("load inventory", err)
	}
	c.drops.Put(d)
	return d, nil
}

// Update is a partial change of a drop; nil fields stay as they are.
type Update struct {
	AdmitRate *int
	Paused    *bool
	// ClosesAt moves the end of the window (a past time closes the drop now).
	ClosesAt *time.Time
	// ClearClosesAt removes the end of the window. It is a flag of its own,
	// not ClosesAt pointing at the zero time, so that no client-sent time
	// can ever be read as "no end".
	ClearClosesAt bool
	// MaxActive caps the active passes of a seated queued drop; a pointer
	// to 0 removes the cap.
	MaxActive *int
}

// Update applies u. Errors: drop.ErrInvalidID, drop.ErrNotFound,
// drop.ErrInvalid, ErrUnavailable.
func (c *Catalog) Update(ctx context.Context, id string, u Update) (*drop.Drop, error) {
	if err := drop.CheckID(id); err != nil {
		return nil, err
	}
	d, err := c.st.Drops.Update(ctx, id, func(d *drop.Drop) error {
		if u.AdmitRate != nil {
			if err := d.SetAdmitRate(*u.AdmitRate); err != nil {
				return err
			}
		}
		if u.Paused != nil {
			d.SetPaused(*u.Paused)
		}
		if u.MaxActive != nil {
			if err := d.SetMaxActive(*u.MaxActive); err != nil {
				return err
			}
		}
		if u.ClearClosesAt {
			d.ClearClosesAt()
		}
		if u.ClosesAt != nil {
			return d.SetClosesAt(*u.ClosesAt)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, drop.ErrNotFound) || errors.Is(err, drop.ErrInvalid) {
			return nil, err
		}
		return nil, unavailable("update drop", err)
	}
	c.drops.Put(d)
	return d, nil
}

// Get reads a drop from the store, bypassing the cache, for admin reads
// that must see the latest change.
func (c *Catalog) Get(ctx context.Context, id string) (*drop.Drop, error) {
	if err := drop.CheckID(id); err != nil {
		return nil, err
	}
	d, err := c.st.Drops.Get(ctx, id)
	if err != nil && !errors.Is(err, drop.ErrNotFound) {
		return nil, unavailable("read drop", err)
	}
	return d, err
}

// Stats are a drop's counters as an operator sees them.
type Stats struct {
	// Issued is what buyers were told (the inventory's view, live).
	Issued int64
	// Remaining units.
	Remaining int64
	// LineLength is how many buyers wait.
	LineLength int64
	// Admitted is how many buyers the dispatcher took out of the line.
	Admitted int64
	// Persisted is how many issuances are durable.
	Persisted int64
	// PendingPersist is Issued - Persisted (claims still committing).
	PendingPersist int64
	// IssuedCountSynced is what the count syncer last wrote.
	IssuedCountSynced int64
	// PreQueueLength is how many buyers wait in the pre-queue, unplaced.
	PreQueueLength int64
	// ActivePasses is how many passes are granted, not lapsed, not ended.
	ActivePasses int64
	AdmitRate    int
	Paused       bool
}

// Stats reads a drop's counters. Errors: drop.ErrInvalidID, drop.ErrNotFound,
// ErrUnavailable.
func (c *Catalog) Stats(ctx context.Context, id string) (Stats, error) {
	d, err := c.Get(ctx, id)
	if err != nil {
		return Stats{}, err
	}
	s := Stats{AdmitRate: d.AdmitRate(), Paused: d.Paused()}
	rem, err := c.st.Inventory.Remaining(ctx, id)
	if errors.Is(err, inventory.ErrNotLoaded) {
		rem, err = int64(d.Stock()), nil
	}
	if err != nil {
		return Stats{}, unavailable("read remaining", err)
	}
	s.Remaining, s.Issued = rem, int64(d.Stock())-rem
	if d.Queued() {
		if s.LineLength, err = waiting(ctx, c.st, id); err != nil {
			return Stats{}, err
		}
		if s.Admitted, err = c.st.Line.Admitted(ctx, id); err != nil {
			return Stats{}, unavailable("read admitted", err)
		}
		if s.PreQueueLength, err = c.st.Line.PreQueueLength(ctx, id); err != nil {
			return Stats{}, unavailable("read pre-queue length", err)
		}
		if s.ActivePasses, err = c.st.Line.ActivePasses(ctx, id, c.st.Clock.Now()); err != nil {
			return Stats{}, unavailable("read active passes", err)
		}
	}
	if s.Persisted, err = c.st.Ledger.CountByDrop(ctx, id); err != nil {
		return Stats{}, unavailable("count persisted", err)
	}
	s.PendingPersist = max(s.Issued-s.Persisted, 0)
	if s.IssuedCountSynced, err = c.synced(ctx, id); err != nil {
		return Stats{}, unavailable("read synced count", err)
	}
	return s, nil
}

// Issuances lists a drop's durable issuances in issue order (for audits).
// Errors: drop.ErrInvalidID, drop.ErrNotFound, ErrUnavailable.
func (c *Catalog) Issuances(ctx context.Context, id string) ([]issuance.Issuance, error) {
	if _, err := c.Get(ctx, id); err != nil {
		return nil, err
	}
	list, err := c.st.Ledger.ByDrop(ctx, id)
	return list, unavailable("list issuances", err)
}

// Reconcile compares the inventory with the ledger and repairs it; see Reconciler.
func (c *Catalog) Reconcile(ctx context.Context, id string) (ReconcileReport, error) {
	if err := drop.CheckID(id); err != nil {
		return ReconcileReport{}, err
	}
	return c.recon.Reconcile(ctx, id)
}
