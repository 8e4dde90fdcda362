package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// Drops stores drops in the drops table. Safe for concurrent use.
//
// A seated drop's seat list never changes after creation, and every instance
// reads every drop often (the drop cache every half second, the dispatcher's
// list every second): fifty 50,000-seat drops cost an instance a core in
// fetching and parsing the same lists. So reads leave the seats column out
// and take its length instead; a drop already built with the same creation
// time and seat-list length shares the seats it was built with, and only a
// drop not seen before has its seats fetched and checked.
type Drops struct {
	db *bun.DB

	mu    sync.Mutex
	seats map[string]builtSeats // seated drops as last built, by id
}

type builtSeats struct {
	d   *drop.Drop
	len int64 // LENGTH(seats) of the row it was built from
}

var _ drop.Repository = (*Drops)(nil)

// NewDrops returns a repository over db, whose schema MigrateUp created.
func NewDrops(db *bun.DB) *Drops { return &Drops{db: db, seats: make(map[string]builtSeats)} }

// dropReadColumns are every column but seats, which reads replace with its
// length (seats_len).
var dropReadColumns = []string{
	"id", "name", "kind", "region", "venue", "stock", "opens_at", "closes_at", "queue_opens_at",
	"shuffle_at_open", "per_user_limit", "admission", "admit_rate", "pass_ttl_ms", "max_active",
	"paused", "issued_count", "created_at",
}

func (r *Drops) selectRows(model any) *bun.SelectQuery {
	return r.db.NewSelect().Model(model).Column(dropReadColumns...).ColumnExpr("COALESCE(LENGTH(seats), 0) AS seats_len")
}

// build turns a row read without its seats into a drop, fetching and
// checking the seats only for a seated drop not built before in this form.
func (r *Drops) build(ctx context.Context, row *dropRow) (*drop.Drop, error) {
	if row.Kind != string(drop.KindSeated) {
		return row.toDrop()
	}
	r.mu.Lock()
	prev, ok := r.seats[row.ID]
	r.mu.Unlock()
	if ok && prev.d.CreatedAt().Equal(row.CreatedAt.UTC()) && prev.len == row.SeatsLen {
		d, err := drop.NewReusingSeats(row.params(nil), prev.d)
		if err != nil {
			return nil, fmt.Errorf("drop %s: stored row is invalid: %w", row.ID, err)
		}
		return d, nil
	}
	if err := r.db.NewSelect().Model((*dropRow)(nil)).Column("seats").Where("id = ?", row.ID).Scan(ctx, &row.Seats); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, drop.ErrNotFound
		}
		return nil, translate(err, errUnavailable)
	}
	row.SeatsLen = int64(len(row.Seats.String))
	d, err := row.toDrop()
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.seats[row.ID] = builtSeats{d: d, len: row.SeatsLen}
	r.mu.Unlock()
	return d, nil
}

// Create stores d. Returns drop.ErrExists if the id is taken, and
// issuance.ErrUnavailable (wrapped) if the server cannot be reached.
func (r *Drops) Create(ctx context.Context, d *drop.Drop) (err error) {
	defer wrap(&err, "drops.Create(%s)", d.ID())
	row, err := dropToRow(d)
	if err != nil {
		return err
	}
	if _, err := r.db.NewInsert().Model(&row).Exec(ctx); err != nil {
		if isDuplicate(err) {
			return drop.ErrExists
		}
		return translate(err, errUnavailable)
	}
	return nil
}

// Get returns the drop, drop.ErrNotFound, or issuance.ErrUnavailable (wrapped).
func (r *Drops) Get(ctx context.Context, id string) (_ *drop.Drop, err error) {
	defer wrap(&err, "drops.Get(%s)", id)
	var row dropRow
	if err := r.selectRows(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, drop.ErrNotFound
		}
		return nil, translate(err, errUnavailable)
	}
	return r.build(ctx, &row)
}

// List returns the drops of f.Region (all regions if empty) whose status at
// f.Now is f.Status (any if empty), oldest first. Status is judged by the
// domain's StatusAt so every adapter agrees at the window's edges.
func (r *Drops) List(ctx context.Context, f drop.Filter) (_ []*drop.Drop, err error) {
	defer wrap(&err, "drops.List(%q, %q)", f.Region, f.Status)
	var rows []dropRow
	q := r.selectRows(&rows).OrderExpr("created_at ASC, id ASC")
	if f.Region != "" {
		q = q.Where("region = ?", f.Region)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, translate(err, errUnavailable)
	}
	out := make([]*drop.Drop, 0, len(rows))
	for i := range rows {
		d, err := r.build(ctx, &rows[i])
		if err != nil {
			return nil, err
		}
		if f.Status != "" && d.StatusAt(f.Now) != f.Status {
			continue
		}
		out = append(out, d)
	}
	return out, nil
}

// Update locks the row (SELECT ... FOR UPDATE), applies fn and writes the
// result in one short transaction, so concurrent updates never lose each
// other's changes. Returns drop.ErrNotFound, fn's error unchanged (nothing
// written), or issuance.ErrUnavailable (wrapped).
func (r *Drops) Update(ctx context.Context, id string, fn func(*drop.Drop) error) (*drop.Drop, error) {
	var (
		out   *drop.Drop
		fnErr error
	)
	err := r.db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		var row dropRow
		if err := tx.NewSelect().Model(&row).Where("id = ?", id).For("UPDATE").Scan(ctx); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return drop.ErrNotFound
			}
			return err
		}
		d, err := row.toDrop()
		if err != nil {
			return err
		}
		if err := fn(d); err != nil {
			fnErr = err
			return err
		}
		nrow, err := dropToRow(d)
		if err != nil {
			return err
		}
		// The id is the one locked, whatever fn did to its copy.
		nrow.ID = id
		if _, err := tx.NewUpdate().Model(&nrow).Column(dropMutableColumns...).WherePK().Exec(ctx); err != nil {
			return err
		}
		out = d
		return nil
	})
	switch {
	case err == nil:
		return out, nil
	case fnErr != nil:
		return nil, fnErr
	case errors.Is(err, drop.ErrNotFound):
		return nil, drop.ErrNotFound
	}
	return nil, wrapErr(translate(err, errUnavailable), "drops.Update(%s)", id)
}

// SaveIssuedCount stores n as the drop's issued count. Returns
// drop.ErrNotFound or issuance.ErrUnavailable (wrapped).
func (r *Drops) SaveIssuedCount(ctx context.Context, id string, n int64) (err error) {
	defer wrap(&err, "drops.SaveIssuedCount(%s)", id)
	res, err := r.db.NewUpdate().Model((*dropRow)(nil)).Set("issued_count = ?", n).Where("id = ?", id).Exec(ctx)
	if err != nil {
		return translate(err, errUnavailable)
	}
	if affected, _ := res.RowsAffected(); affected > 0 {
		return nil
	}
	// MySQL counts changed rows, so 0 may just mean "already n".
	exists, err := r.db.NewSelect().Model((*dropRow)(nil)).Where("id = ?", id).Exists(ctx)
	if err != nil {
		return translate(err, errUnavailable)
	}
	if !exists {
		return drop.ErrNotFound
	}
	return nil
}

// IssuedCount returns the count SaveIssuedCount stored (0 if none).
// Returns drop.ErrNotFound or issuance.ErrUnavailable (wrapped).
func (r *Drops) IssuedCount(ctx context.Context, id string) (_ int64, err error) {
	defer wrap(&err, "drops.IssuedCount(%s)", id)
	var n int64
	if err := r.db.NewSelect().Model((*dropRow)(nil)).Column("issued_count").Where("id = ?", id).Scan(ctx, &n); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return 0, drop.ErrNotFound
		}
		return 0, translate(err, errUnavailable)
	}
	return n, nil
}
