package drop

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func general() Params {
	return Params{ID: "d1", Name: "Coupons", Kind: KindGeneral, Stock: 10}
}

func TestNewAppliesDefaults(t *testing.T) {
	d, err := New(general())
	if err != nil {
		t.Fatal(err)
	}
	if d.PerUserLimit() != 1 || d.Admission() != AdmissionOpen || d.AdmitRate() != DefaultAdmitRate || d.PassTTL() != DefaultPassTTL {
		t.Fatalf("defaults: limit %d admission %s rate %d ttl %s", d.PerUserLimit(), d.Admission(), d.AdmitRate(), d.PassTTL())
	}
	if d.Seated() || d.Queued() || d.Stock() != 10 {
		t.Fatalf("kind/admission/stock wrong: %+v", d.Params())
	}
}

func TestNewRejectsEachBrokenRule(t *testing.T) {
	now := time.Now()
	cases := []struct {
		field string
		edit  func(*Params)
	}{
		{"id", func(p *Params) { p.ID = "" }},
		{"id", func(p *Params) { p.ID = strings.Repeat("a", 65) }},
		{"id", func(p *Params) { p.ID = "a b" }},
		{"name", func(p *Params) { p.Name = "  " }},
		{"name", func(p *Params) { p.Name = strings.Repeat("é", 201) }},
		{"region", func(p *Params) { p.Region = strings.Repeat("r", 101) }},
		{"venue", func(p *Params) { p.Venue = strings.Repeat("v", 101) }},
		{"kind", func(p *Params) { p.Kind = "vip" }},
		{"stock", func(p *Params) { p.Stock = 0 }},
		{"stock", func(p *Params) { p.Stock = MaxStock + 1 }},
		{"seats", func(p *Params) { p.Seats = []string{"A1"} }},
		{"seats", func(p *Params) { p.Kind, p.Stock = KindSeated, 0 }},
		{"seats", func(p *Params) { p.Kind, p.Stock, p.Seats = KindSeated, 0, []string{"A1", "A1"} }},
		{"seats", func(p *Params) { p.Kind, p.Stock, p.Seats = KindSeated, 0, []string{"A 1"} }},
		{"seats", func(p *Params) { p.Kind, p.Stock, p.Seats = KindSeated, 0, []string{strings.Repeat("x", 33)} }},
		{"seats", func(p *Params) { p.Kind, p.Stock, p.Seats = KindSeated, 0, make([]string, MaxSeats+1) }},
		{"stock", func(p *Params) { p.Kind, p.Stock, p.Seats = KindSeated, 5, []string{"A1"} }},
		{"per_user_limit", func(p *Params) { p.PerUserLimit = -1 }},
		{"per_user_limit", func(p *Params) { p.PerUserLimit = MaxPerUserLimit + 1 }},
		{"admission", func(p *Params) { p.Admission = "lottery" }},
		{"admit_rate", func(p *Params) { p.AdmitRate = -5 }},
		{"admit_rate", func(p *Params) { p.AdmitRate = MaxAdmitRate + 1 }},
		{"pass_ttl_seconds", func(p *Params) { p.PassTTL = time.Millisecond }},
		{"closes_at", func(p *Params) { p.OpensAt, p.ClosesAt = now, now.Add(-time.Hour) }},
		{"closes_at", func(p *Params) { p.ClosesAt = time.Date(1999, 12, 31, 23, 59, 59, 0, time.UTC) }},
		{"opens_at", func(p *Params) { p.OpensAt = time.Unix(0, 0) }},
		{"queue_opens_at", func(p *Params) { p.OpensAt, p.QueueOpensAt = now, now.Add(-time.Hour) }},
		{"queue_opens_at", func(p *Params) { p.Admission, p.QueueOpensAt = AdmissionQueued, now }},
		{"queue_opens_at", func(p *Params) { p.Admission, p.OpensAt, p.QueueOpensAt = AdmissionQueued, now, now }},
		{"queue_opens_at", func(p *Params) { p.Admission, p.OpensAt, p.QueueOpensAt = AdmissionQueued, now, now.Add(time.Second) }},
		{"queue_opens_at", func(p *Params) { p.Admission, p.OpensAt, p.QueueOpensAt = AdmissionQueued, now, time.Unix(1, 0) }},
		{"max_active", func(p *Params) { p.Admission, p.MaxActive = AdmissionQueued, 5 }},
		{"max_active", func(p *Params) { p.Kind, p.Stock, p.Seats, p.MaxActive = KindSeated, 0, []string{"A1"}, 5 }},
		{"max_active", func(p *Params) {
			p.Kind, p.Stock, p.Seats, p.Admission, p.MaxActive = KindSeated, 0, []string{"A1"}, AdmissionQueued, -1
		}},
		{"max_active", func(p *Params) {
			p.Kind, p.Stock, p.Seats, p.Admission, p.MaxActive = KindSeated, 0, []string{"A1"}, AdmissionQueued, MaxActivePasses+1
		}},
	}
	for _, c := range cases {
		p := general()
		c.edit(&p)
		_, err := New(p)
		var ve *ValidationError
		if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: want a ValidationError, got %v", c.field, err)
			continue
		}
		if ve.Field != c.field {
			t.Errorf("want field %s, got %s (%v)", c.field, ve.Field, err)
		}
	}
}

func TestSeatedDrop(t *testing.T) {
	d, err := New(Params{ID: "s", Name: "Concert", Kind: KindSeated, Seats: []string{"A-1", "A-2"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Stock() != 2 || !d.HasSeat("A-2") || d.HasSeat("B-1") {
		t.Fatalf("stock %d, seats %v", d.Stock(), d.Seats())
	}
	for seat, want := range map[string]error{"": ErrSeatRequired, "Z-9": ErrUnknownSeat, "A-1": nil} {
		if err := d.CheckSeat(seat); !errors.Is(err, want) {
			t.Errorf("CheckSeat(%q) = %v, want %v", seat, err, want)
		}
	}
	g, _ := New(general())
	if err := g.CheckSeat("A-1"); !errors.Is(err, ErrSeatNotAllowed) {
		t.Errorf("general drop with a seat: %v", err)
	}
	// A caller changing the returned slice must not change the drop.
	s := d.Seats()
	s[0] = "hacked"
	if !d.HasSeat("A-1") || d.Seats()[0] != "A-1" {
		t.Fatal("Seats leaked internal state")
	}
}

func TestStatusAndSelling(t *testing.T) {
	opens := time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)
	p := general()
	p.OpensAt, p.ClosesAt = opens, opens.Add(time.Hour)
	d, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	for at, want := range map[time.Time]Status{
		opens.Add(-time.Second): StatusUpcoming, opens: StatusOpen,
		opens.Add(59 * time.Minute): StatusOpen, opens.Add(time.Hour): StatusClosed,
	} {
		if got := d.StatusAt(at); got != want {
			t.Errorf("StatusAt(%s) = %s, want %s", at, got, want)
		}
	}
	if err := d.CheckSelling(opens.Add(time.Minute)); err != nil {
		t.Errorf("open drop not selling: %v", err)
	}
	d.SetPaused(true)
	if err := d.CheckSelling(opens.Add(time.Minute)); !errors.Is(err, ErrNotOpen) {
		t.Errorf("paused drop selling: %v", err)
	}
	if err := d.CheckSelling(opens.Add(-time.Minute)); !errors.Is(err, ErrNotOpen) {
		t.Errorf("upcoming drop selling: %v", err)
	}
}

func TestMutatorsValidate(t *testing.T) {
	p := general()
	p.OpensAt = time.Now()
	d, _ := New(p)
	if err := d.SetAdmitRate(0); !errors.Is(err, ErrInvalid) {
		t.Errorf("rate 0 accepted: %v", err)
	}
	if err := d.SetAdmitRate(500); err != nil || d.AdmitRate() != 500 {
		t.Errorf("rate 500: %v %d", err, d.AdmitRate())
	}
	if err := d.SetClosesAt(p.OpensAt.Add(-time.Second)); !errors.Is(err, ErrInvalid) {
		t.Errorf("closes before opens accepted: %v", err)
	}
	closes := p.OpensAt.Add(time.Hour)
	if err := d.SetClosesAt(closes); err != nil || !d.ClosesAt().Equal(closes) {
		t.Errorf("SetClosesAt(+1h): %v, closes at %s", err, d.ClosesAt())
	}
	// The zero time is what "0001-01-01T00:00:00Z" parses to: it must not
	// pass for "no end", nor may any other placeholder before 2000.
	for _, bad := range []time.Time{{}, time.Unix(0, 0), MinTime.Add(-time.Nanosecond)} {
		var ve *ValidationError
		if err := d.SetClosesAt(bad); !errors.As(err, &ve) || ve.Field != "closes_at" {
			t.Errorf("SetClosesAt(%s) = %v, want a closes_at ValidationError", bad, err)
		}
		if !d.ClosesAt().Equal(closes) {
			t.Errorf("a refused SetClosesAt(%s) changed closes_at to %s", bad, d.ClosesAt())
		}
	}
	d.ClearClosesAt()
	if !d.ClosesAt().IsZero() {
		t.Errorf("ClearClosesAt left %s", d.ClosesAt())
	}
}

func TestPastClosesAtClosesNow(t *testing.T) {
	now := time.Now()
	d, err := New(general())
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetClosesAt(now.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := d.StatusAt(now); got != StatusClosed {
		t.Fatalf("status after a past closes_at = %s, want closed", got)
	}
}

func seatedQueued() Params {
	return Params{ID: "sq", Name: "Arena", Kind: KindSeated, Seats: []string{"A1", "A2"}, Admission: AdmissionQueued}
}

func TestPreQueue(t *testing.T) {
	opens := time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)
	p := seatedQueued()
	p.OpensAt, p.QueueOpensAt, p.ShuffleAtOpen = opens, opens.Add(-time.Hour), true
	d, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasPreQueue() || !d.QueueOpensAt().Equal(opens.Add(-time.Hour)) || !d.ShuffleAtOpen() {
		t.Fatalf("pre-queue lost: has %v at %s shuffle %v", d.HasPreQueue(), d.QueueOpensAt(), d.ShuffleAtOpen())
	}
	for at, want := range map[time.Time]bool{
		opens.Add(-time.Hour - time.Nanosecond): false,
		opens.Add(-time.Hour):                   true,
		opens.Add(-time.Nanosecond):             true,
		opens:                                   false,
		opens.Add(time.Hour):                    false,
	} {
		if got := d.InPreQueueWindow(at); got != want {
			t.Errorf("InPreQueueWindow(%s) = %v, want %v", at, got, want)
		}
	}

	// ShuffleAtOpen is taken as given: false keeps arrival order.
	p.ShuffleAtOpen = false
	if d, err := New(p); err != nil || d.ShuffleAtOpen() {
		t.Fatalf("ShuffleAtOpen false: %v, %v", err, d)
	}

	plain, err := New(general())
	if err != nil {
		t.Fatal(err)
	}
	if plain.HasPreQueue() || plain.InPreQueueWindow(opens) || !plain.QueueOpensAt().IsZero() {
		t.Fatal("a drop without queue_opens_at claims a pre-queue")
	}
}

func TestMaxActive(t *testing.T) {
	p := seatedQueued()
	p.MaxActive = 50
	d, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	if d.MaxActive() != 50 {
		t.Fatalf("MaxActive = %d", d.MaxActive())
	}
	for _, n := range []int{-1, MaxActivePasses + 1} {
		if err := d.SetMaxActive(n); !errors.Is(err, ErrInvalid) || d.MaxActive() != 50 {
			t.Errorf("SetMaxActive(%d) = %v, max %d", n, err, d.MaxActive())
		}
	}
	for _, n := range []int{1, MaxActivePasses, 0} {
		if err := d.SetMaxActive(n); err != nil || d.MaxActive() != n {
			t.Errorf("SetMaxActive(%d) = %v, max %d", n, err, d.MaxActive())
		}
	}

	g, _ := New(general())
	var ve *ValidationError
	if err := g.SetMaxActive(5); !errors.As(err, &ve) || ve.Field != "max_active" {
		t.Errorf("SetMaxActive on a general drop = %v", err)
	}
	if err := g.SetMaxActive(0); err != nil {
		t.Errorf("removing a cap that is not there = %v", err)
	}
}

func TestCloneKeepsNewFields(t *testing.T) {
	opens := time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC)
	p := seatedQueued()
	p.OpensAt, p.QueueOpensAt, p.ShuffleAtOpen, p.MaxActive = opens, opens.Add(-time.Minute), true, 7
	d, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	c := d.Clone()
	if !c.QueueOpensAt().Equal(d.QueueOpensAt()) || !c.ShuffleAtOpen() || c.MaxActive() != 7 {
		t.Fatalf("clone lost values: %+v", c.Params())
	}
	if err := c.SetMaxActive(9); err != nil || d.MaxActive() != 7 {
		t.Fatalf("changing a clone changed the original: %v, %d", err, d.MaxActive())
	}
}

func TestParamsRoundTrip(t *testing.T) {
	d, err := New(Params{ID: "s", Name: "Concert", Kind: KindSeated, Seats: []string{"A", "B"},
		Admission: AdmissionQueued, AdmitRate: 7, PassTTL: time.Minute, PerUserLimit: 2, Region: "eu", Venue: "Hall",
		OpensAt: time.Date(2026, 5, 1, 18, 0, 0, 0, time.UTC), QueueOpensAt: time.Date(2026, 5, 1, 17, 0, 0, 0, time.UTC),
		ShuffleAtOpen: true, MaxActive: 3})
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(d.Params())
	if err != nil {
		t.Fatal(err)
	}
	if again.AdmitRate() != 7 || again.PassTTL() != time.Minute || again.PerUserLimit() != 2 || len(again.Seats()) != 2 || again.Region() != "eu" {
		t.Fatalf("round trip lost values: %+v", again.Params())
	}
	if !again.QueueOpensAt().Equal(d.QueueOpensAt()) || !again.ShuffleAtOpen() || again.MaxActive() != 3 {
		t.Fatalf("round trip lost the waiting-at-scale values: %+v", again.Params())
	}
}

func TestIDs(t *testing.T) {
	for id, ok := range map[string]bool{"abc": true, "A_b-9": true, "": false, "a/b": false, strings.Repeat("x", 64): true, strings.Repeat("x", 65): false} {
		if ValidID(id) != ok || (CheckID(id) == nil) != ok {
			t.Errorf("ValidID(%q) != %v", id, ok)
		}
	}
}

// NewReusingSeats shares a drop's checked seats only with the same drop (id
// and creation time); anything else is built and checked from scratch.
func TestNewReusingSeats(t *testing.T) {
	at := time.Date(2026, 11, 26, 6, 0, 0, 0, time.UTC)
	p := Params{ID: "s1", Name: "n", Kind: KindSeated, Seats: []string{"A1", "A2"}, CreatedAt: at}
	prev, err := New(p)
	if err != nil {
		t.Fatal(err)
	}
	q := p
	q.Seats, q.AdmitRate = nil, 7 // a re-read row without its seats, one change
	d, err := NewReusingSeats(q, prev)
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasSeat("A2") || d.Stock() != 2 || d.AdmitRate() != 7 || len(d.Seats()) != 2 {
		t.Fatalf("reused: seats %v stock %d rate %d", d.Seats(), d.Stock(), d.AdmitRate())
	}
	q.Stock = 3
	if _, err := NewReusingSeats(q, prev); err == nil {
		t.Fatal("a stock other than the seat count was accepted")
	}
	// Another creation time is another drop: its own (here missing) seats count.
	q.Stock, q.CreatedAt = 0, at.Add(time.Second)
	if _, err := NewReusingSeats(q, prev); err == nil {
		t.Fatal("seats of another incarnation were reused")
	}
	r := p
	r.ID, r.Seats = "s2", []string{"bad label!"}
	if _, err := NewReusingSeats(r, prev); err == nil {
		t.Fatal("another drop's invalid seats were accepted")
	}
}
