package invariants

import (
	"context"
	"errors"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// RunWaiting runs the invariants of waiting at scale against the adapter set
// f makes: ticketed polls exact and never up, invalid tickets ignored, the
// pre-queue placed once and uniformly, active passes capped.
func RunWaiting(t *testing.T, f Factory) {
	t.Run("TicketedPollsAreExactAndNeverUp", func(t *testing.T) { testTicketsExact(t, f) })
	t.Run("InvalidTicketsAreIgnored", func(t *testing.T) { testTicketsIgnored(t, f) })
	t.Run("PreQueuePlacedAheadOfLaterJoiners", func(t *testing.T) { testPreQueuePlaced(t, f) })
	t.Run("PreQueueCrashMidShuffleLosesNoOne", func(t *testing.T) { testPreQueueCrash(t, f) })
	t.Run("PreQueueShuffleIsUniform", func(t *testing.T) { testPreQueueUniform(t, f) })
	t.Run("ActivePassesNeverAboveMax", func(t *testing.T) { testMaxActive(t, f) })
	t.Run("GiveBackFreesAPlaceAtOnce", func(t *testing.T) { testGiveBack(t, f) })
}

const testSecret = "invariants-ticket-secret-0123456789"

// poller is one Sales instance whose status answers say where they came from.
type poller struct {
	sales *application.Sales
	fast  atomic.Bool
}

func newPoller(r *rig, ttl time.Duration) *poller {
	p := &poller{}
	p.sales = application.NewSales(r.st, r.cache, nil, application.SalesOptions{
		StoreTimeout: storeTimeout, TicketSecret: []byte(testSecret), TicketTTL: ttl,
		OnStatus: func(_ string, fast bool) { p.fast.Store(fast) },
	}, nil)
	return p
}

// status polls with ticket; with waitFast it polls again until the answer
// comes from a snapshot (the refresh the first poll started is asynchronous).
func (p *poller) status(t *testing.T, dropID, user, ticket string, waitFast bool) application.LineView {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // the refresh is prompt; the slack is for a busy machine
	for {
		v, err := p.sales.LineStatus(context.Background(), dropID, user, ticket)
		if err != nil {
			t.Fatalf("status %s: %v", user, err)
		}
		if !waitFast || p.fast.Load() || v.Status != waitline.Waiting {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s never came from a snapshot", user)
		}
		time.Sleep(time.Millisecond)
	}
}

// testTicketsExact: a seeded run of joins, leaves and admissions; after each
// step every waiting buyer's ticketed answer (from a fresh snapshot) equals
// the store's, and no buyer is ever told a higher position, even when two
// instances with snapshots of different ages answer in turn.
func testTicketsExact(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d := r.create(t, drop.Params{Name: "tickets", Kind: drop.KindGeneral, Stock: 10_000,
		Admission: drop.AdmissionQueued, AdmitRate: 40})
	a, b := newPoller(r, time.Hour), newPoller(r, time.Hour)
	rng := rand.New(rand.NewPCG(7, 9))
	tickets := map[string]string{}
	last := map[string]int64{}
	next := 0
	for step := range 40 {
		switch op := rng.IntN(10); {
		case op < 6:
			for range 1 + rng.IntN(8) {
				u := "u" + strconv.Itoa(next)
				next++
				v, _, err := a.sales.JoinLine(ctx, d.ID(), u)
				if err != nil {
					t.Fatal(err)
				}
				if v.Ticket == "" || v.PollAfter < 500*time.Millisecond || v.PollAfter > time.Minute {
					t.Fatalf("join answer %+v: want a ticket and poll_after in [500ms, 60s]", v)
				}
				tickets[u], last[u] = v.Ticket, v.Position
			}
		case op < 8:
			for u := range tickets {
				if err := r.sales.LeaveLine(ctx, d.ID(), u); err == nil {
					delete(tickets, u)
				}
				break
			}
		default:
			r.clock.Advance(100 * time.Millisecond)
			r.disp.Serve(ctx, d.ID())
		}
		// Old snapshots are dropped by age: move past it, so the first poll
		// of an instance refreshes. Answers alternate between two instances,
		// each with its own snapshots, as behind a load balancer.
		r.clock.Advance(2 * time.Second)
		for u, tk := range tickets {
			store := a.status(t, d.ID(), u, "", false)
			pl := a
			if step%2 == 1 {
				pl = b
			}
			got := pl.status(t, d.ID(), u, tk, true)
			if got.Status != store.Status {
				t.Fatalf("step %d %s: ticketed %s, store %s", step, u, got.Status, store.Status)
			}
			if store.Status != waitline.Waiting {
				delete(tickets, u)
				continue
			}
			if got.Position != store.Position {
				t.Fatalf("step %d %s: ticketed position %d, store %d", step, u, got.Position, store.Position)
			}
			if got.Position > last[u] {
				t.Fatalf("step %d %s: position went up %d -> %d", step, u, last[u], got.Position)
			}
			if got.PollAfter < 500*time.Millisecond || got.PollAfter > time.Minute {
				t.Fatalf("poll_after %s out of bounds", got.PollAfter)
			}
			last[u] = got.Position
			if got.Ticket != "" {
				tickets[u] = got.Ticket
			}
		}
	}
	if next < 50 {
		t.Fatalf("only %d joins in the run", next)
	}
}

// testTicketsIgnored: a forged, a foreign (another buyer's, another drop's)
// and an expired ticket are answered as if none were sent: from the store.
func testTicketsIgnored(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	mk := func() *drop.Drop {
		return r.create(t, drop.Params{Name: "forged", Kind: drop.KindGeneral, Stock: 10,
			Admission: drop.AdmissionQueued, AdmitRate: 10})
	}
	d, other := mk(), mk()
	p := newPoller(r, time.Minute)
	va, _, err := p.sales.JoinLine(ctx, d.ID(), "a")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.sales.JoinLine(ctx, d.ID(), "b"); err != nil {
		t.Fatal(err)
	}
	vo, _, err := p.sales.JoinLine(ctx, other.ID(), "b")
	if err != nil {
		t.Fatal(err)
	}
	// The genuine ticket is answered from the snapshot.
	if v := p.status(t, d.ID(), "a", va.Ticket, true); !p.fast.Load() || v.Position != 1 {
		t.Fatalf("a genuine ticket: %+v fast=%v", v, p.fast.Load())
	}
	forged := []byte(va.Ticket)
	forged[len(forged)/2] ^= 1
	for name, c := range map[string]struct{ user, drop, ticket string }{
		"forged":        {"a", d.ID(), string(forged)},
		"another buyer": {"b", d.ID(), va.Ticket},
		"another drop":  {"b", d.ID(), vo.Ticket},
		"garbage":       {"b", d.ID(), "%%%not-a-ticket"},
	} {
		v := p.status(t, c.drop, c.user, c.ticket, false)
		if p.fast.Load() {
			t.Fatalf("%s ticket was answered from the snapshot", name)
		}
		want := p.status(t, c.drop, c.user, "", false)
		if v.Status != want.Status || v.Position != want.Position {
			t.Fatalf("%s ticket: %+v, the store says %+v", name, v, want)
		}
	}
	r.clock.Advance(2 * time.Minute)
	if p.status(t, d.ID(), "a", va.Ticket, false); p.fast.Load() {
		t.Fatal("an expired ticket was answered from the snapshot")
	}
}

// joinPreQueue fills a pre-queue drop with n buyers before it opens.
func (r *rig) preQueueDrop(t *testing.T, n int, shuffle bool, placeBatch int) (*drop.Drop, []string) {
	t.Helper()
	ctx := context.Background()
	now := r.clock.Now()
	d := r.create(t, drop.Params{Name: "prequeue", Kind: drop.KindGeneral, Stock: 100_000,
		Admission: drop.AdmissionQueued, AdmitRate: 1, QueueOpensAt: now.Add(-time.Minute),
		OpensAt: now.Add(time.Minute), ShuffleAtOpen: shuffle})
	users := make([]string, n)
	for i := range users {
		users[i] = "p" + strconv.Itoa(i)
		v, created, err := r.sales.JoinLine(ctx, d.ID(), users[i])
		if err != nil || !created || v.Status != waitline.PreQueue || v.Ticket == "" || v.OpensAt.IsZero() {
			t.Fatalf("pre-queue join %d: %+v created=%v %v", i, v, created, err)
		}
	}
	r.disp = application.NewDispatcher(r.st, r.cache, application.DispatcherOptions{
		Instance: "invariants-" + uniq(), Tick: 10 * time.Millisecond, PlaceBatch: placeBatch}, nil)
	return d, users
}

// positions reads every buyer's waiting position from the store.
func (r *rig) positions(t *testing.T, d *drop.Drop, users []string) []int64 {
	t.Helper()
	out := make([]int64, len(users))
	for i, u := range users {
		v, err := r.sales.LineStatus(context.Background(), d.ID(), u, "")
		if err != nil || v.Status != waitline.Waiting {
			t.Fatalf("%s after placement: %+v %v", u, v, err)
		}
		out[i] = v.Position
	}
	return out
}

// checkPermutation fails unless ps is a permutation of from..from+len-1.
func checkPermutation(t *testing.T, ps []int64, from int64) {
	t.Helper()
	seen := make([]bool, len(ps))
	for i, p := range ps {
		k := p - from
		if k < 0 || k >= int64(len(ps)) || seen[k] {
			t.Fatalf("position %d of buyer %d is outside %d..%d or taken twice", p, i, from, from+int64(len(ps))-1)
		}
		seen[k] = true
	}
}

// testPreQueuePlaced: buyers who join before opening are placed at opening,
// each exactly once, all ahead of those who join after opening (even those
// who join before the placement ran), who keep arrival order; a buyer who
// left the pre-queue is nowhere.
func testPreQueuePlaced(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d, users := r.preQueueDrop(t, 60, true, 7)
	if err := r.sales.LeaveLine(ctx, d.ID(), users[5]); err != nil {
		t.Fatalf("leave the pre-queue: %v", err)
	}
	users = append(users[:5], users[6:]...)
	r.clock.Advance(2 * time.Minute)
	var later []string
	for i := range 10 {
		u := "l" + strconv.Itoa(i)
		v, _, err := r.sales.JoinLine(ctx, d.ID(), u)
		if err != nil || v.Status != waitline.Waiting || v.Position != int64(len(users)+i+1) {
			t.Fatalf("join after opening: %+v %v, want waiting at %d", v, err, len(users)+i+1)
		}
		later = append(later, u)
	}
	r.disp.Serve(ctx, d.ID())
	pre := r.positions(t, d, users)
	checkPermutation(t, pre, 1)
	for i, p := range r.positions(t, d, later) {
		if p != int64(len(users)+i+1) {
			t.Fatalf("later joiner %d at %d, want %d", i, p, len(users)+i+1)
		}
	}
	if _, err := r.sales.LineStatus(ctx, d.ID(), "p5", ""); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("the buyer who left the pre-queue: %v, want not in line", err)
	}
	inOrder := true
	for i, p := range pre {
		inOrder = inOrder && p == int64(i+1)
	}
	if inOrder {
		t.Fatal("the pre-queue kept arrival order: not shuffled")
	}
	// The whole line is ticketed-exact after placement.
	p := newPoller(r, time.Hour)
	v, _, err := p.sales.JoinLine(ctx, d.ID(), users[0])
	if err != nil || v.Ticket == "" {
		t.Fatalf("rejoin after placement: %+v %v", v, err)
	}
	if got := p.status(t, d.ID(), users[0], v.Ticket, true); got.Position != pre[0] {
		t.Fatalf("ticketed position %d, store %d", got.Position, pre[0])
	}
}

// flakyLine fails Place after ok calls, as a process dying mid-shuffle would.
type flakyLine struct {
	waitline.WaitingLine
	ok atomic.Int32
}

var errCrash = errors.New("crashed mid-shuffle")

func (l *flakyLine) Place(ctx context.Context, dropID string, ps []waitline.Placement) error {
	if l.ok.Add(-1) < 0 {
		return errCrash
	}
	return l.WaitingLine.Place(ctx, dropID, ps)
}

// testPreQueueCrash: the instance placing the pre-queue dies after some
// batches; another takes over and finishes; everyone is placed exactly once.
func testPreQueueCrash(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d, users := r.preQueueDrop(t, 50, true, 7)
	r.clock.Advance(2 * time.Minute)
	crashing := r.st
	fl := &flakyLine{WaitingLine: r.st.Line}
	fl.ok.Store(3)
	crashing.Line = fl
	first := application.NewDispatcher(crashing, r.cache, application.DispatcherOptions{
		Instance: "crashing-" + uniq(), PlaceBatch: 7, LeaseTTL: time.Second}, nil)
	first.Serve(ctx, d.ID())
	if n, err := r.st.Line.PreQueueLength(ctx, d.ID()); err != nil || n != 50-21 {
		t.Fatalf("after the crash %d left unplaced (%v), want %d", n, err, 50-21)
	}
	if snap, err := r.st.Line.Snapshot(ctx, d.ID()); err != nil || snap.Ready {
		t.Fatalf("snapshot ready after a half placement: %+v %v", snap, err)
	}
	// The crashed holder's lease runs out; another instance takes over.
	r.clock.Advance(5 * time.Second)
	deadline := time.Now().Add(2 * time.Minute) // the slack is for a busy machine
	for {
		r.disp.Serve(ctx, d.ID())
		if n, err := r.st.Line.PreQueueLength(ctx, d.ID()); err == nil && n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the second instance never finished the placement")
		}
		r.clock.Advance(time.Second)
		time.Sleep(10 * time.Millisecond)
	}
	checkPermutation(t, r.positions(t, d, users), 1)
	if snap, err := r.st.Line.Snapshot(ctx, d.ID()); err != nil || !snap.Ready {
		t.Fatalf("snapshot not ready after the placement: %+v %v", snap, err)
	}
}

// testPreQueueUniform: over many pre-queues of three buyers, each of the six
// orders comes out about equally often (chi-square, five degrees of freedom;
// 35.9 is the 1e-6 quantile, so a fair shuffle fails once in a million runs).
// The pure order function gets a much larger test in domain/waitline.
func testPreQueueUniform(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	const trials = 600
	counts := map[[3]int64]int{}
	for range trials {
		d, users := r.preQueueDrop(t, 3, true, 1000)
		r.clock.Advance(2 * time.Minute)
		r.disp.Serve(ctx, d.ID())
		ps := r.positions(t, d, users)
		counts[[3]int64(ps)]++
		r.clock.Advance(-2 * time.Minute)
	}
	if len(counts) != 6 {
		t.Fatalf("%d distinct orders in %d shuffles of 3, want 6: %v", len(counts), trials, counts)
	}
	exp := float64(trials) / 6
	chi := 0.0
	for _, c := range counts {
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi > 35.9 {
		t.Fatalf("chi-square %.1f over 6 orders (%v): not uniform", chi, counts)
	}
	t.Logf("chi-square %.2f (5 dof) over %d shuffles: %v", chi, trials, counts)
}

// testMaxActive: 1,000 buyers rush a seated drop with max_active 5; while
// they claim and give back, the active passes are sampled continuously and
// never exceed 5; every seat is sold once.
func testMaxActive(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	const maxActive, buyers, nSeats = 5, 1000, 60
	d := r.create(t, drop.Params{Name: "maxactive", Kind: drop.KindSeated, Seats: seats(nSeats),
		Admission: drop.AdmissionQueued, AdmitRate: 1000, PassTTL: time.Hour, MaxActive: maxActive})
	var joined sync.WaitGroup
	for i := range buyers {
		joined.Add(1)
		go func() {
			defer joined.Done()
			if _, _, err := r.sales.JoinLine(ctx, d.ID(), "b"+strconv.Itoa(i)); err != nil {
				t.Errorf("join: %v", err)
			}
		}()
	}
	joined.Wait()
	stop := make(chan struct{})
	var bg sync.WaitGroup
	var peak atomic.Int64
	// repeat runs step in the background until stop closes.
	repeat := func(step func()) {
		bg.Add(1)
		go func() {
			defer bg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				step()
			}
		}()
	}
	repeat(func() { // the dispatcher, ticking on the fake clock
		r.clock.Advance(10 * time.Millisecond)
		r.disp.Serve(ctx, d.ID())
		time.Sleep(time.Millisecond)
	})
	repeat(func() { // the sampler
		n, err := r.st.Line.ActivePasses(ctx, d.ID(), r.clock.Now())
		if err == nil && n > peak.Load() {
			peak.Store(n)
		}
	})
	var issued atomic.Int64
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := "b" + strconv.Itoa(i)
			// Five passes at a time through a thousand buyers, each claim
			// going to the stores: liveness, judged generously on a busy
			// machine.
			deadline := time.Now().Add(10 * time.Minute)
			for time.Now().Before(deadline) {
				v, err := r.sales.LineStatus(ctx, d.ID(), u, "")
				if err != nil {
					t.Errorf("status %s: %v", u, err)
					return
				}
				switch v.Status {
				case waitline.Waiting:
					// 1,000 pollers at 2ms starved the passes' holders on a
					// loaded machine (on Redis, 500,000 round trips a second
					// asked for); a few tens of admission rounds each wait at
					// most one 25ms poll more.
					time.Sleep(25 * time.Millisecond)
					continue
				case waitline.Admitted:
					if i%7 == 0 { // some give their pass back unused
						if err := r.sales.LeaveLine(ctx, d.ID(), u); err != nil {
							t.Errorf("give back %s: %v", u, err)
						}
						return
					}
					for s := range nSeats {
						res, err := r.sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: u, Seat: seats(nSeats)[(i+s)%nSeats]})
						if err != nil {
							t.Errorf("claim %s: %v", u, err)
							return
						}
						if res.Status == application.StatusIssued {
							issued.Add(1)
							return
						}
						if res.Status == application.StatusSoldOut {
							return
						}
					}
					return
				default:
					return
				}
			}
			t.Errorf("%s never decided", u)
		}()
	}
	wg.Wait()
	close(stop)
	bg.Wait()
	if p := peak.Load(); p > maxActive || p == 0 {
		t.Fatalf("peak active passes %d, want 1..%d", p, maxActive)
	}
	if n := issued.Load(); n != nSeats {
		t.Fatalf("%d seats issued, want all %d", n, nSeats)
	}
	auditLedger(t, r, d, nil)
}

// testGiveBack: with max_active 1 the second buyer waits until the first
// gives the pass back, which frees the place at once; a pass below the
// per-user limit stays active after a claim and ends at the limit.
func testGiveBack(t *testing.T, f Factory) {
	r := newRig(t, f)
	ctx := context.Background()
	d := r.create(t, drop.Params{Name: "giveback", Kind: drop.KindSeated, Seats: seats(10), PerUserLimit: 2,
		Admission: drop.AdmissionQueued, AdmitRate: 100, PassTTL: time.Hour, MaxActive: 1})
	for _, u := range []string{"a", "b", "c"} {
		if _, _, err := r.sales.JoinLine(ctx, d.ID(), u); err != nil {
			t.Fatal(err)
		}
	}
	serve := func() {
		for range 3 {
			r.clock.Advance(100 * time.Millisecond)
			r.disp.Serve(ctx, d.ID())
		}
	}
	status := func(u string) waitline.Status {
		v, err := r.sales.LineStatus(ctx, d.ID(), u, "")
		if err != nil {
			t.Fatalf("status %s: %v", u, err)
		}
		return v.Status
	}
	active := func(want int64) {
		t.Helper()
		if n, err := r.st.Line.ActivePasses(ctx, d.ID(), r.clock.Now()); err != nil || n != want {
			t.Fatalf("active passes %d (%v), want %d", n, err, want)
		}
	}
	serve()
	if status("a") != waitline.Admitted || status("b") != waitline.Waiting {
		t.Fatalf("a %s b %s, want admitted and waiting", status("a"), status("b"))
	}
	active(1)
	if err := r.sales.LeaveLine(ctx, d.ID(), "a"); err != nil {
		t.Fatalf("give back: %v", err)
	}
	active(0)
	if status("a") != waitline.Expired {
		t.Fatalf("a after giving back: %s, want expired", status("a"))
	}
	serve()
	if status("b") != waitline.Admitted || status("c") != waitline.Waiting {
		t.Fatalf("b %s c %s, want admitted and waiting", status("b"), status("c"))
	}
	claim := func(seat string) {
		t.Helper()
		res, err := r.sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "b", Seat: seat})
		if err != nil || res.Status != application.StatusIssued {
			t.Fatalf("claim %s: %+v %v", seat, res, err)
		}
	}
	claim("S00001")
	active(1) // one more seat allowed: the pass still counts
	serve()
	if status("c") != waitline.Waiting {
		t.Fatalf("c admitted while b's pass is active: %s", status("c"))
	}
	claim("S00002")
	active(0) // the limit is reached: the pass ended
	serve()
	if status("c") != waitline.Admitted {
		t.Fatalf("c after b reached the limit: %s, want admitted", status("c"))
	}
}
