package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// holdRow is an inventory_holds row: one unit held, with the whole
// candidate issuance and the hash of the idempotency key that claimed it.
type holdRow struct {
	bun.BaseModel `bun:"table:inventory_holds"`

	IssuanceID string         `bun:"issuance_id,pk"`
	DropID     string         `bun:"drop_id"`
	UserID     string         `bun:"user_id"`
	Seat       sql.NullString `bun:"seat"`
	N          int            `bun:"n"`
	Code       string         `bun:"code"`
	IssuedAt   time.Time      `bun:"issued_at"`
	KeyHash    []byte         `bun:"key_hash"`
}

func holdFromIssuance(iss issuance.Issuance, keyHash []byte) holdRow {
	return holdRow{
		IssuanceID: iss.ID, DropID: iss.DropID, UserID: iss.UserID, Seat: nullString(iss.Seat),
		N: iss.N, Code: iss.Code, IssuedAt: iss.IssuedAt.UTC(), KeyHash: keyHash,
	}
}

func (h *holdRow) toIssuance() issuance.Issuance {
	return issuance.Issuance{
		ID: h.IssuanceID, DropID: h.DropID, UserID: h.UserID, Seat: h.Seat.String,
		N: h.N, Code: h.Code, IssuedAt: h.IssuedAt.UTC(),
	}
}

func keyHash(key string) []byte {
	if key == "" {
		return nil
	}
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// claimAttempts bounds reruns of a claim InnoDB rolled back as a deadlock
// victim. Claims lock in one order and should never deadlock each other;
// the reruns cover Restore and other writers.
const claimAttempts = 3

// seatChunk is how many rows one multi-row INSERT carries when loading seats
// or restoring holders: large enough to amortise round trips, small enough
// to stay far below max_allowed_packet.
const seatChunk = 1000

// Inventory is the `mysql` inventory strategy: every claim is one short
// transaction holding row locks (SELECT ... FOR UPDATE) on the buyer's
// counter row and then on the seat row or the drop's stock row. It is
// correct across any number of processes; its throughput on a general drop
// is bounded by one commit at a time on the stock row.
type Inventory struct {
	db *bun.DB
}

var _ inventory.Inventory = (*Inventory)(nil)

// NewInventory returns the inventory over db, whose schema MigrateUp created.
func NewInventory(db *bun.DB) *Inventory { return &Inventory{db: db} }

func txOptions() *sql.TxOptions {
	// READ COMMITTED: a locking read of a missing row takes no gap lock,
	// so two first-time buyers never block or deadlock each other.
	return &sql.TxOptions{Isolation: sql.LevelReadCommitted}
}

func (inv *Inventory) inTx(ctx context.Context, fn func(tx bun.Tx) error) error {
	var err error
	for range claimAttempts {
		err = inv.db.RunInTx(ctx, txOptions(), func(ctx context.Context, tx bun.Tx) error { return fn(tx) })
		if err == nil || !isRetryable(err) || ctx.Err() != nil {
			return err
		}
	}
	return err
}

// Load creates the drop's stock row and, for a seated drop, one row per
// seat, in one transaction. A drop already loaded is left as it is.
func (inv *Inventory) Load(ctx context.Context, d *drop.Drop) (err error) {
	defer wrap(&err, "inventory.Load(%s)", d.ID())
	return translate(inv.inTx(ctx, func(tx bun.Tx) error { return loadTx(ctx, tx, d) }), inventory.ErrUnavailable)
}

func loadTx(ctx context.Context, tx bun.Tx, d *drop.Drop) error {
	res, err := tx.ExecContext(ctx,
		"INSERT IGNORE INTO inventory_stock (drop_id, kind, stock, remaining) VALUES (?, ?, ?, ?)",
		d.ID(), string(d.Kind()), d.Stock(), d.Stock())
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 || !d.Seated() {
		return nil
	}
	seats := d.Seats()
	for start := 0; start < len(seats); start += seatChunk {
		end := min(start+seatChunk, len(seats))
		var q strings.Builder
		args := make([]any, 0, 2*(end-start))
		q.WriteString("INSERT IGNORE INTO inventory_seats (drop_id, label) VALUES ")
		for i, s := range seats[start:end] {
			if i > 0 {
				q.WriteString(", ")
			}
			q.WriteString("(?, ?)")
			args = append(args, d.ID(), s)
		}
		if _, err := tx.ExecContext(ctx, q.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// preflight is what a claim can learn without a transaction or a lock.
type preflight struct {
	Kind      string
	Remaining int64
	Held      int
	// Holder is NULL when the seat does not exist, "" when it is free.
	Holder sql.NullString
}

// Claim checks the per-user limit, the key and the seat or stock, and records
// the holder, atomically. A buyer who holds nothing yet meets a sold-out stock
// or a taken seat without any lock: under a spike most claims end there, and
// they must not queue on the stock row to hear "no".
// Returns inventory.ErrNotLoaded or inventory.ErrUnavailable (wrapped) with
// nothing claimed; drop.ErrSeatRequired, ErrSeatNotAllowed or ErrUnknownSeat
// if the seat does not fit the drop.
func (inv *Inventory) Claim(ctx context.Context, req inventory.Request) (_ inventory.Result, err error) {
	iss := req.Issuance
	defer wrap(&err, "inventory.Claim(%s, %s)", iss.DropID, iss.UserID)
	probe := iss
	probe.N = 1
	if err := checkIssuance(probe); err != nil {
		return inventory.Result{}, err
	}
	limit := max(req.Limit, 1)
	kh := keyHash(req.Key)

	var pf preflight
	err = inv.db.QueryRowContext(ctx, `SELECT s.kind, s.remaining,
		COALESCE((SELECT u.held FROM inventory_users u WHERE u.drop_id = s.drop_id AND u.user_id = ?), 0),
		(SELECT COALESCE(t.holder_id, '') FROM inventory_seats t WHERE t.drop_id = s.drop_id AND t.label = ?)
		FROM inventory_stock s WHERE s.drop_id = ?`, iss.UserID, iss.Seat, iss.DropID).
		Scan(&pf.Kind, &pf.Remaining, &pf.Held, &pf.Holder)
	if errors.Is(err, sql.ErrNoRows) {
		return inventory.Result{}, inventory.ErrNotLoaded
	}
	if err != nil {
		return inventory.Result{}, translate(err, inventory.ErrUnavailable)
	}
	seated := pf.Kind == string(drop.KindSeated)
	switch {
	case seated && iss.Seat == "":
		return inventory.Result{}, drop.ErrSeatRequired
	case !seated && iss.Seat != "":
		return inventory.Result{}, drop.ErrSeatNotAllowed
	case seated && !pf.Holder.Valid:
		return inventory.Result{}, drop.ErrUnknownSeat
	case pf.Held == 0 && !seated && pf.Remaining <= 0:
		return inventory.Result{Outcome: inventory.SoldOut}, nil
	case pf.Held == 0 && seated && pf.Holder.String != "":
		return inventory.Result{Outcome: inventory.SeatTaken}, nil
	}

	var res inventory.Result
	err = inv.inTx(ctx, func(tx bun.Tx) error {
		var err error
		res, err = claimTx(ctx, tx, iss, limit, kh, seated)
		return err
	})
	if errors.Is(err, errNoClaim) {
		// The outcome is an answer, not a failure: the transaction was rolled
		// back only to undo the counter row it created.
		return res, nil
	}
	if err != nil {
		if isDuplicate(err) {
			return inventory.Result{}, fmt.Errorf("issuance id %s already holds a unit: %w", iss.ID, issuance.ErrDuplicate)
		}
		return inventory.Result{}, translate(err, inventory.ErrUnavailable)
	}
	return res, nil
}

// errNoClaim rolls back a claim transaction whose outcome is not Claimed.
var errNoClaim = errors.New("no claim")

func claimTx(ctx context.Context, tx bun.Tx, iss issuance.Issuance, limit int, kh []byte, seated bool) (inventory.Result, error) {
	// The buyer's counter row is the first lock every claim and release of
	// this buyer takes; upserting it makes the lock exist for a first claim.
	if _, err := tx.ExecContext(ctx, `INSERT INTO inventory_users (drop_id, user_id, held) VALUES (?, ?, 0)
		ON DUPLICATE KEY UPDATE held = held`, iss.DropID, iss.UserID); err != nil {
		return inventory.Result{}, err
	}
	var held int
	if err := tx.QueryRowContext(ctx, "SELECT held FROM inventory_users WHERE drop_id = ? AND user_id = ? FOR UPDATE",
		iss.DropID, iss.UserID).Scan(&held); err != nil {
		return inventory.Result{}, err
	}
	var holds []holdRow
	if held > 0 {
		if err := tx.NewSelect().Model(&holds).Where("drop_id = ? AND user_id = ?", iss.DropID, iss.UserID).
			OrderExpr("issued_at ASC, n ASC").Scan(ctx); err != nil {
			return inventory.Result{}, err
		}
		for i := range holds {
			h := &holds[i]
			if h.IssuanceID == iss.ID || (kh != nil && string(h.KeyHash) == string(kh)) ||
				(seated && h.Seat.String == iss.Seat) {
				return inventory.Result{Outcome: inventory.Duplicate, Issuance: h.toIssuance()}, errNoClaim
			}
		}
		held = len(holds)
	}
	if held >= limit {
		return inventory.Result{Outcome: inventory.LimitReached}, errNoClaim
	}
	iss.N = nextN(holds)

	if seated {
		var holder sql.NullString
		err := tx.QueryRowContext(ctx, "SELECT holder_id FROM inventory_seats WHERE drop_id = ? AND label = ? FOR UPDATE",
			iss.DropID, iss.Seat).Scan(&holder)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Result{}, drop.ErrUnknownSeat
		}
		if err != nil {
			return inventory.Result{}, err
		}
		if holder.Valid {
			return inventory.Result{Outcome: inventory.SeatTaken}, errNoClaim
		}
		if _, err := tx.ExecContext(ctx, "UPDATE inventory_seats SET holder_id = ? WHERE drop_id = ? AND label = ?",
			iss.ID, iss.DropID, iss.Seat); err != nil {
			return inventory.Result{}, err
		}
	}
	h := holdFromIssuance(iss, kh)
	if _, err := tx.NewInsert().Model(&h).Exec(ctx); err != nil {
		return inventory.Result{}, err
	}
	if _, err := tx.ExecContext(ctx, "UPDATE inventory_users SET held = ? WHERE drop_id = ? AND user_id = ?",
		held+1, iss.DropID, iss.UserID); err != nil {
		return inventory.Result{}, err
	}
	if !seated {
		// The stock row is every general claim's hot lock: take it last so it
		// is held only for this read, one update and the commit.
		var remaining int64
		err := tx.QueryRowContext(ctx, "SELECT remaining FROM inventory_stock WHERE drop_id = ? FOR UPDATE", iss.DropID).Scan(&remaining)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.Result{}, inventory.ErrNotLoaded
		}
		if err != nil {
			return inventory.Result{}, err
		}
		if remaining <= 0 {
			return inventory.Result{Outcome: inventory.SoldOut}, errNoClaim
		}
		if _, err := tx.ExecContext(ctx, "UPDATE inventory_stock SET remaining = remaining - 1 WHERE drop_id = ?", iss.DropID); err != nil {
			return inventory.Result{}, err
		}
	}
	return inventory.Result{Outcome: inventory.Claimed, Issuance: iss}, nil
}

// nextN is the smallest unit number the buyer does not hold: a released
// unit's number is free again, and (drop, user, n) stays unique.
func nextN(holds []holdRow) int {
	used := make(map[int]bool, len(holds))
	for i := range holds {
		used[holds[i].N] = true
	}
	n := 1
	for used[n] {
		n++
	}
	return n
}

// Release gives back the unit iss holds: the holder record goes, the seat is
// free or the stock one higher, and the buyer's count and key are freed.
// Returns inventory.ErrNotHeld if iss (same id, drop, user and seat) holds
// no unit, inventory.ErrUnavailable (wrapped) if nothing could be done.
func (inv *Inventory) Release(ctx context.Context, iss issuance.Issuance, key string) (err error) {
	defer wrap(&err, "inventory.Release(%s)", iss.ID)
	err = inv.inTx(ctx, func(tx bun.Tx) error {
		var held int
		err := tx.QueryRowContext(ctx, "SELECT held FROM inventory_users WHERE drop_id = ? AND user_id = ? FOR UPDATE",
			iss.DropID, iss.UserID).Scan(&held)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.ErrNotHeld
		}
		if err != nil {
			return err
		}
		var h holdRow
		err = tx.NewSelect().Model(&h).Where("issuance_id = ?", iss.ID).For("UPDATE").Scan(ctx)
		if errors.Is(err, sql.ErrNoRows) {
			return inventory.ErrNotHeld
		}
		if err != nil {
			return err
		}
		if h.DropID != iss.DropID || h.UserID != iss.UserID || h.Seat.String != iss.Seat {
			return inventory.ErrNotHeld
		}
		if kh := keyHash(key); kh != nil && h.KeyHash != nil && string(kh) != string(h.KeyHash) {
			return fmt.Errorf("claimed with another idempotency key: %w", inventory.ErrNotHeld)
		}
		if _, err := tx.NewDelete().Model((*holdRow)(nil)).Where("issuance_id = ?", iss.ID).Exec(ctx); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE inventory_users SET held = GREATEST(held - 1, 0) WHERE drop_id = ? AND user_id = ?",
			iss.DropID, iss.UserID); err != nil {
			return err
		}
		if h.Seat.Valid {
			_, err = tx.ExecContext(ctx, "UPDATE inventory_seats SET holder_id = NULL WHERE drop_id = ? AND label = ? AND holder_id = ?",
				iss.DropID, iss.Seat, iss.ID)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE inventory_stock SET remaining = LEAST(remaining + 1, stock) WHERE drop_id = ?", iss.DropID)
		}
		return err
	})
	return translate(err, inventory.ErrUnavailable)
}

// Remaining returns the units left: the stock row's count for a general
// drop, the seats without a holder for a seated one. Returns
// inventory.ErrNotLoaded or inventory.ErrUnavailable (wrapped).
func (inv *Inventory) Remaining(ctx context.Context, dropID string) (_ int64, err error) {
	defer wrap(&err, "inventory.Remaining(%s)", dropID)
	var (
		kind             string
		stock, remaining int64
	)
	err = inv.db.QueryRowContext(ctx, "SELECT kind, stock, remaining FROM inventory_stock WHERE drop_id = ?", dropID).
		Scan(&kind, &stock, &remaining)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, inventory.ErrNotLoaded
	}
	if err != nil {
		return 0, translate(err, inventory.ErrUnavailable)
	}
	if kind != string(drop.KindSeated) {
		return remaining, nil
	}
	var taken int64
	if err := inv.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM inventory_seats WHERE drop_id = ? AND holder_id IS NOT NULL", dropID).
		Scan(&taken); err != nil {
		return 0, translate(err, inventory.ErrUnavailable)
	}
	return max(stock-taken, 0), nil
}

// Holdings returns the units the buyer holds in the drop, oldest first.
func (inv *Inventory) Holdings(ctx context.Context, dropID, userID string) (_ []issuance.Issuance, err error) {
	defer wrap(&err, "inventory.Holdings(%s, %s)", dropID, userID)
	return inv.holds(ctx, "drop_id = ? AND user_id = ?", dropID, userID)
}

// Snapshot returns every holder record of the drop, oldest first.
func (inv *Inventory) Snapshot(ctx context.Context, dropID string) (_ []issuance.Issuance, err error) {
	defer wrap(&err, "inventory.Snapshot(%s)", dropID)
	return inv.holds(ctx, "drop_id = ?", dropID)
}

func (inv *Inventory) holds(ctx context.Context, where string, args ...any) ([]issuance.Issuance, error) {
	var rows []holdRow
	if err := inv.db.NewSelect().Model(&rows).Where(where, args...).
		OrderExpr("issued_at ASC, issuance_id ASC").Scan(ctx); err != nil {
		return nil, translate(err, inventory.ErrUnavailable)
	}
	out := make([]issuance.Issuance, len(rows))
	for i := range rows {
		out[i] = rows[i].toIssuance()
	}
	return out, nil
}

// Taken returns the labels of the drop's held seats (empty for a general
// drop or one not loaded).
func (inv *Inventory) Taken(ctx context.Context, dropID string) (_ map[string]bool, err error) {
	defer wrap(&err, "inventory.Taken(%s)", dropID)
	var labels []string
	if err := inv.db.NewSelect().Table("inventory_holds").Column("seat").
		Where("drop_id = ? AND seat IS NOT NULL", dropID).Scan(ctx, &labels); err != nil {
		return nil, translate(err, inventory.ErrUnavailable)
	}
	out := make(map[string]bool, len(labels))
	for _, l := range labels {
		out[l] = true
	}
	return out, nil
}

// Restore loads the drop if needed and adds a holder record for each held
// issuance it lacks, then recomputes the stock left, the seat holders and
// the per-user counts from the holder records, all in one transaction.
// Records not in held are kept, except one that occupies the same seat or
// (user, n) as a held issuance: held issuances are durable, so such a
// record belongs to a claim whose Record must fail, and it makes way.
// Returns how many holder records it added.
func (inv *Inventory) Restore(ctx context.Context, d *drop.Drop, held []issuance.Issuance) (_ int, err error) {
	defer wrap(&err, "inventory.Restore(%s)", d.ID())
	for _, iss := range held {
		if iss.DropID != d.ID() {
			return 0, fmt.Errorf("issuance %s belongs to drop %s: %w", iss.ID, iss.DropID, drop.ErrInvalid)
		}
		if err := checkIssuance(iss); err != nil {
			return 0, err
		}
	}
	var added int
	err = inv.inTx(ctx, func(tx bun.Tx) error {
		added = 0
		if err := loadTx(ctx, tx, d); err != nil {
			return err
		}
		// Serialises with general claims, which take this row last.
		if _, err := tx.ExecContext(ctx, "SELECT remaining FROM inventory_stock WHERE drop_id = ? FOR UPDATE", d.ID()); err != nil {
			return err
		}
		for start := 0; start < len(held); start += seatChunk {
			n, err := restoreChunk(ctx, tx, held[start:min(start+seatChunk, len(held))])
			if err != nil {
				return err
			}
			added += n
		}
		return recount(ctx, tx, d)
	})
	return added, translate(err, inventory.ErrUnavailable)
}

func restoreChunk(ctx context.Context, tx bun.Tx, chunk []issuance.Issuance) (int, error) {
	ids := make([]string, 0, len(chunk))
	for _, iss := range chunk {
		ids = append(ids, iss.ID)
	}
	present := func() (map[string]bool, error) {
		var got []string
		if err := tx.NewSelect().Table("inventory_holds").Column("issuance_id").
			Where("issuance_id IN (?)", bun.List(ids)).Scan(ctx, &got); err != nil {
			return nil, err
		}
		have := make(map[string]bool, len(got))
		for _, id := range got {
			have[id] = true
		}
		return have, nil
	}
	before, err := present()
	if err != nil {
		return 0, err
	}
	rows := make([]holdRow, 0, len(chunk))
	for _, iss := range chunk {
		if !before[iss.ID] {
			before[iss.ID] = true // a repeat within held is one record
			rows = append(rows, holdFromIssuance(iss, nil))
		}
	}
	if len(rows) == 0 {
		return 0, nil
	}
	if _, err := tx.NewInsert().Model(&rows).Ignore().Exec(ctx); err != nil {
		return 0, err
	}
	after, err := present()
	if err != nil {
		return 0, err
	}
	for i := range rows {
		r := &rows[i]
		if after[r.IssuanceID] {
			continue
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM inventory_holds WHERE drop_id = ? AND issuance_id <> ?
			AND ((user_id = ? AND n = ?) OR (seat IS NOT NULL AND seat = ?))`,
			r.DropID, r.IssuanceID, r.UserID, r.N, r.Seat); err != nil {
			return 0, err
		}
		if _, err := tx.NewInsert().Model(r).Exec(ctx); err != nil {
			return 0, fmt.Errorf("issuance %s: %w", r.IssuanceID, err)
		}
	}
	return len(rows), nil
}

// recount derives the counters from the holder records, the one source
// they must agree with.
func recount(ctx context.Context, tx bun.Tx, d *drop.Drop) error {
	stmts := []string{
		`UPDATE inventory_users u SET held = (SELECT COUNT(*) FROM inventory_holds h
			WHERE h.drop_id = u.drop_id AND h.user_id = u.user_id) WHERE u.drop_id = ?`,
		`INSERT INTO inventory_users (drop_id, user_id, held)
			SELECT drop_id, user_id, COUNT(*) FROM inventory_holds WHERE drop_id = ? GROUP BY drop_id, user_id
			ON DUPLICATE KEY UPDATE held = VALUES(held)`,
	}
	if d.Seated() {
		stmts = append(stmts,
			`UPDATE inventory_seats s LEFT JOIN inventory_holds h ON h.drop_id = s.drop_id AND h.seat = s.label
				SET s.holder_id = h.issuance_id WHERE s.drop_id = ?`)
	} else {
		stmts = append(stmts,
			`UPDATE inventory_stock SET remaining = GREATEST(stock - (SELECT COUNT(*) FROM inventory_holds WHERE drop_id = ?), 0)
				WHERE drop_id = ?`)
	}
	for i, q := range stmts {
		args := []any{d.ID()}
		if i == len(stmts)-1 && !d.Seated() {
			args = append(args, d.ID())
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}
