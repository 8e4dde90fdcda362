// Package invariants proves fastdeal's promises through the use cases, under
// real concurrency, on any adapter set: no oversell, no seat twice, nobody
// over the per-user limit, idempotent claims and joins, a fair line, and
// passes that lapse. Run is called once per adapter set (memory, MySQL,
// Redis) from this package's tests.
package invariants

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// Factory returns a fresh adapter set driven by c. Drop ids are unique per
// test, so a factory may share one database across tests.
type Factory func(t *testing.T, c clock.Clock) application.Stores

// FakeClock is a clock that moves only when told.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock starts at the current wall time (stores may compare with it).
func NewFakeClock() *FakeClock { return &FakeClock{now: time.Now().UTC().Truncate(time.Millisecond)} }

// Now returns the clock's time.
func (f *FakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

// Advance moves the clock forward.
func (f *FakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	f.now = f.now.Add(d)
	f.mu.Unlock()
}

type rig struct {
	st    application.Stores
	clock *FakeClock
	cache *application.DropCache
	sales *application.Sales
	cat   *application.Catalog
	disp  *application.Dispatcher
}

func newRig(t *testing.T, f Factory) *rig {
	t.Helper()
	c := NewFakeClock()
	st := f(t, c)
	st.Clock = c
	cache := application.NewDropCache(st.Drops, time.Hour)
	recon := application.NewReconciler(st, nil)
	return &rig{
		st: st, clock: c, cache: cache,
		sales: application.NewSales(st, cache, recon, application.SalesOptions{StoreTimeout: storeTimeout}, nil),
		cat:   application.NewCatalog(st, cache, recon),
		disp: application.NewDispatcher(st, cache, application.DispatcherOptions{
			Instance: "invariants-" + uniq(), Tick: 10 * time.Millisecond, MaxBatch: 100_000,
		}, nil),
	}
}

// storeTimeout bounds each request's storage work in these tests. They
// judge invariants, not latency: on a busy machine thousands of claims
// queued on one MariaDB row take far longer than production's 2s, and a
// claim answered "unavailable" there would say nothing about the invariant.
const storeTimeout = 5 * time.Minute

var counter atomic.Int64

func uniq() string {
	return strconv.FormatInt(time.Now().UnixNano()%1e12, 36) + strconv.FormatInt(counter.Add(1), 36)
}

func (r *rig) create(t *testing.T, p drop.Params) *drop.Drop {
	t.Helper()
	p.ID = "inv-" + uniq()
	d, err := r.cat.Create(context.Background(), p)
	if err != nil {
		t.Fatalf("create drop: %v", err)
	}
	return d
}

func seats(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("S%05d", i+1)
	}
	return out
}

// Run runs every invariant against the adapter set f makes.
func Run(t *testing.T, f Factory) {
	t.Run("NoOversellGeneral", func(t *testing.T) { testNoOversell(t, f) })
	t.Run("NoSeatTwice", func(t *testing.T) { testNoSeatTwice(t, f) })
	t.Run("PerUserLimitUnderConcurrency", func(t *testing.T) { testPerUserLimit(t, f) })
	t.Run("IdempotentClaim", func(t *testing.T) { testIdempotentClaim(t, f) })
	t.Run("FairLine", func(t *testing.T) { testFairLine(t, f) })
	t.Run("DuplicateJoinsKeepPlace", func(t *testing.T) { testDuplicateJoins(t, f) })
	t.Run("LapsedPassMovesLineOn", func(t *testing.T) { testLapsedPass(t, f) })
	RunWaiting(t, f)
}

// auditLedger checks the durable side: every issuance told to a buyer is in
// the ledger, nothing twice, no seat twice, nobody over the limit.
func auditLedger(t *testing.T, r *rig, d *drop.Drop, told []issuance.Issuance) []issuance.Issuance {
	t.Helper()
	ctx := context.Background()
	durable, err := r.st.Ledger.ByDrop(ctx, d.ID())
	if err != nil {
		t.Fatalf("ledger by drop: %v", err)
	}
	byID := make(map[string]issuance.Issuance, len(durable))
	perUser := make(map[string]int)
	seatHolder := make(map[string]string)
	for _, iss := range durable {
		if _, dup := byID[iss.ID]; dup {
			t.Errorf("issuance %s stored twice", iss.ID)
		}
		byID[iss.ID] = iss
		perUser[iss.UserID]++
		if perUser[iss.UserID] > d.PerUserLimit() {
			t.Errorf("user %s holds %d units, limit %d", iss.UserID, perUser[iss.UserID], d.PerUserLimit())
		}
		if iss.Seat != "" {
			if other, taken := seatHolder[iss.Seat]; taken {
				t.Errorf("seat %s issued twice (%s and %s)", iss.Seat, other, iss.ID)
			}
			seatHolder[iss.Seat] = iss.ID
		}
	}
	if len(durable) > d.Stock() {
		t.Errorf("oversold: %d durable issuances for a stock of %d", len(durable), d.Stock())
	}
	for _, iss := range told {
		got, ok := byID[iss.ID]
		if !ok {
			t.Errorf("issuance %s was answered issued but is not in the ledger", iss.ID)
			continue
		}
		if got.UserID != iss.UserID || got.Seat != iss.Seat {
			t.Errorf("issuance %s: ledger has user %s seat %q, buyer was told user %s seat %q", iss.ID, got.UserID, got.Seat, iss.UserID, iss.Seat)
		}
	}
	return durable
}

// testNoOversell: 10,000 claims by 5,000 users on a stock of 1,000 issue
// exactly 1,000, nobody over the limit of 1.
func testNoOversell(t *testing.T, f Factory) {
	r := newRig(t, f)
	d := r.create(t, drop.Params{Name: "oversell", Kind: drop.KindGeneral, Stock: 1000})
	const users, claims = 5000, 10000
	var (
		mu      sync.Mutex
		told    []issuance.Issuance
		answers = map[application.ClaimStatus]int{}
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for i := range claims {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := r.sales.Claim(context.Background(), application.ClaimInput{DropID: d.ID(), UserID: "u" + strconv.Itoa(i%users)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("claim: %v", err)
				return
			}
			answers[res.Status]++
			if res.Status == application.StatusIssued {
				told = append(told, res.Issuance)
			}
		}()
	}
	close(start)
	wg.Wait()
	if answers[application.StatusIssued] != 1000 {
		t.Fatalf("issued %d, want exactly 1000 (answers %v)", answers[application.StatusIssued], answers)
	}
	if got := answers[application.StatusSoldOut] + answers[application.StatusLimitReached]; got != claims-1000 {
		t.Errorf("non-issued answers %d, want %d (%v)", got, claims-1000, answers)
	}
	durable := auditLedger(t, r, d, told)
	if len(durable) != 1000 {
		t.Errorf("ledger holds %d, want 1000", len(durable))
	}
	if rem, err := r.st.Inventory.Remaining(context.Background(), d.ID()); err != nil || rem != 0 {
		t.Errorf("remaining %d (%v), want 0", rem, err)
	}
}

// testNoSeatTwice: 2,000 claims on 500 seats never give a seat twice, and
// every seat that was asked for is sold.
func testNoSeatTwice(t *testing.T, f Factory) {
	r := newRig(t, f)
	d := r.create(t, drop.Params{Name: "seats", Kind: drop.KindSeated, Seats: seats(500)})
	labels := d.Seats()
	var (
		mu    sync.Mutex
		told  []issuance.Issuance
		taken int
		wg    sync.WaitGroup
		start = make(chan struct{})
	)
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			seat := labels[rand.IntN(len(labels))]
			if i < 500 {
				seat = labels[i] // make sure every seat is wanted at least once
			}
			res, err := r.sales.Claim(context.Background(), application.ClaimInput{DropID: d.ID(), UserID: "u" + strconv.Itoa(i), Seat: seat})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				t.Errorf("claim: %v", err)
			case res.Status == application.StatusIssued:
				if res.Issuance.Seat != seat {
					t.Errorf("asked for %s, got %s", seat, res.Issuance.Seat)
				}
				told = append(told, res.Issuance)
			case res.Status == application.StatusSeatTaken || res.Status == application.StatusSoldOut:
				// Once every seat is gone an adapter may say sold out instead.
				taken++
			default:
				t.Errorf("unexpected answer %s", res.Status)
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(told) != 500 || taken != 1500 {
		t.Fatalf("issued %d and seat_taken %d, want 500 and 1500", len(told), taken)
	}
	auditLedger(t, r, d, told)
	free, err := r.sales.Seats(context.Background(), d.ID(), application.SeatQuery{Available: true})
	if err != nil || len(free.Seats) != 0 {
		t.Errorf("free seats after the sale: %d (%v), want 0", len(free.Seats), err)
	}
}

// testPerUserLimit: with a limit of 3, 200 users each firing 10 claims at once
// get exactly 3 each, and the 4th answer onwards is limit_reached, not sold_out.
func testPerUserLimit(t *testing.T, f Factory) {
	r := newRig(t, f)
	d := r.create(t, drop.Params{Name: "limit", Kind: drop.KindGeneral, Stock: 1000, PerUserLimit: 3})
	var (
		mu    sync.Mutex
		told  []issuance.Issuance
		other = map[application.ClaimStatus]int{}
		wg    sync.WaitGroup
	)
	for i := range 2000 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.sales.Claim(context.Background(), application.ClaimInput{DropID: d.ID(), UserID: "u" + strconv.Itoa(i%200)})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("claim: %v", err)
			} else if res.Status == application.StatusIssued {
				told = append(told, res.Issuance)
			} else {
				other[res.Status]++
			}
		}()
	}
	wg.Wait()
	if len(told) != 600 || other[application.StatusLimitReached] != 1400 {
		t.Fatalf("issued %d, other answers %v; want 600 issued and 1400 limit_reached", len(told), other)
	}
	auditLedger(t, r, d, told)
}

// testIdempotentClaim: 100 concurrent retries with one key, then a late
// retry, all get the same single issuance; a new key gets a new unit.
func testIdempotentClaim(t *testing.T, f Factory) {
	r := newRig(t, f)
	d := r.create(t, drop.Params{Name: "idem", Kind: drop.KindGeneral, Stock: 10, PerUserLimit: 5})
	in := application.ClaimInput{DropID: d.ID(), UserID: "buyer", Key: "key-" + uniq()}
	var (
		mu    sync.Mutex
		ids   = map[string]int{}
		fresh int
		wg    sync.WaitGroup
	)
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := r.sales.Claim(context.Background(), in)
			mu.Lock()
			defer mu.Unlock()
			if err != nil || res.Status != application.StatusIssued {
				t.Errorf("retry: %v %v", res.Status, err)
				return
			}
			ids[res.Issuance.ID]++
			if !res.Repeat {
				fresh++
			}
		}()
	}
	wg.Wait()
	if len(ids) != 1 || fresh != 1 {
		t.Fatalf("100 retries gave %d issuances (%d answered as new), want 1 and 1", len(ids), fresh)
	}
	late, err := r.sales.Claim(context.Background(), in)
	if err != nil || !late.Repeat || ids[late.Issuance.ID] == 0 {
		t.Fatalf("late retry: %+v %v, want the same issuance as a repeat", late, err)
	}
	other, err := r.sales.Claim(context.Background(), application.ClaimInput{DropID: d.ID(), UserID: "buyer", Key: "key-" + uniq()})
	if err != nil || other.Repeat || other.Issuance.ID == late.Issuance.ID {
		t.Fatalf("a new key must get a new unit: %+v %v", other, err)
	}
	if rem, _ := r.st.Inventory.Remaining(context.Background(), d.ID()); rem != 8 {
		t.Errorf("remaining %d, want 8", rem)
	}
	auditLedger(t, r, d, []issuance.Issuance{late.Issuance, other.Issuance})
}

// The fair-line test's size: the MySQL strategy admits one row-locked
// transaction at a time, so this bounds the test's run time there.
const fairUsers, fairStock = 1000, 600

// testFairLine: 1,000 buyers join at once; the line's order is then fixed,
// the dispatcher admits exactly that order, and while it works no waiting
// buyer's position ever goes up.
func testFairLine(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d := r.create(t, drop.Params{Name: "fair", Kind: drop.KindGeneral, Stock: fairStock, Admission: drop.AdmissionQueued, AdmitRate: 100})
	const n = fairUsers
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, err := r.sales.JoinLine(ctx, d.ID(), "u"+strconv.Itoa(i))
			if err != nil || v.Status != waitline.Waiting || v.Position < 1 {
				t.Errorf("join: %+v %v", v, err)
			}
		}()
	}
	wg.Wait()
	order := make([]string, n)
	for i := range n {
		v, err := r.sales.LineStatus(ctx, d.ID(), "u"+strconv.Itoa(i), "")
		if err != nil || v.Position < 1 || v.Position > n || order[v.Position-1] != "" {
			t.Fatalf("standing of u%d: %+v %v (positions must be a permutation of 1..%d)", i, v, err, n)
		}
		order[v.Position-1] = "u" + strconv.Itoa(i)
	}
	// Watchers read positions while the dispatcher admits.
	stop := make(chan struct{})
	var watchers sync.WaitGroup
	for w := range 8 {
		watchers.Add(1)
		go func() {
			defer watchers.Done()
			last := map[string]int64{}
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				default:
				}
				u := order[(w*997+k*31)%n]
				v, err := r.sales.LineStatus(ctx, d.ID(), u, "")
				if err != nil {
					t.Errorf("status %s: %v", u, err)
					return
				}
				if v.Status == waitline.Waiting {
					if p, seen := last[u]; seen && v.Position > p {
						t.Errorf("position of %s went up from %d to %d", u, p, v.Position)
					}
					last[u] = v.Position
				}
			}
		}()
	}
	for i := 0; i < 400; i++ {
		r.clock.Advance(100 * time.Millisecond)
		r.disp.Serve(ctx, d.ID())
		if l, _ := r.st.Line.Length(ctx, d.ID()); l == 0 {
			break
		}
	}
	close(stop)
	watchers.Wait()
	durable := auditLedger(t, r, d, nil)
	if len(durable) != fairStock {
		t.Fatalf("issued %d, want %d", len(durable), fairStock)
	}
	// The ledger's issue order must be the line's order.
	for i, iss := range durable {
		if iss.UserID != order[i] {
			t.Fatalf("issue #%d went to %s, but place %d in line was %s", i+1, iss.UserID, i+1, order[i])
		}
	}
	for i, u := range order {
		v, err := r.sales.LineStatus(ctx, d.ID(), u, "")
		want := waitline.Issued
		if i >= fairStock {
			want = waitline.SoldOut
		}
		if err != nil || v.Status != want {
			t.Fatalf("place %d (%s): %+v %v, want %s", i+1, u, v, err, want)
		}
		if want == waitline.Issued && (v.Issuance == nil || v.Issuance.UserID != u) {
			t.Fatalf("place %d (%s): issued without its issuance: %+v", i+1, u, v)
		}
	}
	if late, _, err := r.sales.JoinLine(ctx, d.ID(), "latecomer"); err != nil || late.Status != waitline.SoldOut {
		t.Errorf("joining a sold-out drop: %+v %v, want sold_out", late, err)
	}
}

// testDuplicateJoins: every buyer joins three times at once; the line holds
// each once and repeated joins report the first place.
func testDuplicateJoins(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d := r.create(t, drop.Params{Name: "dupjoin", Kind: drop.KindGeneral, Stock: 10, Admission: drop.AdmissionQueued})
	const n = 500
	created := make([]atomic.Int32, n)
	var wg sync.WaitGroup
	for i := range 3 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, isNew, err := r.sales.JoinLine(ctx, d.ID(), "u"+strconv.Itoa(i%n))
			if err != nil {
				t.Errorf("join: %v", err)
			}
			if isNew {
				created[i%n].Add(1)
			}
		}()
	}
	wg.Wait()
	for i := range created {
		if c := created[i].Load(); c != 1 {
			t.Fatalf("u%d was queued %d times", i, c)
		}
	}
	if l, err := r.st.Line.Length(ctx, d.ID()); err != nil || l != n {
		t.Fatalf("line length %d (%v), want %d", l, err, n)
	}
	for i := range 20 {
		u := "u" + strconv.Itoa(i)
		before, _ := r.sales.LineStatus(ctx, d.ID(), u, "")
		again, isNew, err := r.sales.JoinLine(ctx, d.ID(), u)
		if err != nil || isNew || again.Position != before.Position {
			t.Fatalf("rejoin of %s: %+v new=%v %v, want place %d kept", u, again, isNew, err, before.Position)
		}
	}
}

// testLapsedPass: in a seated queued drop with 2 seats, passes go to the
// first two; when they lapse unused the next two are admitted, and a buyer
// with a lapsed pass can no longer claim.
func testLapsedPass(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d := r.create(t, drop.Params{Name: "passes", Kind: drop.KindSeated, Seats: seats(2),
		Admission: drop.AdmissionQueued, AdmitRate: 100, PassTTL: 2 * time.Second})
	for i := range 5 {
		if _, _, err := r.sales.JoinLine(ctx, d.ID(), "u"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	status := func(u string) waitline.Status {
		v, err := r.sales.LineStatus(ctx, d.ID(), u, "")
		if err != nil {
			t.Fatalf("status %s: %v", u, err)
		}
		return v.Status
	}
	for range 3 {
		r.clock.Advance(100 * time.Millisecond)
		r.disp.Serve(ctx, d.ID())
	}
	if status("u0") != waitline.Admitted || status("u1") != waitline.Admitted || status("u2") != waitline.Waiting {
		t.Fatalf("after admission: u0 %s u1 %s u2 %s, want admitted admitted waiting", status("u0"), status("u1"), status("u2"))
	}
	if _, err := r.sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "u2", Seat: "S00001"}); err == nil {
		t.Fatal("a waiting buyer claimed a seat")
	}
	r.clock.Advance(2500 * time.Millisecond)
	if status("u0") != waitline.Expired {
		t.Fatalf("u0 after its pass lapsed: %s, want expired", status("u0"))
	}
	if _, err := r.sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "u0", Seat: "S00001"}); err == nil {
		t.Fatal("a lapsed pass still claimed a seat")
	}
	for range 3 {
		r.clock.Advance(100 * time.Millisecond)
		r.disp.Serve(ctx, d.ID())
	}
	if status("u2") != waitline.Admitted || status("u3") != waitline.Admitted || status("u4") != waitline.Waiting {
		t.Fatalf("after lapse: u2 %s u3 %s u4 %s, want admitted admitted waiting", status("u2"), status("u3"), status("u4"))
	}
	res, err := r.sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "u2", Seat: "S00001"})
	if err != nil || res.Status != application.StatusIssued {
		t.Fatalf("claim with a valid pass: %+v %v", res, err)
	}
	if status("u2") != waitline.Issued {
		t.Fatalf("u2 after claiming: %s, want issued", status("u2"))
	}
	auditLedger(t, r, d, []issuance.Issuance{res.Issuance})
}
