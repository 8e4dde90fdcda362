package mysql

import (
	"context"
	"database/sql"
	"errors"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// Drops stores drops in the drops table. Safe for concurrent use.
type Drops struct {
	db *bun.DB
}

var _ drop.Repository = (*Drops)(nil)

// NewDrops returns a repository over db, whose schema MigrateUp created.
func NewDrops(db *bun.DB) *Drops { return &Drops{db: db} }

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
	if err := r.db.NewSelect().Model(&row).Where("id = ?", id).Scan(ctx); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, drop.ErrNotFound
		}
		return nil, translate(err, errUnavailable)
	}
	return row.toDrop()
}

// List returns the drops of f.Region (all regions if empty) whose status at
// f.Now is f.Status (any if empty), oldest first. Status is judged by the
// domain's StatusAt so every adapter agrees at the window's edges.
func (r *Drops) List(ctx context.Context, f drop.Filter) (_ []*drop.Drop, err error) {
	defer wrap(&err, "drops.List(%q, %q)", f.Region, f.Status)
	var rows []dropRow
	q := r.db.NewSelect().Model(&rows).OrderExpr("created_at ASC, id ASC")
	if f.Region != "" {
		q = q.Where("region = ?", f.Region)
	}
	if err := q.Scan(ctx); err != nil {
		return nil, translate(err, errUnavailable)
	}
	out := make([]*drop.Drop, 0, len(rows))
	for i := range rows {
		d, err := rows[i].toDrop()
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
