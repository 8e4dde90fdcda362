package mysql

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// now is truncated to what DATETIME(6) keeps, so values compare equal after
// a round trip.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func generalDrop(t testing.TB, stock, limit int) *drop.Drop {
	t.Helper()
	d, err := drop.New(drop.Params{
		ID: uid("d"), Name: "Coupon rush", Kind: drop.KindGeneral, Region: "eu", Venue: "online",
		Stock: stock, PerUserLimit: limit, CreatedAt: now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func seatedDrop(t testing.TB, seats ...string) *drop.Drop {
	t.Helper()
	d, err := drop.New(drop.Params{
		ID: uid("s"), Name: "Concert", Kind: drop.KindSeated, Region: "kr", Venue: "Olympic Hall",
		Seats: seats, OpensAt: now().Add(-time.Hour), ClosesAt: now().Add(time.Hour),
		PerUserLimit: 2, Admission: drop.AdmissionQueued, AdmitRate: 250, PassTTL: 90 * time.Second, CreatedAt: now(),
		// Away from the column defaults, so a lost value shows in a round trip.
		QueueOpensAt: now().Add(-2 * time.Hour), ShuffleAtOpen: false, MaxActive: 25,
	})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDropsRoundTrip(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	for _, d := range []*drop.Drop{generalDrop(t, 1000, 3), seatedDrop(t, "A1", "A2", "B1")} {
		if err := r.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		got, err := r.Get(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Params(), d.Params()) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got.Params(), d.Params())
		}
	}
}

func TestDropsIDsAreCaseSensitive(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	lower := generalDrop(t, 1, 1)
	p := lower.Params()
	p.ID = "X" + p.ID
	upper, err := drop.New(p)
	if err != nil {
		t.Fatal(err)
	}
	p.ID = "x" + p.ID[1:]
	lowerX, _ := drop.New(p)
	if err := r.Create(ctx, upper); err != nil {
		t.Fatal(err)
	}
	if err := r.Create(ctx, lowerX); err != nil {
		t.Fatalf("ids differing only in case collided: %v", err)
	}
}

func TestDropsList(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	region := uid("region")
	base := now()
	mk := func(name string, opens, closes time.Time, created time.Duration) *drop.Drop {
		d, err := drop.New(drop.Params{ID: uid("l"), Name: name, Kind: drop.KindGeneral, Region: region, Stock: 5,
			OpensAt: opens, ClosesAt: closes, CreatedAt: base.Add(created)})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Create(ctx, d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	open := mk("open", time.Time{}, time.Time{}, 2*time.Second)
	upcoming := mk("upcoming", base.Add(time.Hour), time.Time{}, time.Second)
	closed := mk("closed", base.Add(-2*time.Hour), base.Add(-time.Hour), 3*time.Second)
	if err := r.Create(ctx, generalDrop(t, 1, 1)); err != nil { // another region
		t.Fatal(err)
	}

	ids := func(ds []*drop.Drop) []string {
		var out []string
		for _, d := range ds {
			out = append(out, d.ID())
		}
		return out
	}
	all, err := r.List(ctx, drop.Filter{Region: region})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{upcoming.ID(), open.ID(), closed.ID()}; !reflect.DeepEqual(ids(all), want) {
		t.Fatalf("List(region) = %v, want oldest first %v", ids(all), want)
	}
	for status, want := range map[drop.Status]*drop.Drop{drop.StatusOpen: open, drop.StatusUpcoming: upcoming, drop.StatusClosed: closed} {
		got, err := r.List(ctx, drop.Filter{Region: region, Status: status, Now: base})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(ids(got), []string{want.ID()}) {
			t.Errorf("List(%s) = %v, want [%s]", status, ids(got), want.ID())
		}
	}
}

func TestDropsUpdate(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	d := generalDrop(t, 10, 1)
	if err := r.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err := r.Update(ctx, d.ID(), func(d *drop.Drop) error {
		d.SetPaused(true)
		return d.SetAdmitRate(777)
	})
	if err != nil || !got.Paused() || got.AdmitRate() != 777 {
		t.Fatalf("Update = %v, %v", got, err)
	}
	stored, _ := r.Get(ctx, d.ID())
	if !stored.Paused() || stored.AdmitRate() != 777 {
		t.Fatalf("Update not stored: paused=%v rate=%d", stored.Paused(), stored.AdmitRate())
	}

	fnErr := fmt.Errorf("refused by fn")
	if _, err := r.Update(ctx, d.ID(), func(d *drop.Drop) error { d.SetPaused(false); return fnErr }); err != fnErr {
		t.Fatalf("Update with failing fn = %v, want fn's error unchanged", err)
	}
	if stored, _ := r.Get(ctx, d.ID()); !stored.Paused() {
		t.Fatal("a failing fn's change was stored")
	}
	if _, err := r.Update(ctx, uid("missing"), func(*drop.Drop) error { return nil }); !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("Update(missing) = %v", err)
	}

	// Read-modify-write from 20 goroutines: the row lock must keep every one.
	var wg sync.WaitGroup
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.Update(ctx, d.ID(), func(d *drop.Drop) error { return d.SetAdmitRate(d.AdmitRate() + 1) }); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if stored, _ := r.Get(ctx, d.ID()); stored.AdmitRate() != 797 {
		t.Fatalf("admit rate after 20 concurrent increments = %d, want 797", stored.AdmitRate())
	}
}

func TestDropsUpdateMaxActive(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	d := seatedDrop(t, "A1", "A2")
	if err := r.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{500, 0, 1_000_000} {
		got, err := r.Update(ctx, d.ID(), func(d *drop.Drop) error { return d.SetMaxActive(n) })
		if err != nil || got.MaxActive() != n {
			t.Fatalf("Update(max_active %d) = %v, %v", n, got, err)
		}
		stored, err := r.Get(ctx, d.ID())
		if err != nil || stored.MaxActive() != n {
			t.Fatalf("stored max_active = %v, %v; want %d", stored, err, n)
		}
		// The other fields ride along unchanged.
		if !stored.QueueOpensAt().Equal(d.QueueOpensAt()) || stored.ShuffleAtOpen() != d.ShuffleAtOpen() {
			t.Fatalf("Update changed the pre-queue: %+v", stored.Params())
		}
	}
	var n int
	if err := db.NewSelect().Model((*dropRow)(nil)).Column("max_active").Where("id = ?", d.ID()).Scan(ctx, &n); err != nil || n != 1_000_000 {
		t.Fatalf("max_active column = %d, %v", n, err)
	}
}

func TestDropsNoPreQueueIsNull(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	d := generalDrop(t, 5, 1)
	if err := r.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	var isNull bool
	if err := db.NewSelect().Model((*dropRow)(nil)).ColumnExpr("queue_opens_at IS NULL").Where("id = ?", d.ID()).Scan(ctx, &isNull); err != nil || !isNull {
		t.Fatalf("queue_opens_at of a drop without a pre-queue: null=%v, %v", isNull, err)
	}
	got, err := r.Get(ctx, d.ID())
	if err != nil || got.HasPreQueue() {
		t.Fatalf("Get = %v, %v; want no pre-queue", got, err)
	}
}

func TestDropsIssuedCount(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	r := NewDrops(db)
	d := generalDrop(t, 10, 1)
	if err := r.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	if n, err := r.IssuedCount(ctx, d.ID()); err != nil || n != 0 {
		t.Fatalf("IssuedCount of a new drop = %d, %v", n, err)
	}
	for _, n := range []int64{5, 5, 3} {
		if err := r.SaveIssuedCount(ctx, d.ID(), n); err != nil {
			t.Fatalf("SaveIssuedCount(%d): %v", n, err)
		}
		if got, err := r.IssuedCount(ctx, d.ID()); err != nil || got != n {
			t.Fatalf("IssuedCount = %d, %v; want %d", got, err, n)
		}
	}
	if err := r.SaveIssuedCount(ctx, uid("missing"), 1); !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("SaveIssuedCount(missing) = %v", err)
	}
	if _, err := r.IssuedCount(ctx, uid("missing")); !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("IssuedCount(missing) = %v", err)
	}
}

func candidate(dropID, userID, seat string) issuance.Issuance {
	return issuance.Issuance{ID: uid("i"), DropID: dropID, UserID: userID, Seat: seat, Code: "CODE123456", IssuedAt: now()}
}

func candidateN(dropID, userID, seat string, n int) issuance.Issuance {
	iss := candidate(dropID, userID, seat)
	iss.N = n
	return iss
}

// seatReads counts the statements that read the seats column itself of
// drop id.
type seatReads struct {
	id string
	n  atomic.Int64
}

func (h *seatReads) BeforeQuery(ctx context.Context, e *bun.QueryEvent) context.Context {
	if strings.HasPrefix(e.Query, "SELECT `drop_row`.`seats` ") && strings.Contains(e.Query, h.id) {
		h.n.Add(1)
	}
	return ctx
}
func (h *seatReads) AfterQuery(context.Context, *bun.QueryEvent) {}

// A seated drop's seats are fetched and checked once per repository, not on
// every read (fifty 50,000-seat drops re-read every second cost a core); a
// seat list changed in the table (by hand: the API never changes one) is
// read again, and every read returns the stored drop exactly.
func TestDropsReadSeatsOnce(t *testing.T) {
	db := testDB(t)
	ctx := ctxT(t)
	d := seatedDrop(t, "A1", "A2", "B1")
	hook := &seatReads{id: d.ID()}
	db.AddQueryHook(hook)
	r := NewDrops(db)
	if err := r.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		got, err := r.Get(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got.Params(), d.Params()) || !got.HasSeat("B1") || got.HasSeat("Z9") {
			t.Fatalf("read:\n got %+v\nwant %+v", got.Params(), d.Params())
		}
		list, err := r.List(ctx, drop.Filter{})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, x := range list {
			if x.ID() == d.ID() {
				found = reflect.DeepEqual(x.Params(), d.Params())
			}
		}
		if !found {
			t.Fatalf("List lost or changed %s", d.ID())
		}
	}
	if n := hook.n.Load(); n != 1 {
		t.Fatalf("the seats were read %d times over 10 reads, want once", n)
	}
	if _, err := db.ExecContext(ctx, "UPDATE drops SET seats = ?, stock = 4 WHERE id = ?", `["A1","A2","B1","B2"]`, d.ID()); err != nil {
		t.Fatal(err)
	}
	got, err := r.Get(ctx, d.ID())
	if err != nil {
		t.Fatal(err)
	}
	if !got.HasSeat("B2") || got.Stock() != 4 || hook.n.Load() != 2 {
		t.Fatalf("after the seats changed: %v, stock %d, %d seat reads; want B2, 4, 2", got.Seats(), got.Stock(), hook.n.Load())
	}
	// Another repository (another instance) reads them for itself.
	if got, err := NewDrops(db).Get(ctx, d.ID()); err != nil || !got.HasSeat("B2") {
		t.Fatalf("a fresh repository: %v, %v", got, err)
	}
}
