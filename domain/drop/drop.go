// Package drop holds the Drop aggregate: one sale of a limited stock, general
// (N identical units) or seated (named seats), sold first come first served
// either by open claims or through a waiting line.
package drop

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind says whether a drop sells identical units or named seats.
type Kind string

// Kinds of drop.
const (
	KindGeneral Kind = "general"
	KindSeated  Kind = "seated"
)

// Admission says how buyers reach the stock.
type Admission string

// Admission modes.
const (
	// AdmissionOpen lets any buyer claim directly.
	AdmissionOpen Admission = "open"
	// AdmissionQueued puts buyers in a waiting line that is admitted at the admit rate.
	AdmissionQueued Admission = "queued"
)

// Status is where a drop stands in its sale window at a given instant.
type Status string

// Statuses of a drop.
const (
	StatusUpcoming Status = "upcoming"
	StatusOpen     Status = "open"
	StatusClosed   Status = "closed"
)

// Limits enforced by the constructors; docs/openapi.yaml publishes the same numbers.
const (
	MaxNameLen      = 200
	MaxPlaceLen     = 100
	MaxSeats        = 100_000
	MaxStock        = 10_000_000
	MaxPerUserLimit = 100
	MaxAdmitRate    = 1_000_000
	MaxSeatLabelLen = 32
	MaxIDLen        = 64
	// DefaultAdmitRate is used for queued drops created without a rate.
	DefaultAdmitRate = 100
	// DefaultPassTTL is how long an admitted buyer of a seated queued drop may pick a seat.
	DefaultPassTTL = 2 * time.Minute
	// MaxPassTTL bounds pass_ttl_seconds.
	MaxPassTTL = 24 * time.Hour
	// MaxActivePasses bounds max_active.
	MaxActivePasses = 1_000_000
)

// MinTime is the earliest instant a drop's times may name. Anything earlier
// is a client's placeholder (Go's zero time, a Unix epoch) rather than a
// plan, and the zero time would read as "not set" once stored.
var MinTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Sentinel errors of the drop package.
var (
	// ErrNotFound: no drop has that id.
	ErrNotFound = errors.New("drop not found")
	// ErrInvalid: a value breaks a rule; the error is a *ValidationError naming the field.
	ErrInvalid = errors.New("invalid drop")
	// ErrInvalidID: the id is not 1 to 64 of [A-Za-z0-9_-].
	ErrInvalidID = errors.New("invalid id")
	// ErrExists: a drop with that id already exists.
	ErrExists = errors.New("drop already exists")
	// ErrNotOpen: the drop is before its window, after it, or paused.
	ErrNotOpen = errors.New("drop not open")
	// ErrNotQueued: a line operation on a drop with open admission.
	ErrNotQueued = errors.New("drop has no waiting line")
	// ErrSeatRequired: a seated drop was claimed without a seat.
	ErrSeatRequired = errors.New("seat required")
	// ErrSeatNotAllowed: a general drop was claimed with a seat.
	ErrSeatNotAllowed = errors.New("seat not allowed")
	// ErrUnknownSeat: the seat label is not one of the drop's seats.
	ErrUnknownSeat = errors.New("unknown seat")
)

// ValidationError names the field that broke a rule. It matches ErrInvalid with errors.Is.
type ValidationError struct {
	Field  string
	Reason string
}

func (e *ValidationError) Error() string { return e.Field + ": " + e.Reason }

// Is reports that a ValidationError is an ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func invalid(field, format string, args ...any) error {
	return &ValidationError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// ValidID reports whether s may name a drop or a user: 1 to 64 of
// [A-Za-z0-9_-]. It runs on every request, hence a loop, not a regexp.
func ValidID(s string) bool { return validToken(s, MaxIDLen) }

func tokenByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func validToken(s string, maxLen int) bool {
	if len(s) == 0 || len(s) > maxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !tokenByte(c) {
			return false
		}
	}
	return true
}

// CheckID returns ErrInvalidID unless s is a well-formed id.
func CheckID(s string) error {
	if !ValidID(s) {
		return ErrInvalidID
	}
	return nil
}

// ValidSeatLabel reports whether s may label a seat: 1 to 32 of [A-Za-z0-9_-].
func ValidSeatLabel(s string) bool { return validToken(s, MaxSeatLabelLen) }

// Params carries everything needed to build a Drop. Zero values take defaults
// where a default exists (per-user limit 1, admit rate 100/s, pass TTL 2 min).
type Params struct {
	ID           string
	Name         string
	Kind         Kind
	Region       string
	Venue        string
	Stock        int
	Seats        []string
	OpensAt      time.Time
	ClosesAt     time.Time
	PerUserLimit int
	Admission    Admission
	AdmitRate    int
	PassTTL      time.Duration
	Paused       bool
	CreatedAt    time.Time
	// QueueOpensAt starts the pre-queue of a queued drop; zero means none.
	QueueOpensAt time.Time
	// ShuffleAtOpen gives the pre-queue random places at opening instead of
	// arrival order. Taken as given: the API's default (true) is the
	// caller's to apply, because false is a meaningful choice here.
	ShuffleAtOpen bool
	// MaxActive caps the active passes of a seated queued drop; 0 means no cap.
	MaxActive int
}

// Drop is one sale. Its fields are read through methods; it changes only
// through methods that keep it valid.
type Drop struct {
	id           string
	name         string
	kind         Kind
	region       string
	venue        string
	stock        int
	seats        []string
	seatIndex    map[string]struct{}
	opensAt      time.Time
	closesAt     time.Time
	perUserLimit int
	admission    Admission
	admitRate    int
	passTTL      time.Duration
	paused       bool
	createdAt    time.Time
	queueOpensAt time.Time
	shuffle      bool
	maxActive    int
}

// New validates p and returns a Drop, or a *ValidationError (errors.Is ErrInvalid)
// naming the first field that breaks a rule.
func New(p Params) (*Drop, error) { return newDrop(p, nil) }

// NewReusingSeats is New for a store that rebuilds a drop it built before:
// when prev is the same seated drop (same id and creation time), the result
// shares prev's seats, which never change after New, instead of checking and
// indexing every label again (fifty 50,000-seat drops re-read every second
// cost an app instance a core). p.Seats is then ignored. Otherwise it is New.
func NewReusingSeats(p Params, prev *Drop) (*Drop, error) {
	if prev == nil || prev.kind != KindSeated || p.Kind != KindSeated || prev.id != p.ID ||
		!prev.createdAt.Equal(p.CreatedAt.UTC()) {
		return New(p)
	}
	return newDrop(p, prev)
}

func newDrop(p Params, seatsOf *Drop) (*Drop, error) {
	if !ValidID(p.ID) {
		return nil, invalid("id", "must be 1 to %d of [A-Za-z0-9_-]", MaxIDLen)
	}
	name := strings.TrimSpace(p.Name)
	if name == "" {
		return nil, invalid("name", "is required")
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return nil, invalid("name", "must be at most %d characters", MaxNameLen)
	}
	if utf8.RuneCountInString(p.Region) > MaxPlaceLen {
		return nil, invalid("region", "must be at most %d characters", MaxPlaceLen)
	}
	if utf8.RuneCountInString(p.Venue) > MaxPlaceLen {
		return nil, invalid("venue", "must be at most %d characters", MaxPlaceLen)
	}
	d := &Drop{
		id: p.ID, name: name, kind: p.Kind, region: p.Region, venue: p.Venue,
		opensAt: p.OpensAt.UTC(), closesAt: p.ClosesAt.UTC(), perUserLimit: p.PerUserLimit,
		admission: p.Admission, admitRate: p.AdmitRate, passTTL: p.PassTTL, paused: p.Paused,
		createdAt: p.CreatedAt.UTC(), queueOpensAt: p.QueueOpensAt.UTC(), shuffle: p.ShuffleAtOpen,
		maxActive: p.MaxActive,
	}
	switch p.Kind {
	case KindGeneral:
		if len(p.Seats) > 0 {
			return nil, invalid("seats", "are only for seated drops")
		}
		if p.Stock < 1 || p.Stock > MaxStock {
			return nil, invalid("stock", "must be 1 to %d", MaxStock)
		}
		d.stock = p.Stock
	case KindSeated:
		if seatsOf != nil {
			if p.Stock != 0 && p.Stock != len(seatsOf.seats) {
				return nil, invalid("stock", "a seated drop's stock is its number of seats")
			}
			d.seats, d.seatIndex, d.stock = seatsOf.seats, seatsOf.seatIndex, len(seatsOf.seats)
			break
		}
		if len(p.Seats) == 0 {
			return nil, invalid("seats", "a seated drop needs at least one seat")
		}
		if len(p.Seats) > MaxSeats {
			return nil, invalid("seats", "at most %d seats", MaxSeats)
		}
		if p.Stock != 0 && p.Stock != len(p.Seats) {
			return nil, invalid("stock", "a seated drop's stock is its number of seats")
		}
		d.seats = make([]string, len(p.Seats))
		d.seatIndex = make(map[string]struct{}, len(p.Seats))
		for i, s := range p.Seats {
			if !ValidSeatLabel(s) {
				return nil, invalid("seats", "label %q must be 1 to %d of [A-Za-z0-9_-]", truncate(s, 40), MaxSeatLabelLen)
			}
			if _, dup := d.seatIndex[s]; dup {
				return nil, invalid("seats", "label %q appears twice", s)
			}
			d.seatIndex[s] = struct{}{}
			d.seats[i] = s
		}
		d.stock = len(p.Seats)
	default:
		return nil, invalid("kind", "must be general or seated")
	}
	if d.perUserLimit == 0 {
		d.perUserLimit = 1
	}
	if d.perUserLimit < 1 || d.perUserLimit > MaxPerUserLimit {
		return nil, invalid("per_user_limit", "must be 1 to %d", MaxPerUserLimit)
	}
	switch d.admission {
	case "":
		d.admission = AdmissionOpen
	case AdmissionOpen, AdmissionQueued:
	default:
		return nil, invalid("admission", "must be open or queued")
	}
	if d.admitRate == 0 {
		d.admitRate = DefaultAdmitRate
	}
	if d.admitRate < 1 || d.admitRate > MaxAdmitRate {
		return nil, invalid("admit_rate", "must be 1 to %d per second", MaxAdmitRate)
	}
	if d.passTTL == 0 {
		d.passTTL = DefaultPassTTL
	}
	if d.passTTL < time.Second || d.passTTL > MaxPassTTL {
		return nil, invalid("pass_ttl_seconds", "must be 1 to %d", int(MaxPassTTL/time.Second))
	}
	for _, t := range []struct {
		field string
		at    time.Time
	}{{"opens_at", d.opensAt}, {"closes_at", d.closesAt}, {"queue_opens_at", d.queueOpensAt}} {
		if !t.at.IsZero() && t.at.Before(MinTime) {
			return nil, invalid(t.field, "must be in the year 2000 or later")
		}
	}
	if !d.closesAt.IsZero() && !d.opensAt.IsZero() && !d.closesAt.After(d.opensAt) {
		return nil, invalid("closes_at", "must be after opens_at")
	}
	if !d.queueOpensAt.IsZero() {
		switch {
		case d.admission != AdmissionQueued:
			return nil, invalid("queue_opens_at", "a pre-queue is only for queued admission")
		case d.opensAt.IsZero():
			return nil, invalid("queue_opens_at", "a pre-queue needs opens_at")
		case !d.queueOpensAt.Before(d.opensAt):
			return nil, invalid("queue_opens_at", "must be before opens_at")
		}
	}
	if err := d.checkMaxActive(d.maxActive); err != nil {
		return nil, err
	}
	return d, nil
}

// checkMaxActive applies max_active's rules to n for this drop; 0 (no cap)
// always passes.
func (d *Drop) checkMaxActive(n int) error {
	switch {
	case n == 0:
		return nil
	case n < 1 || n > MaxActivePasses:
		return invalid("max_active", "must be 1 to %d", MaxActivePasses)
	case d.kind != KindSeated || d.admission != AdmissionQueued:
		// Only a seated queued drop hands out passes whose number can be capped.
		return invalid("max_active", "is only for seated drops with queued admission")
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// ID is the drop's id.
func (d *Drop) ID() string { return d.id }

// Name is the drop's display name.
func (d *Drop) Name() string { return d.name }

// Kind is general or seated.
func (d *Drop) Kind() Kind { return d.kind }

// Region is where the drop is sold (free text, may be empty).
func (d *Drop) Region() string { return d.region }

// Venue is the place of the event (free text, may be empty).
func (d *Drop) Venue() string { return d.venue }

// Stock is the number of units; for a seated drop, the number of seats.
func (d *Drop) Stock() int { return d.stock }

// Seats returns a copy of the seat labels in creation order (nil for general drops).
func (d *Drop) Seats() []string { return append([]string(nil), d.seats...) }

// HasSeat reports whether label is one of the drop's seats.
func (d *Drop) HasSeat(label string) bool {
	_, ok := d.seatIndex[label]
	return ok
}

// OpensAt is the start of the sale window; zero means open since creation.
func (d *Drop) OpensAt() time.Time { return d.opensAt }

// ClosesAt is the end of the sale window; zero means no end.
func (d *Drop) ClosesAt() time.Time { return d.closesAt }

// PerUserLimit is how many units one buyer may hold.
func (d *Drop) PerUserLimit() int { return d.perUserLimit }

// Admission is open or queued.
func (d *Drop) Admission() Admission { return d.admission }

// Queued reports whether buyers go through the waiting line.
func (d *Drop) Queued() bool { return d.admission == AdmissionQueued }

// Seated reports whether the drop sells named seats.
func (d *Drop) Seated() bool { return d.kind == KindSeated }

// AdmitRate is how many buyers per second the dispatcher admits.
func (d *Drop) AdmitRate() int { return d.admitRate }

// PassTTL is how long an admitted buyer of a seated queued drop may pick a seat.
func (d *Drop) PassTTL() time.Duration { return d.passTTL }

// Paused reports whether admission and open claims are stopped.
func (d *Drop) Paused() bool { return d.paused }

// CreatedAt is when the drop was created.
func (d *Drop) CreatedAt() time.Time { return d.createdAt }

// QueueOpensAt is when the pre-queue starts taking joins; zero means no pre-queue.
func (d *Drop) QueueOpensAt() time.Time { return d.queueOpensAt }

// HasPreQueue reports whether the drop takes joins before opens_at.
func (d *Drop) HasPreQueue() bool { return !d.queueOpensAt.IsZero() }

// InPreQueueWindow reports whether now is in [queue_opens_at, opens_at):
// joins go to the pre-queue, not yet to the line.
func (d *Drop) InPreQueueWindow(now time.Time) bool {
	return d.HasPreQueue() && !now.Before(d.queueOpensAt) && now.Before(d.opensAt)
}

// ShuffleAtOpen reports whether the pre-queue gets random places at opening
// (true) or keeps arrival order (false).
func (d *Drop) ShuffleAtOpen() bool { return d.shuffle }

// MaxActive is the most passes that may be active at once; 0 means no cap.
func (d *Drop) MaxActive() int { return d.maxActive }

// StatusAt tells where the drop stands at now. A paused drop inside its window is still open.
func (d *Drop) StatusAt(now time.Time) Status {
	if !d.opensAt.IsZero() && now.Before(d.opensAt) {
		return StatusUpcoming
	}
	if !d.closesAt.IsZero() && !now.Before(d.closesAt) {
		return StatusClosed
	}
	return StatusOpen
}

// CheckSelling returns ErrNotOpen unless the drop sells at now (in window, not paused).
func (d *Drop) CheckSelling(now time.Time) error {
	if d.paused || d.StatusAt(now) != StatusOpen {
		return ErrNotOpen
	}
	return nil
}

// CheckSeat validates the seat named in a claim against the drop's kind.
func (d *Drop) CheckSeat(seat string) error {
	switch {
	case d.kind == KindGeneral && seat != "":
		return ErrSeatNotAllowed
	case d.kind == KindSeated && seat == "":
		return ErrSeatRequired
	case d.kind == KindSeated && !d.HasSeat(seat):
		return ErrUnknownSeat
	}
	return nil
}

// SetAdmitRate changes the admission rate.
func (d *Drop) SetAdmitRate(rate int) error {
	if rate < 1 || rate > MaxAdmitRate {
		return invalid("admit_rate", "must be 1 to %d per second", MaxAdmitRate)
	}
	d.admitRate = rate
	return nil
}

// SetPaused stops or resumes admission and open claims.
func (d *Drop) SetPaused(p bool) { d.paused = p }

// SetClosesAt moves the end of the window; a time already past closes the
// drop now. A time before MinTime is refused, the zero time included, so a
// client's "0001-01-01T00:00:00Z" can never pass for "no end": ClearClosesAt
// is the only way to remove the end.
func (d *Drop) SetClosesAt(t time.Time) error {
	t = t.UTC()
	if t.Before(MinTime) {
		return invalid("closes_at", "must be in the year 2000 or later (null removes the end)")
	}
	if !d.opensAt.IsZero() && !t.After(d.opensAt) {
		return invalid("closes_at", "must be after opens_at")
	}
	d.closesAt = t
	return nil
}

// ClearClosesAt removes the end of the window: the drop sells until sold out.
func (d *Drop) ClearClosesAt() { d.closesAt = time.Time{} }

// SetMaxActive caps the active passes of a seated queued drop; 0 removes the cap.
func (d *Drop) SetMaxActive(n int) error {
	if err := d.checkMaxActive(n); err != nil {
		return err
	}
	d.maxActive = n
	return nil
}

// Params returns the drop's values, e.g. for storing it; New(d.Params()) rebuilds it.
func (d *Drop) Params() Params {
	return Params{
		ID: d.id, Name: d.name, Kind: d.kind, Region: d.region, Venue: d.venue,
		Stock: d.stock, Seats: d.Seats(), OpensAt: d.opensAt, ClosesAt: d.closesAt,
		PerUserLimit: d.perUserLimit, Admission: d.admission, AdmitRate: d.admitRate,
		PassTTL: d.passTTL, Paused: d.paused, CreatedAt: d.createdAt,
		QueueOpensAt: d.queueOpensAt, ShuffleAtOpen: d.shuffle, MaxActive: d.maxActive,
	}
}

// Clone returns an independent copy, so a stored drop is never changed through a reader's pointer.
func (d *Drop) Clone() *Drop {
	c := *d // seats and seatIndex are shared: never mutated after New
	return &c
}
