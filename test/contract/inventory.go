package contract

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// RunInventory checks an inventory.Inventory against the port's contract.
// newInv is called once per subtest with that subtest's t; it may return a
// fresh adapter or the same one every time (the subtests use fresh drops).
func RunInventory(t *testing.T, newInv func(t *testing.T) inventory.Inventory) {
	t.Run("NotLoaded", func(t *testing.T) { testInvNotLoaded(t, newInv(t)) })
	t.Run("LoadTwiceChangesNothing", func(t *testing.T) { testInvLoadTwice(t, newInv(t)) })
	t.Run("ClaimGeneral", func(t *testing.T) { testInvClaimGeneral(t, newInv(t)) })
	t.Run("PerUserLimit", func(t *testing.T) { testInvPerUserLimit(t, newInv(t)) })
	t.Run("LimitBeforeSoldOut", func(t *testing.T) { testInvLimitBeforeSoldOut(t, newInv(t)) })
	t.Run("SoldOut", func(t *testing.T) { testInvSoldOut(t, newInv(t)) })
	t.Run("IdempotencyKey", func(t *testing.T) { testInvKey(t, newInv(t)) })
	t.Run("KeyRetryAtLimitAndSoldOutIsDuplicate", func(t *testing.T) { testInvKeyAtLimit(t, newInv(t)) })
	t.Run("KeyIsScopedToDrop", func(t *testing.T) { testInvKeyPerDrop(t, newInv(t)) })
	t.Run("EmptyKeyIsANormalClaim", func(t *testing.T) { testInvEmptyKey(t, newInv(t)) })
	t.Run("ReplayedIssuanceIsDuplicate", func(t *testing.T) { testInvReplay(t, newInv(t)) })
	t.Run("Seats", func(t *testing.T) { testInvSeats(t, newInv(t)) })
	t.Run("LimitBeforeSeatTaken", func(t *testing.T) { testInvLimitBeforeSeatTaken(t, newInv(t)) })
	t.Run("SeatsSoldOut", func(t *testing.T) { testInvSeatsSoldOut(t, newInv(t)) })
	t.Run("Release", func(t *testing.T) { testInvRelease(t, newInv(t)) })
	t.Run("ReleaseSeat", func(t *testing.T) { testInvReleaseSeat(t, newInv(t)) })
	t.Run("ReleaseNotHeld", func(t *testing.T) { testInvReleaseNotHeld(t, newInv(t)) })
	t.Run("ReleaseFreesExactlyThatUnit", func(t *testing.T) { testInvReleaseOne(t, newInv(t)) })
	t.Run("RestoreSeatedFromNothing", func(t *testing.T) { testInvRestoreSeated(t, newInv(t)) })
	t.Run("RestoreGeneralFromNothing", func(t *testing.T) { testInvRestoreGeneral(t, newInv(t)) })
	t.Run("RestoreKeepsRecordsBeyondHeld", func(t *testing.T) { testInvRestoreKeeps(t, newInv(t)) })
	t.Run("ConcurrentClaimsNeverOversell", func(t *testing.T) { testInvConcurrentStock(t, newInv(t)) })
	t.Run("ConcurrentSeatClaims", func(t *testing.T) { testInvConcurrentSeats(t, newInv(t)) })
	t.Run("ConcurrentPerUserLimit", func(t *testing.T) { testInvConcurrentLimit(t, newInv(t)) })
	t.Run("ConcurrentKeyRetries", func(t *testing.T) { testInvConcurrentKey(t, newInv(t)) })
	t.Run("ConcurrentClaimAndRelease", func(t *testing.T) { testInvConcurrentRelease(t, newInv(t)) })
}

// claimer claims units of one drop with issuances timed one second apart,
// so "oldest first" has one right answer in any store.
type claimer struct {
	t   *testing.T
	inv inventory.Inventory
	d   *drop.Drop
	at  atomic.Int64
}

func newClaimer(t *testing.T, inv inventory.Inventory, d *drop.Drop) *claimer {
	t.Helper()
	if err := inv.Load(t.Context(), d); err != nil {
		t.Fatalf("Load: %v", err)
	}
	c := &claimer{t: t, inv: inv, d: d}
	c.at.Store(baseTime().Unix())
	return c
}

func (c *claimer) candidate(user, seat string) issuance.Issuance {
	return issuanceFor(c.d, user, seat, time.Unix(c.at.Add(1), 0).UTC())
}

func (c *claimer) claim(user, seat, key string) (inventory.Result, issuance.Issuance) {
	c.t.Helper()
	cand := c.candidate(user, seat)
	res, err := c.inv.Claim(c.t.Context(), inventory.Request{Issuance: cand, Key: key, Limit: c.d.PerUserLimit()})
	if err != nil {
		c.t.Fatalf("Claim(%s, seat %q, key %q): %v", user, seat, key, err)
	}
	return res, cand
}

// mustClaim claims and fails t unless the unit was Claimed with unit number n.
func (c *claimer) mustClaim(user, seat, key string, n int) issuance.Issuance {
	c.t.Helper()
	res, cand := c.claim(user, seat, key)
	if res.Outcome != inventory.Claimed {
		c.t.Fatalf("Claim(%s, seat %q, key %q) = %v, want claimed", user, seat, key, res.Outcome)
	}
	cand.N = n
	sameIssuance(c.t, res.Issuance, cand)
	return res.Issuance
}

func (c *claimer) expect(user, seat, key string, want inventory.Outcome) inventory.Result {
	c.t.Helper()
	res, _ := c.claim(user, seat, key)
	if res.Outcome != want {
		c.t.Fatalf("Claim(%s, seat %q, key %q) = %v, want %v", user, seat, key, res.Outcome, want)
	}
	return res
}

func (c *claimer) expectDuplicateOf(user, seat, key string, earlier issuance.Issuance) {
	c.t.Helper()
	res := c.expect(user, seat, key, inventory.Duplicate)
	sameIssuance(c.t, res.Issuance, earlier)
}

func (c *claimer) remaining(want int64) {
	c.t.Helper()
	got, err := c.inv.Remaining(c.t.Context(), c.d.ID())
	if err != nil {
		c.t.Fatalf("Remaining: %v", err)
	}
	if got != want {
		c.t.Fatalf("Remaining = %d, want %d", got, want)
	}
}

func (c *claimer) holdings(user string, want ...issuance.Issuance) {
	c.t.Helper()
	got, err := c.inv.Holdings(c.t.Context(), c.d.ID(), user)
	if err != nil {
		c.t.Fatalf("Holdings: %v", err)
	}
	if len(got) != len(want) {
		c.t.Fatalf("Holdings(%s) = %v, want %v", user, issuanceIDs(got), issuanceIDs(want))
	}
	for i := range got {
		sameIssuance(c.t, got[i], want[i])
	}
}

func (c *claimer) taken(want ...string) {
	c.t.Helper()
	got, err := c.inv.Taken(c.t.Context(), c.d.ID())
	if err != nil {
		c.t.Fatalf("Taken: %v", err)
	}
	n := 0
	for seat, held := range got {
		if held {
			n++
			if !contains(want, seat) {
				c.t.Fatalf("Taken = %v, want exactly %v", got, want)
			}
		}
	}
	if n != len(want) {
		c.t.Fatalf("Taken = %v, want exactly %v", got, want)
	}
}

func (c *claimer) snapshot() map[string]issuance.Issuance {
	c.t.Helper()
	got, err := c.inv.Snapshot(c.t.Context(), c.d.ID())
	if err != nil {
		c.t.Fatalf("Snapshot: %v", err)
	}
	m := make(map[string]issuance.Issuance, len(got))
	for _, iss := range got {
		if _, dup := m[iss.ID]; dup {
			c.t.Fatalf("Snapshot lists %s twice", iss.ID)
		}
		m[iss.ID] = iss
	}
	return m
}

// snapshotIs fails t unless Snapshot holds exactly want.
func (c *claimer) snapshotIs(want ...issuance.Issuance) {
	c.t.Helper()
	got := c.snapshot()
	if len(got) != len(want) {
		c.t.Fatalf("Snapshot has %d records, want %d", len(got), len(want))
	}
	for _, w := range want {
		g, ok := got[w.ID]
		if !ok {
			c.t.Fatalf("Snapshot lacks %s", w.ID)
		}
		sameIssuance(c.t, g, w)
	}
}

func (c *claimer) release(iss issuance.Issuance, key string) {
	c.t.Helper()
	if err := c.inv.Release(c.t.Context(), iss, key); err != nil {
		c.t.Fatalf("Release(%s): %v", iss.ID, err)
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func testInvNotLoaded(t *testing.T, inv inventory.Inventory) {
	d := generalDrop(t, 5, 1)
	_, err := inv.Claim(t.Context(), inventory.Request{Issuance: issuanceFor(d, newID("user"), "", baseTime()), Limit: 1})
	if !errors.Is(err, inventory.ErrNotLoaded) {
		t.Errorf("Claim before Load: err = %v, want ErrNotLoaded", err)
	}
	if _, err := inv.Remaining(t.Context(), d.ID()); !errors.Is(err, inventory.ErrNotLoaded) {
		t.Errorf("Remaining before Load: err = %v, want ErrNotLoaded", err)
	}
}

func testInvLoadTwice(t *testing.T, inv inventory.Inventory) {
	d := generalDrop(t, 5, 1)
	c := newClaimer(t, inv, d)
	c.remaining(5)
	c.mustClaim(newID("user"), "", "", 1)
	if err := inv.Load(t.Context(), d); err != nil {
		t.Fatalf("second Load: %v", err)
	}
	c.remaining(4)
}

func testInvClaimGeneral(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 3, 1))
	u := newID("user")
	iss := c.mustClaim(u, "", newID("key"), 1)
	c.remaining(2)
	c.holdings(u, iss)
	c.holdings(newID("user"))
	c.taken()
	c.snapshotIs(iss)
}

func testInvPerUserLimit(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 10, 2))
	u := newID("user")
	first := c.mustClaim(u, "", newID("key"), 1)
	second := c.mustClaim(u, "", newID("key"), 2)
	c.expect(u, "", newID("key"), inventory.LimitReached)
	c.expect(u, "", "", inventory.LimitReached)
	c.holdings(u, first, second)
	c.remaining(8)
	c.mustClaim(newID("user"), "", "", 1)
}

func testInvLimitBeforeSoldOut(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 1, 1))
	holder := newID("user")
	c.mustClaim(holder, "", "", 1)
	c.expect(holder, "", "", inventory.LimitReached)
	c.expect(holder, "", newID("key"), inventory.LimitReached)
	c.expect(newID("user"), "", "", inventory.SoldOut)
}

func testInvSoldOut(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 2, 1))
	a := c.mustClaim(newID("user"), "", "", 1)
	b := c.mustClaim(newID("user"), "", newID("key"), 1)
	c.expect(newID("user"), "", "", inventory.SoldOut)
	c.expect(newID("user"), "", newID("key"), inventory.SoldOut)
	c.remaining(0)
	c.snapshotIs(a, b)
}

func testInvKey(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 10, 3))
	u, k := newID("user"), newID("key")
	first := c.mustClaim(u, "", k, 1)
	c.expectDuplicateOf(u, "", k, first)
	c.expectDuplicateOf(u, "", k, first)
	c.remaining(9)
	c.holdings(u, first)
	second := c.mustClaim(u, "", newID("key"), 2)
	c.expectDuplicateOf(u, "", k, first)
	c.holdings(u, first, second)
	// Keys are scoped to the buyer: another buyer's equal key is a new claim.
	c.mustClaim(newID("user"), "", k, 1)
	c.remaining(7)
}

func testInvKeyAtLimit(t *testing.T, inv inventory.Inventory) {
	// A retry must get its issuance back even though the buyer is now at the
	// limit and the drop is sold out: the first answer may have been lost.
	c := newClaimer(t, inv, generalDrop(t, 1, 1))
	u, k := newID("user"), newID("key")
	first := c.mustClaim(u, "", k, 1)
	c.expectDuplicateOf(u, "", k, first)
	c.remaining(0)
}

func testInvKeyPerDrop(t *testing.T, inv inventory.Inventory) {
	c1 := newClaimer(t, inv, generalDrop(t, 5, 1))
	c2 := newClaimer(t, inv, generalDrop(t, 5, 1))
	u, k := newID("user"), newID("key")
	c1.mustClaim(u, "", k, 1)
	c2.mustClaim(u, "", k, 1)
	c1.remaining(4)
	c2.remaining(4)
}

func testInvEmptyKey(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 10, 2))
	u := newID("user")
	first := c.mustClaim(u, "", "", 1)
	second := c.mustClaim(u, "", "", 2)
	c.expect(u, "", "", inventory.LimitReached)
	c.holdings(u, first, second)
	c.remaining(8)
}

func testInvReplay(t *testing.T, inv inventory.Inventory) {
	// Replaying the very same candidate (an admission replayed after a crash)
	// must not take a second unit: the id would then name two units.
	c := newClaimer(t, inv, generalDrop(t, 10, 3))
	u := newID("user")
	cand := c.candidate(u, "")
	req := inventory.Request{Issuance: cand, Limit: 3}
	first, err := inv.Claim(t.Context(), req)
	if err != nil || first.Outcome != inventory.Claimed {
		t.Fatalf("Claim = %v, %v; want claimed", first.Outcome, err)
	}
	again, err := inv.Claim(t.Context(), req)
	if err != nil || again.Outcome != inventory.Duplicate {
		t.Fatalf("Claim replayed = %v, %v; want duplicate", again.Outcome, err)
	}
	sameIssuance(t, again.Issuance, first.Issuance)
	c.remaining(9)
	c.holdings(u, first.Issuance)
}

func testInvSeats(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, seatedDrop(t, 4, 2))
	a, b := newID("user"), newID("user")
	s1 := c.mustClaim(a, "S1", "", 1)
	c.taken("S1")
	c.remaining(3)
	c.expect(b, "S1", "", inventory.SeatTaken)
	c.expect(b, "S1", newID("key"), inventory.SeatTaken)
	// Asking again for the seat you hold is a retry, with or without a key.
	c.expectDuplicateOf(a, "S1", "", s1)
	c.expectDuplicateOf(a, "S1", newID("key"), s1)
	s2 := c.mustClaim(a, "S2", "", 2)
	c.expectDuplicateOf(a, "S1", "", s1)
	c.expect(a, "S3", "", inventory.LimitReached)
	s3 := c.mustClaim(b, "S3", "", 1)
	c.taken("S1", "S2", "S3")
	c.remaining(1)
	c.holdings(a, s1, s2)
	c.holdings(b, s3)
	c.snapshotIs(s1, s2, s3)
}

func testInvLimitBeforeSeatTaken(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, seatedDrop(t, 3, 1))
	a, b := newID("user"), newID("user")
	c.mustClaim(a, "S1", "", 1)
	c.mustClaim(b, "S2", "", 1)
	c.expect(a, "S2", "", inventory.LimitReached)
	c.expect(a, "S3", "", inventory.LimitReached)
}

func testInvSeatsSoldOut(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, seatedDrop(t, 2, 1))
	c.mustClaim(newID("user"), "S1", "", 1)
	c.mustClaim(newID("user"), "S2", "", 1)
	c.remaining(0)
	res, _ := c.claim(newID("user"), "S1", "")
	if res.Outcome != inventory.SoldOut && res.Outcome != inventory.SeatTaken {
		t.Fatalf("Claim of a held seat with none left = %v, want sold_out or seat_taken", res.Outcome)
	}
}

func testInvRelease(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 1, 1))
	u, k := newID("user"), newID("key")
	iss := c.mustClaim(u, "", k, 1)
	c.release(iss, k)
	c.remaining(1)
	c.holdings(u)
	c.snapshotIs()
	// The key, the buyer's count and the unit are all free again.
	again := c.mustClaim(u, "", k, 1)
	if again.ID == iss.ID {
		t.Fatalf("claim after release returned the released issuance")
	}
	c.remaining(0)
	if err := inv.Release(t.Context(), iss, k); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("Release of a released issuance: err = %v, want ErrNotHeld", err)
	}
	c.remaining(0)
	c.holdings(u, again)
}

func testInvReleaseSeat(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, seatedDrop(t, 2, 1))
	a, b := newID("user"), newID("user")
	iss := c.mustClaim(a, "S1", "", 1)
	c.expect(b, "S1", "", inventory.SeatTaken)
	c.release(iss, "")
	c.taken()
	c.remaining(2)
	won := c.mustClaim(b, "S1", "", 1)
	c.taken("S1")
	c.holdings(b, won)
	c.holdings(a)
}

func testInvReleaseNotHeld(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 2, 1))
	held := c.mustClaim(newID("user"), "", "", 1)
	never := c.candidate(newID("user"), "")
	never.N = 1
	if err := inv.Release(t.Context(), never, ""); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("Release of an issuance never claimed: err = %v, want ErrNotHeld", err)
	}
	c.remaining(1)
	c.snapshotIs(held)
}

func testInvReleaseOne(t *testing.T, inv inventory.Inventory) {
	c := newClaimer(t, inv, generalDrop(t, 10, 3))
	u := newID("user")
	k1, k2, k3 := newID("key"), newID("key"), newID("key")
	n1 := c.mustClaim(u, "", k1, 1)
	n2 := c.mustClaim(u, "", k2, 2)
	n3 := c.mustClaim(u, "", k3, 3)
	c.release(n2, k2)
	c.holdings(u, n1, n3)
	c.remaining(8)
	c.expectDuplicateOf(u, "", k1, n1)
	c.expectDuplicateOf(u, "", k3, n3)
	// N stays within 1..limit and unique per buyer, so the only free number
	// is the released one.
	again := c.mustClaim(u, "", k2, 2)
	c.expect(u, "", "", inventory.LimitReached)
	c.holdings(u, n1, n3, again)
	c.remaining(7)
}

// restoreAll calls Restore and fails t unless it added want records.
func restoreAll(t *testing.T, inv inventory.Inventory, d *drop.Drop, held []issuance.Issuance, want int) {
	t.Helper()
	n, err := inv.Restore(t.Context(), d, held)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if n != want {
		t.Fatalf("Restore added %d records, want %d", n, want)
	}
}

func testInvRestoreSeated(t *testing.T, inv inventory.Inventory) {
	d := seatedDrop(t, 5, 2)
	a, b, other := newID("user"), newID("user"), newID("user")
	at := baseTime()
	mk := func(user, seat string, n int, sec int) issuance.Issuance {
		iss := issuanceFor(d, user, seat, at.Add(time.Duration(sec)*time.Second))
		iss.N = n
		return iss
	}
	held := []issuance.Issuance{mk(a, "S1", 1, 1), mk(b, "S3", 1, 2), mk(a, "S2", 2, 3)}
	restoreAll(t, inv, d, held, 3)

	c := &claimer{t: t, inv: inv, d: d}
	c.at.Store(at.Add(time.Minute).Unix())
	c.remaining(2)
	c.taken("S1", "S2", "S3")
	c.holdings(a, held[0], held[2])
	c.holdings(b, held[1])
	c.expect(a, "S4", "", inventory.LimitReached)
	c.expect(other, "S1", "", inventory.SeatTaken)
	c.expectDuplicateOf(a, "S2", "", held[2])
	c.mustClaim(b, "S4", "", 2)
	c.remaining(1)

	restoreAll(t, inv, d, held, 0)
	c.remaining(1)
	if got := len(c.snapshot()); got != 4 {
		t.Fatalf("Snapshot has %d records after restoring again, want 4", got)
	}
}

func testInvRestoreGeneral(t *testing.T, inv inventory.Inventory) {
	d := generalDrop(t, 10, 3)
	a, b := newID("user"), newID("user")
	at := baseTime()
	var held []issuance.Issuance
	for i, u := range []string{a, b, a, b} {
		iss := issuanceFor(d, u, "", at.Add(time.Duration(i)*time.Second))
		iss.N = i/2 + 1
		held = append(held, iss)
	}
	restoreAll(t, inv, d, held, 4)
	c := &claimer{t: t, inv: inv, d: d}
	c.at.Store(at.Add(time.Minute).Unix())
	c.remaining(6)
	c.taken()
	c.holdings(a, held[0], held[2])
	third := c.mustClaim(a, "", "", 3)
	c.expect(a, "", "", inventory.LimitReached)
	c.holdings(a, held[0], held[2], third)
	c.remaining(5)
}

func testInvRestoreKeeps(t *testing.T, inv inventory.Inventory) {
	d := generalDrop(t, 10, 1)
	c := newClaimer(t, inv, d)
	live := c.mustClaim(newID("user"), "", "", 1)
	durable := c.candidate(newID("user"), "")
	durable.N = 1
	// live is listed too, as the reconciler would after it became durable.
	restoreAll(t, inv, d, []issuance.Issuance{live, durable}, 1)
	c.remaining(8)
	c.snapshotIs(live, durable)
	c.expect(durable.UserID, "", "", inventory.LimitReached)
}

func testInvConcurrentStock(t *testing.T, inv inventory.Inventory) {
	const stock, limit, claims, buyers = 100, 2, 2000, 700
	c := newClaimer(t, inv, generalDrop(t, stock, limit))
	us := users(buyers)
	var claimed atomic.Int64
	perUser := make([]atomic.Int32, buyers)
	inParallel(claims, func(i int) {
		res, err := inv.Claim(t.Context(), inventory.Request{
			Issuance: c.candidate(us[i%buyers], ""), Limit: limit,
		})
		switch {
		case err != nil:
			t.Errorf("Claim: %v", err)
		case res.Outcome == inventory.Claimed:
			claimed.Add(1)
			if perUser[i%buyers].Add(1) > limit {
				t.Errorf("user %s was given more than %d units", us[i%buyers], limit)
			}
		case res.Outcome != inventory.SoldOut && res.Outcome != inventory.LimitReached:
			t.Errorf("Claim = %v, want claimed, sold_out or limit_reached", res.Outcome)
		}
	})
	if claimed.Load() != stock {
		t.Fatalf("%d claimed, want %d", claimed.Load(), stock)
	}
	c.remaining(0)
	snap := c.snapshot()
	if len(snap) != stock {
		t.Fatalf("Snapshot has %d records, want %d", len(snap), stock)
	}
	type userN struct {
		user string
		n    int
	}
	seen := make(map[userN]bool)
	for _, iss := range snap {
		k := userN{iss.UserID, iss.N}
		if seen[k] || iss.N < 1 || iss.N > limit {
			t.Fatalf("unit %d of %s is out of range or given twice", iss.N, iss.UserID)
		}
		seen[k] = true
	}
}

func testInvConcurrentSeats(t *testing.T, inv inventory.Inventory) {
	const seats, claims = 500, 2000
	c := newClaimer(t, inv, seatedDrop(t, seats, 1))
	us := users(claims)
	var mu sync.Mutex
	winners := make(map[string]string)
	inParallel(claims, func(i int) {
		seat := "S" + strconv.Itoa(i%seats+1)
		res, err := inv.Claim(t.Context(), inventory.Request{Issuance: c.candidate(us[i], seat), Limit: 1})
		if err != nil {
			t.Errorf("Claim: %v", err)
			return
		}
		switch res.Outcome {
		case inventory.Claimed:
			mu.Lock()
			defer mu.Unlock()
			if w, ok := winners[seat]; ok {
				t.Errorf("seat %s given to %s and %s", seat, w, us[i])
			}
			winners[seat] = us[i]
		case inventory.SeatTaken, inventory.SoldOut:
		default:
			t.Errorf("Claim = %v, want claimed, seat_taken or sold_out", res.Outcome)
		}
	})
	if len(winners) != seats {
		t.Fatalf("%d seats claimed, want %d", len(winners), seats)
	}
	c.remaining(0)
	taken, err := inv.Taken(t.Context(), c.d.ID())
	if err != nil {
		t.Fatalf("Taken: %v", err)
	}
	if len(taken) != seats {
		t.Fatalf("Taken has %d seats, want %d", len(taken), seats)
	}
	for _, iss := range c.snapshot() {
		if winners[iss.Seat] != iss.UserID {
			t.Fatalf("Snapshot gives seat %s to %s, the claim to %s", iss.Seat, iss.UserID, winners[iss.Seat])
		}
	}
}

func testInvConcurrentLimit(t *testing.T, inv inventory.Inventory) {
	const limit, buyers, tries = 3, 40, 15
	c := newClaimer(t, inv, generalDrop(t, 1000, limit))
	us := users(buyers)
	claimed := make([]atomic.Int32, buyers)
	inParallel(buyers*tries, func(i int) {
		res, err := inv.Claim(t.Context(), inventory.Request{
			Issuance: c.candidate(us[i%buyers], ""), Key: newID("key"), Limit: limit,
		})
		switch {
		case err != nil:
			t.Errorf("Claim: %v", err)
		case res.Outcome == inventory.Claimed:
			claimed[i%buyers].Add(1)
		case res.Outcome != inventory.LimitReached:
			t.Errorf("Claim = %v, want claimed or limit_reached", res.Outcome)
		}
	})
	for i, u := range us {
		if got := claimed[i].Load(); got != limit {
			t.Errorf("user %s claimed %d units, want %d", u, got, limit)
		}
		hs, err := inv.Holdings(t.Context(), c.d.ID(), u)
		if err != nil {
			t.Fatalf("Holdings: %v", err)
		}
		ns := map[int]bool{}
		for _, h := range hs {
			ns[h.N] = true
		}
		if len(hs) != limit || !ns[1] || !ns[2] || !ns[3] {
			t.Errorf("user %s holds %d units numbered %v, want units 1..%d", u, len(hs), ns, limit)
		}
	}
	c.remaining(1000 - limit*buyers)
}

func testInvConcurrentKey(t *testing.T, inv inventory.Inventory) {
	const retries = 64
	c := newClaimer(t, inv, generalDrop(t, 10, 5))
	u, k := newID("user"), newID("key")
	results := make([]inventory.Result, retries)
	inParallel(retries, func(i int) {
		res, err := inv.Claim(t.Context(), inventory.Request{Issuance: c.candidate(u, ""), Key: k, Limit: 5})
		if err != nil {
			t.Errorf("Claim: %v", err)
		}
		results[i] = res
	})
	var winner string
	for _, r := range results {
		if r.Outcome == inventory.Claimed {
			if winner != "" {
				t.Fatalf("one key claimed twice: %s and %s", winner, r.Issuance.ID)
			}
			winner = r.Issuance.ID
		}
	}
	if winner == "" {
		t.Fatalf("no retry claimed")
	}
	for _, r := range results {
		if r.Outcome != inventory.Claimed && (r.Outcome != inventory.Duplicate || r.Issuance.ID != winner) {
			t.Fatalf("retry = %v %s, want duplicate of %s", r.Outcome, r.Issuance.ID, winner)
		}
	}
	c.remaining(9)
}

func testInvConcurrentRelease(t *testing.T, inv inventory.Inventory) {
	const stock, buyers, rounds = 10, 50, 20
	c := newClaimer(t, inv, generalDrop(t, stock, 1))
	us := users(buyers)
	var live, peak atomic.Int64
	inParallel(buyers, func(i int) {
		for range rounds {
			k := newID("key")
			res, err := inv.Claim(t.Context(), inventory.Request{Issuance: c.candidate(us[i], ""), Key: k, Limit: 1})
			if err != nil {
				t.Errorf("Claim: %v", err)
				return
			}
			if res.Outcome != inventory.Claimed {
				continue
			}
			n := live.Add(1)
			for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
			}
			live.Add(-1)
			if err := inv.Release(t.Context(), res.Issuance, k); err != nil {
				t.Errorf("Release: %v", err)
				return
			}
		}
	})
	if peak.Load() > stock {
		t.Fatalf("%d units held at once, stock is %d", peak.Load(), stock)
	}
	if peak.Load() == 0 {
		t.Fatalf("nothing was ever claimed")
	}
	c.remaining(stock)
	c.snapshotIs()
}
