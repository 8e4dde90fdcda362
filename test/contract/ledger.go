package contract

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/issuance"
)

// RunLedger checks an issuance.Ledger against the port's contract.
// newLedger is called once per subtest with that subtest's t; it may return
// a fresh adapter or the same one every time (the subtests use fresh drops
// and buyers, and never need the store empty).
func RunLedger(t *testing.T, newLedger func(t *testing.T) issuance.Ledger) {
	t.Run("RecordAndGet", func(t *testing.T) { testLedgerRecordGet(t, newLedger(t)) })
	t.Run("RecordIsIdempotentByID", func(t *testing.T) { testLedgerIdempotent(t, newLedger(t)) })
	t.Run("DuplicateUnit", func(t *testing.T) { testLedgerDuplicateUnit(t, newLedger(t)) })
	t.Run("DuplicateSeat", func(t *testing.T) { testLedgerDuplicateSeat(t, newLedger(t)) })
	t.Run("UnitsAreScopedToDropAndUser", func(t *testing.T) { testLedgerScopes(t, newLedger(t)) })
	t.Run("ByUserOldestFirst", func(t *testing.T) { testLedgerByUser(t, newLedger(t)) })
	t.Run("ByDropOldestFirst", func(t *testing.T) { testLedgerByDrop(t, newLedger(t)) })
	t.Run("ConcurrentRecords", func(t *testing.T) { testLedgerConcurrent(t, newLedger(t)) })
}

// ledgerIss returns an issuance of dropID for user, unit n, issued sec
// seconds after at.
func ledgerIss(dropID, user, seat string, n int, at time.Time, sec int) issuance.Issuance {
	return issuance.Issuance{
		ID: newID("iss"), DropID: dropID, UserID: user, Seat: seat, N: n,
		Code: ids.NewCode(), IssuedAt: at.Add(time.Duration(sec) * time.Second),
	}
}

func record(t *testing.T, l issuance.Ledger, iss issuance.Issuance) {
	t.Helper()
	if err := l.Record(t.Context(), iss); err != nil {
		t.Fatalf("Record(%s): %v", iss.ID, err)
	}
}

func countIs(t *testing.T, l issuance.Ledger, dropID string, want int64) {
	t.Helper()
	got, err := l.CountByDrop(t.Context(), dropID)
	if err != nil {
		t.Fatalf("CountByDrop: %v", err)
	}
	if got != want {
		t.Fatalf("CountByDrop = %d, want %d", got, want)
	}
}

func listIs(t *testing.T, what string, got []issuance.Issuance, err error, want ...issuance.Issuance) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if len(got) != len(want) {
		t.Fatalf("%s = %v, want %v", what, issuanceIDs(got), issuanceIDs(want))
	}
	for i := range got {
		sameIssuance(t, got[i], want[i])
	}
}

func testLedgerRecordGet(t *testing.T, l issuance.Ledger) {
	iss := ledgerIss(newID("drop"), newID("user"), "A1", 1, baseTime(), 0)
	record(t, l, iss)
	got, err := l.Get(t.Context(), iss.ID)
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	sameIssuance(t, got, iss)
	if _, err := l.Get(t.Context(), newID("iss")); !errors.Is(err, issuance.ErrNotFound) {
		t.Fatalf("Get of an unknown id: err = %v, want ErrNotFound", err)
	}
}

func testLedgerIdempotent(t *testing.T, l issuance.Ledger) {
	iss := ledgerIss(newID("drop"), newID("user"), "", 1, baseTime(), 0)
	record(t, l, iss)
	record(t, l, iss)
	inParallel(20, func(int) {
		if err := l.Record(t.Context(), iss); err != nil {
			t.Errorf("Record replayed: %v", err)
		}
	})
	countIs(t, l, iss.DropID, 1)
	got, err := l.ByDrop(t.Context(), iss.DropID)
	listIs(t, "ByDrop", got, err, iss)
}

func testLedgerDuplicateUnit(t *testing.T, l issuance.Ledger) {
	first := ledgerIss(newID("drop"), newID("user"), "", 1, baseTime(), 0)
	record(t, l, first)
	other := ledgerIss(first.DropID, first.UserID, "", 1, baseTime(), 1)
	if err := l.Record(t.Context(), other); !errors.Is(err, issuance.ErrDuplicate) {
		t.Fatalf("Record of a second unit 1: err = %v, want ErrDuplicate", err)
	}
	if _, err := l.Get(t.Context(), other.ID); !errors.Is(err, issuance.ErrNotFound) {
		t.Fatalf("Get of the refused issuance: err = %v, want ErrNotFound", err)
	}
	record(t, l, ledgerIss(first.DropID, first.UserID, "", 2, baseTime(), 2))
	countIs(t, l, first.DropID, 2)
}

func testLedgerDuplicateSeat(t *testing.T, l issuance.Ledger) {
	first := ledgerIss(newID("drop"), newID("user"), "B7", 1, baseTime(), 0)
	record(t, l, first)
	rival := ledgerIss(first.DropID, newID("user"), "B7", 1, baseTime(), 1)
	if err := l.Record(t.Context(), rival); !errors.Is(err, issuance.ErrDuplicate) {
		t.Fatalf("Record of a seat already issued: err = %v, want ErrDuplicate", err)
	}
	record(t, l, ledgerIss(first.DropID, rival.UserID, "B8", 1, baseTime(), 2))
	// Seats are per drop.
	record(t, l, ledgerIss(newID("drop"), rival.UserID, "B7", 1, baseTime(), 3))
	countIs(t, l, first.DropID, 2)
}

func testLedgerScopes(t *testing.T, l issuance.Ledger) {
	d1, d2 := newID("drop"), newID("drop")
	a, b := newID("user"), newID("user")
	at := baseTime()
	// General drops have no seat: empty seats never collide.
	record(t, l, ledgerIss(d1, a, "", 1, at, 0))
	record(t, l, ledgerIss(d1, b, "", 1, at, 1))
	record(t, l, ledgerIss(d2, a, "", 1, at, 2))
	countIs(t, l, d1, 2)
	countIs(t, l, d2, 1)
}

func testLedgerByUser(t *testing.T, l issuance.Ledger) {
	d1, d2 := newID("drop"), newID("drop")
	u := newID("user")
	at := baseTime()
	want := []issuance.Issuance{
		ledgerIss(d1, u, "", 1, at, 0),
		ledgerIss(d2, u, "C3", 1, at, 1),
		ledgerIss(d1, u, "", 2, at, 2),
	}
	record(t, l, ledgerIss(d1, newID("user"), "", 1, at, 1))
	for _, iss := range want {
		record(t, l, iss)
	}
	got, err := l.ByUser(t.Context(), u)
	listIs(t, "ByUser", got, err, want...)
	got, err = l.ByUser(t.Context(), newID("user"))
	listIs(t, "ByUser of a stranger", got, err)
}

func testLedgerByDrop(t *testing.T, l issuance.Ledger) {
	d := newID("drop")
	at := baseTime()
	var want []issuance.Issuance
	for i := range 5 {
		iss := ledgerIss(d, newID("user"), "", 1, at, i)
		want = append(want, iss)
		record(t, l, iss)
	}
	record(t, l, ledgerIss(newID("drop"), want[0].UserID, "", 1, at, 9))
	got, err := l.ByDrop(t.Context(), d)
	listIs(t, "ByDrop", got, err, want...)
	countIs(t, l, d, 5)
	unknown := newID("drop")
	got, err = l.ByDrop(t.Context(), unknown)
	listIs(t, "ByDrop of an unknown drop", got, err)
	countIs(t, l, unknown, 0)
}

func testLedgerConcurrent(t *testing.T, l issuance.Ledger) {
	const buyers, units, rivals = 40, 3, 2
	d := newID("drop")
	us := users(buyers)
	at := baseTime()
	var ok, dup atomic.Int64
	inParallel(buyers*units*rivals, func(i int) {
		u, n := us[i%buyers], (i/buyers)%units+1
		err := l.Record(t.Context(), ledgerIss(d, u, "", n, at, i))
		switch {
		case err == nil:
			ok.Add(1)
		case errors.Is(err, issuance.ErrDuplicate):
			dup.Add(1)
		default:
			t.Errorf("Record: %v", err)
		}
	})
	if ok.Load() != buyers*units || dup.Load() != buyers*units*(rivals-1) {
		t.Fatalf("%d recorded and %d refused, want %d and %d", ok.Load(), dup.Load(), buyers*units, buyers*units*(rivals-1))
	}
	countIs(t, l, d, buyers*units)
	for _, u := range us {
		got, err := l.ByUser(t.Context(), u)
		if err != nil {
			t.Fatalf("ByUser: %v", err)
		}
		if len(got) != units {
			t.Fatalf("user %s has %d issuances, want %d", u, len(got), units)
		}
	}
}
