package application_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
)

// manualClock is a clock the test moves by hand.
type manualClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *manualClock) add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// countedInventory counts Taken reads; while gate is set each read waits
// for it to close, so concurrent callers pile up behind the first.
type countedInventory struct {
	inventory.Inventory
	reads atomic.Int64
	gate  chan struct{}
	fail  atomic.Bool
}

func (c *countedInventory) Taken(ctx context.Context, dropID string) (map[string]bool, error) {
	c.reads.Add(1)
	if c.gate != nil {
		<-c.gate
	}
	if c.fail.Load() {
		return nil, fmt.Errorf("taken: %w", inventory.ErrUnavailable)
	}
	return c.Inventory.Taken(ctx, dropID)
}

type seatRig struct {
	sales *application.Sales
	clock *manualClock
	inv   *countedInventory
	drop  *drop.Drop
	// labels are the drop's seats in label order.
	labels []string
}

// newSeatRig makes a seated drop of n seats, given to the catalog in a
// shuffled order so the test sees the sales facade sort them.
func newSeatRig(t testing.TB, n int, gate chan struct{}) *seatRig {
	t.Helper()
	st := memStores()
	clk := &manualClock{now: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}
	inv := &countedInventory{Inventory: st.Inventory, gate: gate}
	st.Clock, st.Inventory = clk, inv
	w := wire(st)
	cat := w.cat
	labels := make([]string, n)
	for i := range labels {
		labels[i] = fmt.Sprintf("S-%06d", i)
	}
	shuffled := slices.Clone(labels)
	rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	d, err := cat.Create(context.Background(), drop.Params{Name: "seats", Kind: drop.KindSeated, Seats: shuffled})
	if err != nil {
		t.Fatal(err)
	}
	return &seatRig{
		sales: w.sales(application.SalesOptions{}),
		clock: clk, inv: inv, drop: d, labels: labels,
	}
}

func (r *seatRig) page(t *testing.T, q application.SeatQuery) application.SeatPage {
	t.Helper()
	p, err := r.sales.Seats(context.Background(), r.drop.ID(), q)
	if err != nil {
		t.Fatalf("seats %+v: %v", q, err)
	}
	if p.Seats == nil {
		t.Fatalf("seats %+v: nil page, want a slice (it renders as [])", q)
	}
	return p
}

func (r *seatRig) claim(t *testing.T, seat string) {
	t.Helper()
	res, err := r.sales.Claim(context.Background(), application.ClaimInput{DropID: r.drop.ID(), UserID: "u-" + seat, Seat: seat})
	if err != nil || res.Status != application.StatusIssued {
		t.Fatalf("claim %s: %+v %v", seat, res, err)
	}
}

// walk follows next from the first page to the last and returns every seat
// seen and the number of pages.
func (r *seatRig) walk(t *testing.T, q application.SeatQuery) ([]application.SeatView, int) {
	t.Helper()
	var all []application.SeatView
	pages := 0
	for {
		p := r.page(t, q)
		pages++
		if len(p.Seats) > q.Limit {
			t.Fatalf("page of %d seats, limit %d", len(p.Seats), q.Limit)
		}
		all = append(all, p.Seats...)
		if p.Next == "" {
			return all, pages
		}
		if p.Next != p.Seats[len(p.Seats)-1].Label {
			t.Fatalf("next %q is not the page's last label %q", p.Next, p.Seats[len(p.Seats)-1].Label)
		}
		if pages > 1000 {
			t.Fatal("paging does not end")
		}
		q.After = p.Next
	}
}

func labelsOf(seats []application.SeatView) []string {
	out := make([]string, len(seats))
	for i, s := range seats {
		out[i] = s.Label
	}
	return out
}

func TestSeatsPagesInLabelOrder(t *testing.T) {
	r := newSeatRig(t, 25, nil)

	first := r.page(t, application.SeatQuery{Limit: 10})
	if got := labelsOf(first.Seats); !slices.Equal(got, r.labels[:10]) || first.Next != r.labels[9] {
		t.Fatalf("first page %v next %q, want %v next %q", got, first.Next, r.labels[:10], r.labels[9])
	}
	all, pages := r.walk(t, application.SeatQuery{Limit: 10})
	if pages != 3 || !slices.Equal(labelsOf(all), r.labels) {
		t.Fatalf("walked %d pages of %v, want 3 pages of %v", pages, labelsOf(all), r.labels)
	}
	// A page that ends exactly at the last seat has no next.
	if p := r.page(t, application.SeatQuery{Limit: 5, After: r.labels[19]}); len(p.Seats) != 5 || p.Next != "" {
		t.Fatalf("last full page: %d seats, next %q", len(p.Seats), p.Next)
	}
	// No limit (or one out of range) is the largest page.
	for _, limit := range []int{0, -1, application.MaxSeatPage + 1} {
		if p := r.page(t, application.SeatQuery{Limit: limit}); len(p.Seats) != 25 || p.Next != "" {
			t.Fatalf("limit %d: %d seats, next %q", limit, len(p.Seats), p.Next)
		}
	}
	// after need not be a seat: the page starts at the first label above it.
	if p := r.page(t, application.SeatQuery{Limit: 2, After: "S-000010a"}); !slices.Equal(labelsOf(p.Seats), r.labels[11:13]) {
		t.Fatalf("after between labels: %v", labelsOf(p.Seats))
	}
	if p := r.page(t, application.SeatQuery{Limit: 2, After: "A"}); !slices.Equal(labelsOf(p.Seats), r.labels[:2]) {
		t.Fatalf("after before the first: %v", labelsOf(p.Seats))
	}
	for _, after := range []string{r.labels[24], "S-999999", "Z"} {
		if p := r.page(t, application.SeatQuery{Limit: 10, After: after}); len(p.Seats) != 0 || p.Next != "" {
			t.Fatalf("after %q (beyond the last): %v next %q, want an empty page", after, labelsOf(p.Seats), p.Next)
		}
	}
	if n := r.inv.reads.Load(); n != 1 {
		t.Fatalf("%d store reads for pages within one second, want 1", n)
	}
}

func TestSeatsAvailableOnly(t *testing.T) {
	r := newSeatRig(t, 25, nil)
	taken := []string{r.labels[0], r.labels[3], r.labels[11], r.labels[24]}
	for _, l := range taken {
		r.claim(t, l)
	}
	var free []string
	for _, l := range r.labels {
		if !slices.Contains(taken, l) {
			free = append(free, l)
		}
	}
	all, pages := r.walk(t, application.SeatQuery{Available: true, Limit: 10})
	if pages != 3 || !slices.Equal(labelsOf(all), free) {
		t.Fatalf("available: %d pages of %v, want 3 of %v", pages, labelsOf(all), free)
	}
	for _, s := range all {
		if s.Taken {
			t.Fatalf("available page holds taken seat %s", s.Label)
		}
	}
	// after may name a taken seat: the page starts at the next free one.
	if p := r.page(t, application.SeatQuery{Available: true, Limit: 1, After: r.labels[10]}); len(p.Seats) != 1 || p.Seats[0].Label != r.labels[12] {
		t.Fatalf("available after a taken seat: %v", labelsOf(p.Seats))
	}
	if p := r.page(t, application.SeatQuery{Available: true, After: r.labels[23]}); len(p.Seats) != 0 || p.Next != "" {
		t.Fatalf("available after the last free seat: %v next %q", labelsOf(p.Seats), p.Next)
	}
	every, _ := r.walk(t, application.SeatQuery{Limit: 7})
	for _, s := range every {
		if s.Taken != slices.Contains(taken, s.Label) {
			t.Fatalf("seat %s taken=%v", s.Label, s.Taken)
		}
	}
}

// The snapshot answers for less than a second of the Sales clock, then one
// read refreshes it.
func TestSeatsAtMostOneSecondOld(t *testing.T) {
	r := newSeatRig(t, 5, nil)
	isTaken := func(label string) bool {
		for _, s := range r.page(t, application.SeatQuery{}).Seats {
			if s.Label == label {
				return s.Taken
			}
		}
		t.Fatalf("no seat %s", label)
		return false
	}
	if isTaken(r.labels[2]) {
		t.Fatal("a seat nobody claimed is taken")
	}
	r.claim(t, r.labels[2])
	// Within the second the cached answer may (and here does) lag.
	r.clock.add(999 * time.Millisecond)
	if isTaken(r.labels[2]) {
		t.Fatal("the snapshot was read again before it was a second old")
	}
	if n := r.inv.reads.Load(); n != 1 {
		t.Fatalf("%d store reads within a second, want 1", n)
	}
	r.clock.add(time.Millisecond)
	if !isTaken(r.labels[2]) {
		t.Fatal("a seat claimed a second ago still shows free")
	}
	if n := r.inv.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2", n)
	}
}

func TestSeatsOneStoreReadForConcurrentCallers(t *testing.T) {
	gate := make(chan struct{})
	r := newSeatRig(t, 2500, gate)
	const callers = 64
	var started, done sync.WaitGroup
	errs := make(chan error, callers)
	for i := range callers {
		started.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			p, err := r.sales.Seats(context.Background(), r.drop.ID(), application.SeatQuery{Limit: 1 + i%10, Available: i%2 == 0})
			if err == nil && len(p.Seats) != 1+i%10 {
				err = fmt.Errorf("caller %d got %d seats", i, len(p.Seats))
			}
			errs <- err
		}()
	}
	started.Wait()
	close(gate)
	done.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := r.inv.reads.Load(); n != 1 {
		t.Fatalf("%d callers made %d store reads, want 1", callers, n)
	}
}

// A failed read is not kept: the next call reads again, and the caller hears
// ErrUnavailable, not an empty drop.
func TestSeatsStoreFailure(t *testing.T) {
	r := newSeatRig(t, 3, nil)
	r.inv.fail.Store(true)
	if _, err := r.sales.Seats(context.Background(), r.drop.ID(), application.SeatQuery{}); !errors.Is(err, application.ErrUnavailable) {
		t.Fatalf("seats with the store down: %v, want ErrUnavailable", err)
	}
	r.inv.fail.Store(false)
	if p := r.page(t, application.SeatQuery{}); len(p.Seats) != 3 {
		t.Fatalf("after the store came back: %v", labelsOf(p.Seats))
	}
	if n := r.inv.reads.Load(); n != 2 {
		t.Fatalf("%d store reads, want 2 (the failure is not cached)", n)
	}
}

func TestSeatsOfAGeneralDrop(t *testing.T) {
	st := memStores()
	w := wire(st)
	d, err := w.cat.Create(context.Background(), drop.Params{Name: "g", Kind: drop.KindGeneral, Stock: 3})
	if err != nil {
		t.Fatal(err)
	}
	sales := w.sales(application.SalesOptions{})
	if _, err := sales.Seats(context.Background(), d.ID(), application.SeatQuery{}); !errors.Is(err, drop.ErrSeatNotAllowed) {
		t.Fatalf("seats of a general drop: %v", err)
	}
	if _, err := sales.Seats(context.Background(), "no-such-drop", application.SeatQuery{}); !errors.Is(err, drop.ErrNotFound) {
		t.Fatalf("seats of no drop: %v", err)
	}
}

// BenchmarkSeatsPage is the use-case cost of one full page (1,000 seats) of
// a 100,000-seat drop from a warm snapshot: what a repeated request costs
// before rendering.
func BenchmarkSeatsPage(b *testing.B) {
	r := newSeatRig(b, drop.MaxSeats, nil)
	ctx := context.Background()
	q := application.SeatQuery{Limit: application.MaxSeatPage, After: r.labels[50_000]}
	if _, err := r.sales.Seats(ctx, r.drop.ID(), q); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		p, err := r.sales.Seats(ctx, r.drop.ID(), q)
		if err != nil || len(p.Seats) != application.MaxSeatPage {
			b.Fatalf("%d seats, %v", len(p.Seats), err)
		}
	}
}
