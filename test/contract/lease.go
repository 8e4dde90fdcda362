package contract

import (
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/lease"
)

// leaseTTL is the first term tried by the subtests that wait for a lease to
// end: short, so a suite sleeping through it stays quick. A check that needs
// a term still running is judged only if its answer came back within a term
// of sending the request that began it; on a machine too busy for that the
// try says nothing, and the subtest tries again with a term twice as long.
const leaseTTL = time.Second

// longTTL is the term of leases a subtest never waits out: no busy machine
// takes that long between two calls, so their checks need no timing.
const longTTL = time.Minute

// RunLease checks a lease.Lease against the port's contract. newLease is
// called once per subtest with that subtest's t and returns the lease and
// advance, which must let at least d pass as the lease sees time: move a
// fake clock for an adapter built on one, time.Sleep for a store with real
// expiry (the suite then sleeps about 3 s in all on an idle machine).
func RunLease(t *testing.T, newLease func(t *testing.T) (l lease.Lease, advance func(d time.Duration))) {
	for _, c := range []struct {
		name string
		test func(*testing.T, lease.Lease, func(time.Duration))
	}{
		{"FreeLeaseHasNoHolder", testLeaseFree},
		{"AcquireExcludesOthers", testLeaseAcquire},
		{"Expiry", timed(testLeaseExpiry)},
		{"RenewExtends", timed(testLeaseRenew)},
		{"Release", testLeaseRelease},
		{"NamesAreIndependent", testLeaseNames},
		{"ConcurrentAcquireHasOneWinner", testLeaseConcurrent},
	} {
		t.Run(c.name, func(t *testing.T) {
			l, advance := newLease(t)
			c.test(t, l, advance)
		})
	}
}

// termRun is one try of a subtest that depends on a lease term.
type termRun struct {
	t       *testing.T
	l       lease.Lease
	advance func(time.Duration)
	ttl     time.Duration
	late    bool
}

// timed runs test with a leaseTTL term and, while a try was too slow to
// judge, again with a term twice as long, up to eight times as long.
func timed(test func(*termRun)) func(*testing.T, lease.Lease, func(time.Duration)) {
	return func(t *testing.T, l lease.Lease, advance func(time.Duration)) {
		for ttl := leaseTTL; ; ttl *= 2 {
			r := &termRun{t: t, l: l, advance: advance, ttl: ttl}
			test(r)
			if !r.late || t.Failed() {
				return
			}
			if ttl >= 8*leaseTTL {
				t.Fatalf("no try could be judged: even with a %s term the machine took longer than a term between two calls", ttl)
			}
			t.Logf("a try with a %s term took too long to judge; trying a %s term", ttl, 2*ttl)
		}
	}
}

// acquire asks for name as holder with the try's term and returns the
// answer and when the request was sent: a term it began started no earlier.
func (r *termRun) acquire(name, holder string) (bool, time.Time) {
	r.t.Helper()
	sent := time.Now()
	got, err := r.l.Acquire(r.t.Context(), name, holder, r.ttl)
	if err != nil {
		r.t.Fatalf("Acquire(%s, %s): %v", name, holder, err)
	}
	return got, sent
}

func (r *termRun) holder(name string) string {
	r.t.Helper()
	got, err := r.l.Holder(r.t.Context(), name)
	if err != nil {
		r.t.Fatalf("Holder(%s): %v", name, err)
	}
	return got
}

// tooLate reports whether a term begun by a request sent at began may have
// ended before the answers gathered since came back; the try is then void.
func (r *termRun) tooLate(began time.Time) bool {
	if time.Since(began) >= r.ttl {
		r.late = true
	}
	return r.late
}

func acquire(t *testing.T, l lease.Lease, name, holder string, want bool) {
	t.Helper()
	got, err := l.Acquire(t.Context(), name, holder, longTTL)
	if err != nil {
		t.Fatalf("Acquire(%s, %s): %v", name, holder, err)
	}
	if got != want {
		t.Fatalf("Acquire(%s, %s) = %v, want %v", name, holder, got, want)
	}
}

func holderIs(t *testing.T, l lease.Lease, name, want string) {
	t.Helper()
	got, err := l.Holder(t.Context(), name)
	if err != nil {
		t.Fatalf("Holder(%s): %v", name, err)
	}
	if got != want {
		t.Fatalf("Holder(%s) = %q, want %q", name, got, want)
	}
}

func release(t *testing.T, l lease.Lease, name, holder string) {
	t.Helper()
	if err := l.Release(t.Context(), name, holder); err != nil {
		t.Fatalf("Release(%s, %s): %v", name, holder, err)
	}
}

func testLeaseFree(t *testing.T, l lease.Lease, _ func(time.Duration)) {
	holderIs(t, l, newID("lease"), "")
}

func testLeaseAcquire(t *testing.T, l lease.Lease, _ func(time.Duration)) {
	name, a, b := newID("lease"), newID("proc"), newID("proc")
	acquire(t, l, name, a, true)
	holderIs(t, l, name, a)
	acquire(t, l, name, b, false)
	holderIs(t, l, name, a)
	acquire(t, l, name, a, true)
	holderIs(t, l, name, a)
}

func testLeaseExpiry(r *termRun) {
	name, a, b := newID("lease"), newID("proc"), newID("proc")
	if ok, _ := r.acquire(name, a); !ok {
		r.t.Fatalf("Acquire(%s, %s) of a free lease = false", name, a)
	}
	r.advance(r.ttl + r.ttl/4)
	if h := r.holder(name); h != "" {
		r.t.Fatalf("Holder(%s) = %q after the term ended, want none", name, h)
	}
	ok, began := r.acquire(name, b)
	if !ok {
		r.t.Fatalf("Acquire(%s, %s) of an expired lease = false", name, b)
	}
	h := r.holder(name)
	stolen, _ := r.acquire(name, a)
	if r.tooLate(began) {
		return
	}
	if h != b || stolen {
		r.t.Fatalf("inside %s's term: Holder = %q (want %s), Acquire by %s = %v (want false)", b, h, b, a, stolen)
	}
}

func testLeaseRenew(r *termRun) {
	name, a, b := newID("lease"), newID("proc"), newID("proc")
	ok, first := r.acquire(name, a)
	if !ok {
		r.t.Fatalf("Acquire(%s, %s) of a free lease = false", name, a)
	}
	r.advance(r.ttl * 6 / 10)
	renewed, again := r.acquire(name, a)
	if r.tooLate(first) {
		return
	}
	if !renewed {
		r.t.Fatalf("renewal by the holder inside its term = false")
	}
	r.advance(r.ttl * 6 / 10)
	// Past the first term, inside the renewed one.
	h := r.holder(name)
	stolen, _ := r.acquire(name, b)
	if r.tooLate(again) {
		return
	}
	if h != a || stolen {
		r.t.Fatalf("inside the renewed term: Holder = %q (want %s), Acquire by %s = %v (want false)", h, a, b, stolen)
	}
	r.advance(r.ttl * 6 / 10)
	if h := r.holder(name); h != "" {
		r.t.Fatalf("Holder(%s) = %q after the renewed term ended, want none", name, h)
	}
}

func testLeaseRelease(t *testing.T, l lease.Lease, _ func(time.Duration)) {
	name, a, b := newID("lease"), newID("proc"), newID("proc")
	acquire(t, l, name, a, true)
	release(t, l, name, b)
	holderIs(t, l, name, a)
	release(t, l, name, a)
	holderIs(t, l, name, "")
	acquire(t, l, name, b, true)
	holderIs(t, l, name, b)
	release(t, l, newID("lease"), b)
}

func testLeaseNames(t *testing.T, l lease.Lease, _ func(time.Duration)) {
	n1, n2, a, b := newID("lease"), newID("lease"), newID("proc"), newID("proc")
	acquire(t, l, n1, a, true)
	acquire(t, l, n2, b, true)
	holderIs(t, l, n1, a)
	holderIs(t, l, n2, b)
	release(t, l, n1, a)
	holderIs(t, l, n2, b)
}

func testLeaseConcurrent(t *testing.T, l lease.Lease, _ func(time.Duration)) {
	const contenders = 32
	name := newID("lease")
	procs := make([]string, contenders)
	for i := range procs {
		procs[i] = newID("proc")
	}
	won := make([]bool, contenders)
	inParallel(contenders, func(i int) {
		ok, err := l.Acquire(t.Context(), name, procs[i], longTTL)
		if err != nil {
			t.Errorf("Acquire: %v", err)
		}
		won[i] = ok
	})
	winner := ""
	for i, ok := range won {
		if ok {
			if winner != "" {
				t.Fatalf("both %s and %s acquired %s", winner, procs[i], name)
			}
			winner = procs[i]
		}
	}
	if winner == "" {
		t.Fatalf("no contender acquired a free lease")
	}
	holderIs(t, l, name, winner)
}
