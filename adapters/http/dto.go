package httpapi

import (
	"fmt"
	"strconv"
	"time"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// DropJSON is a drop as docs/openapi.yaml shows it. opens_at and closes_at are null when
// the window has no start or no end; seats are listed by the seats route only.
type DropJSON struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	Kind           string     `json:"kind"`
	Region         string     `json:"region"`
	Venue          string     `json:"venue"`
	Stock          int        `json:"stock"`
	Remaining      int64      `json:"remaining"`
	Status         string     `json:"status"`
	OpensAt        *time.Time `json:"opens_at"`
	ClosesAt       *time.Time `json:"closes_at"`
	PerUserLimit   int        `json:"per_user_limit"`
	Admission      string     `json:"admission"`
	AdmitRate      int        `json:"admit_rate"`
	LineLength     int64      `json:"line_length"`
	Paused         bool       `json:"paused"`
	PassTTLSeconds int        `json:"pass_ttl_seconds"`
	CreatedAt      time.Time  `json:"created_at"`
	// QueueOpensAt and ShuffleAtOpen are present only for a drop with a
	// pre-queue, MaxActive only when a cap is set: like the other optional
	// fields, a drop echoes what it was created with and nothing more.
	QueueOpensAt  *time.Time `json:"queue_opens_at,omitempty"`
	ShuffleAtOpen *bool      `json:"shuffle_at_open,omitempty"`
	MaxActive     int        `json:"max_active,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func dropJSON(v application.DropView) DropJSON {
	d := v.Drop
	out := DropJSON{
		ID: d.ID(), Name: d.Name(), Kind: string(d.Kind()), Region: d.Region(), Venue: d.Venue(),
		Stock: d.Stock(), Remaining: v.Remaining, Status: string(v.Status),
		OpensAt: optTime(d.OpensAt()), ClosesAt: optTime(d.ClosesAt()),
		PerUserLimit: d.PerUserLimit(), Admission: string(d.Admission()), AdmitRate: d.AdmitRate(),
		LineLength: v.LineLength, Paused: d.Paused(), PassTTLSeconds: int(d.PassTTL() / time.Second),
		CreatedAt: d.CreatedAt(), MaxActive: d.MaxActive(),
	}
	if d.HasPreQueue() {
		shuffle := d.ShuffleAtOpen()
		out.QueueOpensAt, out.ShuffleAtOpen = optTime(d.QueueOpensAt()), &shuffle
	}
	return out
}

// IssuanceJSON is a unit sold to a buyer; Seat is empty for general drops.
type IssuanceJSON struct {
	ID       string    `json:"id"`
	DropID   string    `json:"drop_id"`
	UserID   string    `json:"user_id"`
	Seat     string    `json:"seat"`
	Code     string    `json:"code"`
	IssuedAt time.Time `json:"issued_at"`
}

func issuanceJSON(i issuance.Issuance) IssuanceJSON {
	return IssuanceJSON{ID: i.ID, DropID: i.DropID, UserID: i.UserID, Seat: i.Seat, Code: i.Code, IssuedAt: i.IssuedAt}
}

func issuancesJSON(list []issuance.Issuance) []IssuanceJSON {
	out := make([]IssuanceJSON, len(list))
	for i, iss := range list {
		out[i] = issuanceJSON(iss)
	}
	return out
}

// claimJSON answers a claim that issued (201 new, 200 repeat).
type claimJSON struct {
	Status   string       `json:"status"`
	Issuance IssuanceJSON `json:"issuance"`
}

// PassJSON lets an admitted buyer claim a seat until ExpiresAt.
type PassJSON struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// statsJSON renders a drop's counters (the stats route and the live stream).
func statsJSON(st application.Stats) StatsJSON {
	return StatsJSON{
		Issued: st.Issued, Remaining: st.Remaining, LineLength: st.LineLength, Admitted: st.Admitted,
		Persisted: st.Persisted, PendingPersist: st.PendingPersist, IssuedCountSynced: st.IssuedCountSynced,
		PreQueueLength: st.PreQueueLength, ActivePasses: st.ActivePasses,
		AdmitRate: st.AdmitRate, Paused: st.Paused,
	}
}

// StatsJSON is a drop's counters for operators.
type StatsJSON struct {
	Issued            int64 `json:"issued"`
	Remaining         int64 `json:"remaining"`
	LineLength        int64 `json:"line_length"`
	Admitted          int64 `json:"admitted"`
	Persisted         int64 `json:"persisted"`
	PendingPersist    int64 `json:"pending_persist"`
	IssuedCountSynced int64 `json:"issued_count_synced"`
	PreQueueLength    int64 `json:"pre_queue_length"`
	ActivePasses      int64 `json:"active_passes"`
	AdmitRate         int   `json:"admit_rate"`
	Paused            bool  `json:"paused"`
}

// createDropRequest is POST /v1/admin/drops. The rules here repeat the
// domain's limits so that the answer names the member as the client spelled
// it; drop.New checks them again, so they cannot drift into a hole.
type createDropRequest struct {
	ID             string   `json:"id" validate:"omitempty,dropid"`
	Name           string   `json:"name" validate:"required,max=200"`
	Kind           string   `json:"kind" validate:"required,oneof=general seated"`
	Region         string   `json:"region" validate:"max=100"`
	Venue          string   `json:"venue" validate:"max=100"`
	Stock          *int     `json:"stock" validate:"omitempty,min=1,max=10000000"`
	Seats          []string `json:"seats" validate:"omitempty,max=100000,unique,dive,seatlabel"`
	PerUserLimit   *int     `json:"per_user_limit" validate:"omitempty,min=1,max=100"`
	OpensAt        *string  `json:"opens_at"`
	ClosesAt       *string  `json:"closes_at"`
	Admission      string   `json:"admission" validate:"omitempty,oneof=open queued"`
	AdmitRate      *int     `json:"admit_rate" validate:"omitempty,min=1,max=1000000"`
	PassTTLSeconds *int     `json:"pass_ttl_seconds" validate:"omitempty,min=1,max=86400"`
	Paused         bool     `json:"paused"`
	QueueOpensAt   *string  `json:"queue_opens_at"`
	ShuffleAtOpen  *bool    `json:"shuffle_at_open"`
	MaxActive      *int     `json:"max_active" validate:"omitempty,min=1,max=1000000"`
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// dropTime reads an optional time member. A time before the year 2000 is a
// 422 naming the member: "0001-01-01T00:00:00Z" would otherwise parse to the
// zero time and silently read as "not set".
func dropTime(field string, v *string) (time.Time, error) {
	t, err := parseTime(field, v)
	if err != nil {
		return time.Time{}, err
	}
	if v != nil && t.Before(drop.MinTime) {
		return time.Time{}, invalidField(field, field+" must be in the year 2000 or later")
	}
	return t, nil
}

func (r createDropRequest) params() (drop.Params, error) {
	opens, err := dropTime("opens_at", r.OpensAt)
	if err != nil {
		return drop.Params{}, err
	}
	closes, err := dropTime("closes_at", r.ClosesAt)
	if err != nil {
		return drop.Params{}, err
	}
	queueOpens, err := dropTime("queue_opens_at", r.QueueOpensAt)
	if err != nil {
		return drop.Params{}, err
	}
	// docs/openapi.yaml: shuffle_at_open defaults to true; the domain takes it as given.
	shuffle := r.ShuffleAtOpen == nil || *r.ShuffleAtOpen
	return drop.Params{
		ID: r.ID, Name: r.Name, Kind: drop.Kind(r.Kind), Region: r.Region, Venue: r.Venue,
		Stock: deref(r.Stock), Seats: r.Seats, OpensAt: opens, ClosesAt: closes,
		PerUserLimit: deref(r.PerUserLimit), Admission: drop.Admission(r.Admission),
		AdmitRate: deref(r.AdmitRate), PassTTL: time.Duration(deref(r.PassTTLSeconds)) * time.Second,
		Paused: r.Paused, QueueOpensAt: queueOpens, ShuffleAtOpen: shuffle, MaxActive: deref(r.MaxActive),
	}, nil
}

// patchDropRequest is PATCH /v1/admin/drops/{id}. closes_at and max_active
// are raw so that an absent member (no change) differs from null (remove the
// end, remove the cap).
type patchDropRequest struct {
	AdmitRate *int            `json:"admit_rate" validate:"omitempty,min=1,max=1000000"`
	Paused    *bool           `json:"paused"`
	ClosesAt  jsonRawOptional `json:"closes_at"`
	MaxActive jsonRawOptional `json:"max_active"`
}

// jsonRawOptional records whether a member was present, and its raw value.
type jsonRawOptional struct {
	set bool
	raw []byte
}

// UnmarshalJSON is called for a present member, null included.
func (o *jsonRawOptional) UnmarshalJSON(b []byte) error {
	o.set, o.raw = true, append([]byte(nil), b...)
	return nil
}

func (r patchDropRequest) update() (application.Update, error) {
	u := application.Update{AdmitRate: r.AdmitRate, Paused: r.Paused}
	if r.ClosesAt.set {
		if r.ClosesAt.null() {
			u.ClearClosesAt = true
		} else {
			s, ok := unquote(r.ClosesAt.raw)
			if !ok {
				return u, badRequest(CodeInvalidBody, "closes_at", "closes_at must be an RFC 3339 time or null")
			}
			t, err := dropTime("closes_at", &s)
			if err != nil {
				return u, err
			}
			u.ClosesAt = &t
		}
	}
	if r.MaxActive.set {
		n := 0 // null removes the cap
		if !r.MaxActive.null() {
			v, err := strconv.ParseInt(string(r.MaxActive.raw), 10, 64)
			if err != nil {
				return u, badRequest(CodeInvalidBody, "max_active", "max_active must be an integer or null")
			}
			if v < 1 || v > drop.MaxActivePasses {
				return u, invalidField("max_active", fmt.Sprintf("max_active must be 1 to %d (null removes the cap)", drop.MaxActivePasses))
			}
			n = int(v)
		}
		u.MaxActive = &n
	}
	return u, nil
}

// null reports whether the member was present as JSON null.
func (o jsonRawOptional) null() bool { return o.set && string(o.raw) == "null" }

// unquote accepts a plain JSON string (times never need escapes).
func unquote(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	s := string(b[1 : len(b)-1])
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			return "", false
		}
	}
	return s, true
}

// claimRequest is POST /v1/drops/{id}/claims; an empty body claims a general unit.
type claimRequest struct {
	Seat string `json:"seat"`
}

// emptyRequest is the body of routes that take none but accept {}.
type emptyRequest struct{}
