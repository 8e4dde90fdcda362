package contract

import (
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/lease"
)

// leaseTTL is long enough that a real store on a loaded machine answers
// well within it, short enough that a suite sleeping through it stays quick.
const leaseTTL = time.Second

// RunLease checks a lease.Lease against the port's contract. newLease is
// called once per subtest with that subtest's t and returns the lease and
// advance, which must let at least d pass as the lease sees time: move a
// fake clock for an adapter built on one, time.Sleep for a store with real
// expiry (the suite then sleeps about 4 s in all).
func RunLease(t *testing.T, newLease func(t *testing.T) (l lease.Lease, advance func(d time.Duration))) {
	for _, c := range []struct {
		name string
		test func(*testing.T, lease.Lease, func(time.Duration))
	}{
		{"FreeLeaseHasNoHolder", testLeaseFree},
		{"AcquireExcludesOthers", testLeaseAcquire},
		{"Expiry", testLeaseExpiry},
		{"RenewExtends", testLeaseRenew},
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

func acquire(t *testing.T, l lease.Lease, name, holder string, want bool) {
	t.Helper()
	got, err := l.Acquire(t.Context(), name, holder, leaseTTL)
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

func testLeaseExpiry(t *testing.T, l lease.Lease, advance func(time.Duration)) {
	name, a, b := newID("lease"), newID("proc"), newID("proc")
	acquire(t, l, name, a, true)
	advance(leaseTTL + leaseTTL/4)
	holderIs(t, l, name, "")
	acquire(t, l, name, b, true)
	holderIs(t, l, name, b)
	acquire(t, l, name, a, false)
}

func testLeaseRenew(t *testing.T, l lease.Lease, advance func(time.Duration)) {
	name, a, b := newID("lease"), newID("proc"), newID("proc")
	acquire(t, l, name, a, true)
	advance(leaseTTL * 6 / 10)
	acquire(t, l, name, a, true)
	advance(leaseTTL * 6 / 10)
	// Past the first term, inside the renewed one.
	holderIs(t, l, name, a)
	acquire(t, l, name, b, false)
	advance(leaseTTL * 6 / 10)
	holderIs(t, l, name, "")
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
		ok, err := l.Acquire(t.Context(), name, procs[i], leaseTTL)
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
