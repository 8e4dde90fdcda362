package contract

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/drop"
)

// RunDrops checks a drop.Repository against the port's contract.
// newRepo is called once per subtest with that subtest's t; it may return a
// fresh adapter or the same one every time (the subtests use fresh ids and
// regions, and never need the store empty).
func RunDrops(t *testing.T, newRepo func(t *testing.T) drop.Repository) {
	t.Run("CreateAndGet", func(t *testing.T) { testDropsCreateGet(t, newRepo(t)) })
	t.Run("CreateTwice", func(t *testing.T) { testDropsCreateTwice(t, newRepo(t)) })
	t.Run("GetUnknown", func(t *testing.T) { testDropsGetUnknown(t, newRepo(t)) })
	t.Run("ReadersCannotChangeTheStore", func(t *testing.T) { testDropsCopies(t, newRepo(t)) })
	t.Run("ListByRegionOldestFirst", func(t *testing.T) { testDropsListRegion(t, newRepo(t)) })
	t.Run("ListByStatus", func(t *testing.T) { testDropsListStatus(t, newRepo(t)) })
	t.Run("Update", func(t *testing.T) { testDropsUpdate(t, newRepo(t)) })
	t.Run("UpdateMaxActive", func(t *testing.T) { testDropsUpdateMaxActive(t, newRepo(t)) })
	t.Run("UpdateClearsClosesAt", func(t *testing.T) { testDropsClearClosesAt(t, newRepo(t)) })
	t.Run("NoPreQueue", func(t *testing.T) { testDropsNoPreQueue(t, newRepo(t)) })
	t.Run("UpdateError", func(t *testing.T) { testDropsUpdateError(t, newRepo(t)) })
	t.Run("ConcurrentUpdatesAreAtomic", func(t *testing.T) { testDropsConcurrentUpdate(t, newRepo(t)) })
	t.Run("IssuedCount", func(t *testing.T) { testDropsIssuedCount(t, newRepo(t)) })
}

// fullDrop returns a drop with every field away from its default.
func fullDrop(t *testing.T, region string, created time.Time) *drop.Drop {
	t.Helper()
	return mustDrop(t, drop.Params{
		Kind: drop.KindSeated, Region: region, Venue: "Hall " + newID("v"),
		Seats:   []string{"A1", "A2", "B1"},
		OpensAt: created.Add(time.Hour), ClosesAt: created.Add(2 * time.Hour),
		PerUserLimit: 2, Admission: drop.AdmissionQueued, AdmitRate: 250,
		PassTTL: 90 * time.Second, Paused: true, CreatedAt: created,
		// false and a cap are the values away from the stores' defaults.
		QueueOpensAt: created.Add(30 * time.Minute), ShuffleAtOpen: false, MaxActive: 2,
	})
}

func sameDrop(t *testing.T, got, want *drop.Drop) {
	t.Helper()
	g, w := got.Params(), want.Params()
	if g.ID != w.ID || g.Name != w.Name || g.Kind != w.Kind || g.Region != w.Region ||
		g.Venue != w.Venue || g.Stock != w.Stock || !slices.Equal(g.Seats, w.Seats) ||
		!g.OpensAt.Equal(w.OpensAt) || !g.ClosesAt.Equal(w.ClosesAt) ||
		g.PerUserLimit != w.PerUserLimit || g.Admission != w.Admission ||
		g.AdmitRate != w.AdmitRate || g.PassTTL != w.PassTTL || g.Paused != w.Paused ||
		!g.CreatedAt.Equal(w.CreatedAt) || !g.QueueOpensAt.Equal(w.QueueOpensAt) ||
		g.ShuffleAtOpen != w.ShuffleAtOpen || g.MaxActive != w.MaxActive {
		t.Fatalf("drop = %+v, want %+v", g, w)
	}
}

func create(t *testing.T, r drop.Repository, d *drop.Drop) {
	t.Helper()
	if err := r.Create(t.Context(), d); err != nil {
		t.Fatalf("Create(%s): %v", d.ID(), err)
	}
}

func get(t *testing.T, r drop.Repository, id string) *drop.Drop {
	t.Helper()
	d, err := r.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return d
}

func testDropsCreateGet(t *testing.T, r drop.Repository) {
	seated := fullDrop(t, newID("region"), baseTime())
	general := mustDrop(t, drop.Params{Kind: drop.KindGeneral, Stock: 1000})
	create(t, r, seated)
	create(t, r, general)
	sameDrop(t, get(t, r, seated.ID()), seated)
	sameDrop(t, get(t, r, general.ID()), general)
}

func testDropsCreateTwice(t *testing.T, r drop.Repository) {
	d := generalDrop(t, 10, 1)
	create(t, r, d)
	again := mustDrop(t, drop.Params{ID: d.ID(), Kind: drop.KindGeneral, Stock: 99})
	if err := r.Create(t.Context(), again); !errors.Is(err, drop.ErrExists) {
		t.Fatalf("Create of a taken id: err = %v, want ErrExists", err)
	}
	sameDrop(t, get(t, r, d.ID()), d)
}

func testDropsGetUnknown(t *testing.T, r drop.Repository) {
	if _, err := r.Get(t.Context(), newID("drop")); !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("Get of an unknown id: err = %v, want ErrNotFound", err)
	}
	_, err := r.Update(t.Context(), newID("drop"), func(*drop.Drop) error { return nil })
	if !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("Update of an unknown id: err = %v, want ErrNotFound", err)
	}
}

func testDropsCopies(t *testing.T, r drop.Repository) {
	d := generalDrop(t, 10, 1)
	create(t, r, d)
	want := d.Clone()
	d.SetPaused(true)
	got := get(t, r, d.ID())
	got.SetPaused(true)
	if err := got.SetAdmitRate(7); err != nil {
		t.Fatal(err)
	}
	sameDrop(t, get(t, r, d.ID()), want)
}

func testDropsListRegion(t *testing.T, r drop.Repository) {
	region := newID("region")
	at := baseTime()
	var want []*drop.Drop
	for i := range 4 {
		d := fullDrop(t, region, at.Add(time.Duration(i)*time.Second))
		want = append(want, d)
		create(t, r, d)
	}
	create(t, r, fullDrop(t, newID("region"), at))
	got, err := r.List(t.Context(), drop.Filter{Region: region})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("List returned %d drops, want %d", len(got), len(want))
	}
	for i := range got {
		sameDrop(t, got[i], want[i])
	}
}

func testDropsListStatus(t *testing.T, r drop.Repository) {
	region := newID("region")
	now := baseTime()
	created := now.Add(-2 * time.Hour)
	mk := func(opens, closes time.Time) *drop.Drop {
		created = created.Add(time.Second)
		d := mustDrop(t, drop.Params{
			Kind: drop.KindGeneral, Stock: 5, Region: region,
			OpensAt: opens, ClosesAt: closes, CreatedAt: created,
		})
		create(t, r, d)
		return d
	}
	upcoming := mk(now.Add(time.Hour), time.Time{})
	open := mk(now.Add(-time.Hour), now.Add(time.Hour))
	always := mk(time.Time{}, time.Time{})
	closed := mk(now.Add(-time.Hour), now.Add(-time.Minute))
	for _, c := range []struct {
		status drop.Status
		want   []*drop.Drop
	}{
		{drop.StatusUpcoming, []*drop.Drop{upcoming}},
		{drop.StatusOpen, []*drop.Drop{open, always}},
		{drop.StatusClosed, []*drop.Drop{closed}},
	} {
		got, err := r.List(t.Context(), drop.Filter{Region: region, Status: c.status, Now: now})
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if len(got) != len(c.want) {
			t.Fatalf("List(%s) returned %d drops, want %d", c.status, len(got), len(c.want))
		}
		for i := range got {
			sameDrop(t, got[i], c.want[i])
		}
	}
}

func testDropsUpdate(t *testing.T, r drop.Repository) {
	d := fullDrop(t, newID("region"), baseTime())
	create(t, r, d)
	closes := d.ClosesAt().Add(time.Hour)
	got, err := r.Update(t.Context(), d.ID(), func(x *drop.Drop) error {
		x.SetPaused(false)
		if err := x.SetClosesAt(closes); err != nil {
			return err
		}
		return x.SetAdmitRate(900)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := d.Clone()
	want.SetPaused(false)
	if err := want.SetClosesAt(closes); err != nil {
		t.Fatal(err)
	}
	if err := want.SetAdmitRate(900); err != nil {
		t.Fatal(err)
	}
	sameDrop(t, got, want)
	sameDrop(t, get(t, r, d.ID()), want)
}

func testDropsUpdateMaxActive(t *testing.T, r drop.Repository) {
	d := fullDrop(t, newID("region"), baseTime())
	create(t, r, d)
	for _, n := range []int{drop.MaxActivePasses, 0, 1} {
		got, err := r.Update(t.Context(), d.ID(), func(x *drop.Drop) error { return x.SetMaxActive(n) })
		if err != nil {
			t.Fatalf("Update(max_active %d): %v", n, err)
		}
		want := d.Clone()
		if err := want.SetMaxActive(n); err != nil {
			t.Fatal(err)
		}
		sameDrop(t, got, want)
		sameDrop(t, get(t, r, d.ID()), want)
	}
	// A refused cap changes nothing.
	_, err := r.Update(t.Context(), d.ID(), func(x *drop.Drop) error { return x.SetMaxActive(-1) })
	if !errors.Is(err, drop.ErrInvalid) {
		t.Fatalf("Update(max_active -1): err = %v, want ErrInvalid", err)
	}
	if got := get(t, r, d.ID()).MaxActive(); got != 1 {
		t.Fatalf("max_active = %d after a refused update, want 1", got)
	}
}

func testDropsClearClosesAt(t *testing.T, r drop.Repository) {
	d := fullDrop(t, newID("region"), baseTime())
	create(t, r, d)
	got, err := r.Update(t.Context(), d.ID(), func(x *drop.Drop) error {
		x.ClearClosesAt()
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := d.Clone()
	want.ClearClosesAt()
	sameDrop(t, got, want)
	if stored := get(t, r, d.ID()); !stored.ClosesAt().IsZero() {
		t.Fatalf("closes_at = %s after clearing it", stored.ClosesAt())
	}
}

// testDropsNoPreQueue stores a queued drop without a pre-queue but with
// shuffle_at_open false, so a store that turned "no pre-queue" into a time,
// or dropped the flag when no pre-queue is set, shows here.
func testDropsNoPreQueue(t *testing.T, r drop.Repository) {
	d := mustDrop(t, drop.Params{Kind: drop.KindGeneral, Stock: 3, Admission: drop.AdmissionQueued,
		OpensAt: baseTime().Add(time.Hour)})
	create(t, r, d)
	got := get(t, r, d.ID())
	sameDrop(t, got, d)
	if got.HasPreQueue() || got.InPreQueueWindow(baseTime()) {
		t.Fatal("a drop stored without queue_opens_at came back with a pre-queue")
	}
}

func testDropsUpdateError(t *testing.T, r drop.Repository) {
	d := generalDrop(t, 10, 1)
	create(t, r, d)
	refused := errors.New("refused by fn")
	_, err := r.Update(t.Context(), d.ID(), func(x *drop.Drop) error {
		x.SetPaused(true)
		return refused
	})
	if !errors.Is(err, refused) {
		t.Fatalf("Update: err = %v, want fn's error", err)
	}
	sameDrop(t, get(t, r, d.ID()), d)
}

func testDropsConcurrentUpdate(t *testing.T, r drop.Repository) {
	const writers = 30
	d := generalDrop(t, 10, 1)
	create(t, r, d)
	inParallel(writers, func(int) {
		_, err := r.Update(t.Context(), d.ID(), func(x *drop.Drop) error {
			return x.SetAdmitRate(x.AdmitRate() + 1)
		})
		if err != nil {
			t.Errorf("Update: %v", err)
		}
	})
	if got := get(t, r, d.ID()).AdmitRate(); got != d.AdmitRate()+writers {
		t.Fatalf("admit rate = %d after %d increments of %d, lost updates", got, writers, d.AdmitRate())
	}
}

func testDropsIssuedCount(t *testing.T, r drop.Repository) {
	d := generalDrop(t, 100, 1)
	create(t, r, d)
	countOf := func(want int64) {
		t.Helper()
		got, err := r.IssuedCount(t.Context(), d.ID())
		if err != nil {
			t.Fatalf("IssuedCount: %v", err)
		}
		if got != want {
			t.Fatalf("IssuedCount = %d, want %d", got, want)
		}
	}
	countOf(0)
	for _, n := range []int64{42, 7, 100} {
		if err := r.SaveIssuedCount(t.Context(), d.ID(), n); err != nil {
			t.Fatalf("SaveIssuedCount: %v", err)
		}
		countOf(n)
	}
}
