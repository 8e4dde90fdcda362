package mysql

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// dropRow is a drops row. Seats is the JSON array of labels, NULL for
// general drops.
type dropRow struct {
	bun.BaseModel `bun:"table:drops"`

	ID           string         `bun:"id,pk"`
	Name         string         `bun:"name"`
	Kind         string         `bun:"kind"`
	Region       string         `bun:"region"`
	Venue        string         `bun:"venue"`
	Stock        int            `bun:"stock"`
	Seats        sql.NullString `bun:"seats"`
	OpensAt      bun.NullTime   `bun:"opens_at"`
	ClosesAt     bun.NullTime   `bun:"closes_at"`
	QueueOpensAt bun.NullTime   `bun:"queue_opens_at"`
	Shuffle      bool           `bun:"shuffle_at_open"`
	PerUserLimit int            `bun:"per_user_limit"`
	Admission    string         `bun:"admission"`
	AdmitRate    int            `bun:"admit_rate"`
	PassTTLMs    int64          `bun:"pass_ttl_ms"`
	MaxActive    int            `bun:"max_active"`
	Paused       bool           `bun:"paused"`
	IssuedCount  int64          `bun:"issued_count"`
	CreatedAt    time.Time      `bun:"created_at"`
	// SeatsLen is LENGTH(seats), read in its place (see Drops).
	SeatsLen int64 `bun:"seats_len,scanonly"`
}

// dropMutableColumns are the columns Update writes: everything a Drop method
// can change or a re-validated Params can carry, never id, created_at or
// the count syncer's issued_count.
var dropMutableColumns = []string{
	"name", "kind", "region", "venue", "stock", "seats", "opens_at", "closes_at",
	"per_user_limit", "admission", "admit_rate", "pass_ttl_ms", "paused",
	"queue_opens_at", "shuffle_at_open", "max_active",
}

func dropToRow(d *drop.Drop) (dropRow, error) {
	p := d.Params()
	r := dropRow{
		ID: p.ID, Name: p.Name, Kind: string(p.Kind), Region: p.Region, Venue: p.Venue,
		Stock: p.Stock, OpensAt: nullTime(p.OpensAt), ClosesAt: nullTime(p.ClosesAt),
		PerUserLimit: p.PerUserLimit, Admission: string(p.Admission), AdmitRate: p.AdmitRate,
		PassTTLMs: p.PassTTL.Milliseconds(), Paused: p.Paused, CreatedAt: p.CreatedAt.UTC(),
		QueueOpensAt: nullTime(p.QueueOpensAt), Shuffle: p.ShuffleAtOpen, MaxActive: p.MaxActive,
	}
	if len(p.Seats) > 0 {
		b, err := json.Marshal(p.Seats)
		if err != nil {
			return dropRow{}, fmt.Errorf("encode seats: %w", err)
		}
		r.Seats = sql.NullString{String: string(b), Valid: true}
	}
	return r, nil
}

// toDrop rebuilds the aggregate through drop.New, so a row edited by hand
// into something invalid is reported instead of served.
func (r *dropRow) toDrop() (*drop.Drop, error) {
	var seats []string
	if r.Seats.Valid && r.Seats.String != "" {
		if err := json.Unmarshal([]byte(r.Seats.String), &seats); err != nil {
			return nil, fmt.Errorf("drop %s: decode seats: %w", r.ID, err)
		}
	}
	d, err := drop.New(r.params(seats))
	if err != nil {
		return nil, fmt.Errorf("drop %s: stored row is invalid: %w", r.ID, err)
	}
	return d, nil
}

func (r *dropRow) params(seats []string) drop.Params {
	return drop.Params{
		ID: r.ID, Name: r.Name, Kind: drop.Kind(r.Kind), Region: r.Region, Venue: r.Venue,
		Stock: r.Stock, Seats: seats, OpensAt: fromNullTime(r.OpensAt), ClosesAt: fromNullTime(r.ClosesAt),
		PerUserLimit: r.PerUserLimit, Admission: drop.Admission(r.Admission), AdmitRate: r.AdmitRate,
		PassTTL: time.Duration(r.PassTTLMs) * time.Millisecond, Paused: r.Paused, CreatedAt: r.CreatedAt,
		QueueOpensAt: fromNullTime(r.QueueOpensAt), ShuffleAtOpen: r.Shuffle, MaxActive: r.MaxActive,
	}
}

func nullTime(t time.Time) bun.NullTime {
	if t.IsZero() {
		return bun.NullTime{}
	}
	return bun.NullTime{Time: t.UTC()}
}

func fromNullTime(t bun.NullTime) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// issuanceRow is an issuances row; Seat is NULL for general drops so that
// UNIQUE(drop_id, seat) leaves them alone.
type issuanceRow struct {
	bun.BaseModel `bun:"table:issuances"`

	ID       string         `bun:"id,pk"`
	DropID   string         `bun:"drop_id"`
	UserID   string         `bun:"user_id"`
	Seat     sql.NullString `bun:"seat"`
	N        int            `bun:"n"`
	Code     string         `bun:"code"`
	IssuedAt time.Time      `bun:"issued_at"`
}

func issuanceToRow(iss issuance.Issuance) issuanceRow {
	return issuanceRow{
		ID: iss.ID, DropID: iss.DropID, UserID: iss.UserID, Seat: nullString(iss.Seat),
		N: iss.N, Code: iss.Code, IssuedAt: iss.IssuedAt.UTC(),
	}
}

func (r *issuanceRow) toIssuance() issuance.Issuance {
	return issuance.Issuance{
		ID: r.ID, DropID: r.DropID, UserID: r.UserID, Seat: r.Seat.String,
		N: r.N, Code: r.Code, IssuedAt: r.IssuedAt.UTC(),
	}
}

func nullString(s string) sql.NullString {
	return sql.NullString{String: s, Valid: s != ""}
}

// checkIssuance rejects what the columns cannot hold exactly. The ledger
// writes with INSERT IGNORE, which turns "data too long" into a warning and
// stores a truncated value, so nothing may reach it unchecked.
func checkIssuance(iss issuance.Issuance) error {
	switch {
	case !drop.ValidID(iss.ID):
		return fmt.Errorf("issuance id %q: %w", iss.ID, drop.ErrInvalidID)
	case !drop.ValidID(iss.DropID):
		return fmt.Errorf("issuance %s drop id %q: %w", iss.ID, iss.DropID, drop.ErrInvalidID)
	case !drop.ValidID(iss.UserID):
		return fmt.Errorf("issuance %s user id %q: %w", iss.ID, iss.UserID, drop.ErrInvalidID)
	case iss.Seat != "" && !drop.ValidSeatLabel(iss.Seat):
		return fmt.Errorf("issuance %s seat %q: %w", iss.ID, iss.Seat, drop.ErrUnknownSeat)
	case iss.N < 1 || iss.N > 1<<30:
		return fmt.Errorf("issuance %s: n %d out of range: %w", iss.ID, iss.N, drop.ErrInvalid)
	case len(iss.Code) > 64:
		return fmt.Errorf("issuance %s: code longer than 64 bytes: %w", iss.ID, drop.ErrInvalid)
	case iss.IssuedAt.IsZero():
		return fmt.Errorf("issuance %s: issued_at not set: %w", iss.ID, drop.ErrInvalid)
	}
	for i := 0; i < len(iss.Code); i++ {
		if iss.Code[i] < 0x20 || iss.Code[i] > 0x7e {
			return fmt.Errorf("issuance %s: code must be printable ASCII: %w", iss.ID, drop.ErrInvalid)
		}
	}
	return nil
}
