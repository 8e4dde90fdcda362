package redis

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

type invFixture struct {
	t   *testing.T
	inv *Inventory
	d   *drop.Drop
}

func loaded(t *testing.T, inv *Inventory, d *drop.Drop) *invFixture {
	t.Helper()
	if err := inv.Load(t.Context(), d); err != nil {
		t.Fatalf("Load: %v", err)
	}
	return &invFixture{t: t, inv: inv, d: d}
}

func (f *invFixture) claim(iss issuance.Issuance, key string) inventory.Result {
	f.t.Helper()
	res, err := f.inv.Claim(f.t.Context(), inventory.Request{Issuance: iss, Key: key, Limit: f.d.PerUserLimit()})
	if err != nil {
		f.t.Fatalf("Claim(%s, seat %q, key %q): %v", iss.UserID, iss.Seat, key, err)
	}
	return res
}

func (f *invFixture) expect(user, seat, key string, want inventory.Outcome) inventory.Result {
	f.t.Helper()
	res := f.claim(candidate(f.d, user, seat), key)
	if res.Outcome != want {
		f.t.Fatalf("Claim(%s, seat %q, key %q) = %v, want %v", user, seat, key, res.Outcome, want)
	}
	return res
}

func (f *invFixture) mustClaim(user, seat, key string, n int) issuance.Issuance {
	f.t.Helper()
	cand := candidate(f.d, user, seat)
	res := f.claim(cand, key)
	if res.Outcome != inventory.Claimed {
		f.t.Fatalf("Claim(%s, seat %q) = %v, want claimed", user, seat, res.Outcome)
	}
	cand.N = n
	sameIssuance(f.t, res.Issuance, cand)
	return res.Issuance
}

func (f *invFixture) remaining(want int64) {
	f.t.Helper()
	got, err := f.inv.Remaining(f.t.Context(), f.d.ID())
	if err != nil || got != want {
		f.t.Fatalf("Remaining = %d, %v; want %d", got, err, want)
	}
}

func (f *invFixture) snapshot() []issuance.Issuance {
	f.t.Helper()
	s, err := f.inv.Snapshot(f.t.Context(), f.d.ID())
	if err != nil {
		f.t.Fatalf("Snapshot: %v", err)
	}
	return s
}

func TestInventoryNotLoaded(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	d := generalDrop(t, c, 3, 1)
	ctx := t.Context()
	iss := candidate(d, newID("u"), "")
	_, err := inv.Claim(ctx, inventory.Request{Issuance: iss, Limit: 1})
	checks := map[string]error{"Claim": err}
	_, checks["Remaining"] = inv.Remaining(ctx, d.ID())
	_, checks["Holdings"] = inv.Holdings(ctx, d.ID(), iss.UserID)
	_, checks["Taken"] = inv.Taken(ctx, d.ID())
	_, checks["Snapshot"] = inv.Snapshot(ctx, d.ID())
	checks["Release"] = inv.Release(ctx, iss, "")
	for op, err := range checks {
		if !errors.Is(err, inventory.ErrNotLoaded) {
			t.Errorf("%s before Load: err = %v, want ErrNotLoaded", op, err)
		}
	}
}

func TestInventoryLoadNeverResets(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	for _, d := range []*drop.Drop{generalDrop(t, c, 3, 1), seatedDrop(t, c, 3, 1)} {
		t.Run(string(d.Kind()), func(t *testing.T) {
			f := loaded(t, inv, d)
			seat := ""
			if d.Seated() {
				seat = "S2"
			}
			held := f.mustClaim(newID("u"), seat, "", 1)
			if err := inv.Load(t.Context(), d); err != nil {
				t.Fatalf("second Load: %v", err)
			}
			f.remaining(2)
			if d.Seated() {
				f.expect(newID("u"), "S2", "", inventory.SeatTaken)
			}
			if s := f.snapshot(); len(s) != 1 {
				t.Fatalf("Snapshot after second Load = %v, want only %s", s, held.ID)
			}
		})
	}
}

func TestInventoryClaimOrder(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, generalDrop(t, c, 2, 1))
	u, k := newID("u"), newID("key")
	first := f.mustClaim(u, "", k, 1)

	// A retry gets its issuance back although the buyer is at the limit.
	res := f.expect(u, "", k, inventory.Duplicate)
	sameIssuance(t, res.Issuance, first)
	// Replaying the same candidate (an admission replay) is a retry too.
	again := f.claim(first, "")
	if again.Outcome != inventory.Duplicate {
		t.Fatalf("replayed candidate = %v, want duplicate", again.Outcome)
	}
	sameIssuance(t, again.Issuance, first)
	// Anything else from the holder meets the limit before the stock.
	f.expect(u, "", "", inventory.LimitReached)
	f.expect(u, "", newID("key"), inventory.LimitReached)
	f.mustClaim(newID("u"), "", "", 1)
	f.expect(u, "", "", inventory.LimitReached)
	f.expect(newID("u"), "", "", inventory.SoldOut)
	f.remaining(0)

	// The same id claimed by another buyer is a caller bug, not a claim.
	stolen := first
	stolen.UserID = newID("u")
	if _, err := inv.Claim(t.Context(), inventory.Request{Issuance: stolen, Limit: 1}); err == nil {
		t.Fatalf("claim of an id held by another buyer succeeded")
	}
}

func TestInventoryNFillsTheGapAReleaseLeft(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, generalDrop(t, c, 10, 3))
	u := newID("u")
	n1 := f.mustClaim(u, "", "", 1)
	n2 := f.mustClaim(u, "", "k2", 2)
	n3 := f.mustClaim(u, "", "", 3)
	if err := inv.Release(t.Context(), n2, ""); err != nil {
		t.Fatalf("Release: %v", err)
	}
	// The key is remembered with the unit, so releasing without it frees it.
	f.mustClaim(u, "", "k2", 2)
	f.expect(u, "", "", inventory.LimitReached)
	if err := inv.Release(t.Context(), n2, ""); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("second Release: err = %v, want ErrNotHeld", err)
	}
	hs, err := inv.Holdings(t.Context(), f.d.ID(), u)
	if err != nil || len(hs) != 3 || hs[0].ID != n1.ID || hs[1].ID != n3.ID {
		t.Fatalf("Holdings = %v, %v; want %s, %s, then the new unit", hs, err, n1.ID, n3.ID)
	}
	f.remaining(7)
}

func TestInventoryReleaseByAnotherBuyerIsNotHeld(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, generalDrop(t, c, 2, 1))
	held := f.mustClaim(newID("u"), "", "", 1)
	wrong := held
	wrong.UserID = newID("u")
	if err := inv.Release(t.Context(), wrong, ""); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("Release by another buyer: err = %v, want ErrNotHeld", err)
	}
	f.remaining(1)
}

func TestInventorySeats(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, seatedDrop(t, c, 3, 2))
	a, b := newID("u"), newID("u")
	s1 := f.mustClaim(a, "S1", "", 1)
	f.expect(b, "S1", "", inventory.SeatTaken)
	sameIssuance(t, f.expect(a, "S1", newID("key"), inventory.Duplicate).Issuance, s1)

	for seat, want := range map[string]error{"": drop.ErrSeatRequired, "S9": drop.ErrUnknownSeat} {
		_, err := inv.Claim(t.Context(), inventory.Request{Issuance: candidate(f.d, b, seat), Limit: 2})
		if !errors.Is(err, want) {
			t.Errorf("Claim of seat %q: err = %v, want %v", seat, err, want)
		}
	}
	taken, err := inv.Taken(t.Context(), f.d.ID())
	if err != nil || len(taken) != 1 || !taken["S1"] {
		t.Fatalf("Taken = %v, %v; want S1 only", taken, err)
	}
	if err := inv.Release(t.Context(), s1, ""); err != nil {
		t.Fatalf("Release: %v", err)
	}
	f.mustClaim(b, "S1", "", 1)
	f.remaining(2)

	g := loaded(t, inv, generalDrop(t, c, 3, 1))
	_, err = inv.Claim(t.Context(), inventory.Request{Issuance: candidate(g.d, b, "S1"), Limit: 1})
	if !errors.Is(err, drop.ErrSeatNotAllowed) {
		t.Fatalf("seat in a general drop: err = %v, want ErrSeatNotAllowed", err)
	}
}

func TestInventorySnapshotIsTheFullIssuance(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, seatedDrop(t, c, 5, 5))
	u := newID("u")
	var want []issuance.Issuance
	for i := 1; i <= 4; i++ {
		want = append(want, f.mustClaim(u, "S"+strconv.Itoa(i), "", i))
	}
	got := f.snapshot()
	if len(got) != len(want) {
		t.Fatalf("Snapshot has %d records, want %d", len(got), len(want))
	}
	for i := range want {
		sameIssuance(t, got[i], want[i])
	}
}

func TestInventoryRejectsTheRecordSeparator(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, generalDrop(t, c, 2, 1))
	_, err := inv.Claim(t.Context(), inventory.Request{Issuance: candidate(f.d, "u", ""), Key: "a\x1fb", Limit: 1})
	if !errors.Is(err, errSeparator) {
		t.Fatalf("key with 0x1f: err = %v, want errSeparator", err)
	}
	f.remaining(2)
}

func TestInventoryRestore(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	d := seatedDrop(t, c, 3000, 2)
	a, b := newID("u"), newID("u")
	mk := func(user, seat string, n int) issuance.Issuance {
		iss := candidate(d, user, seat)
		iss.N = n
		return iss
	}
	// More records than one batch, so the batches must add up.
	var held []issuance.Issuance
	for i := 1; i <= 2500; i++ {
		held = append(held, mk(newID("u"), "S"+strconv.Itoa(i), 1))
	}
	held = append(held, mk(a, "S2501", 1))
	n, err := inv.Restore(t.Context(), d, held)
	if err != nil || n != len(held) {
		t.Fatalf("Restore = %d, %v; want %d", n, err, len(held))
	}
	f := &invFixture{t: t, inv: inv, d: d}
	f.remaining(499)

	// A live record beyond held is kept; one that conflicts with a durable
	// record (same seat, or same buyer and N) gives way.
	live := f.mustClaim(b, "S2600", "", 1)
	loser := f.mustClaim(newID("u"), "S2700", "", 1)
	durable := mk(a, "S2700", 2)
	n, err = inv.Restore(t.Context(), d, append(held, durable))
	if err != nil || n != 1 {
		t.Fatalf("second Restore = %d, %v; want 1", n, err)
	}
	f.remaining(497)
	snap := make(map[string]issuance.Issuance)
	for _, iss := range f.snapshot() {
		snap[iss.ID] = iss
	}
	if _, ok := snap[loser.ID]; ok {
		t.Errorf("record %s that lost its seat to a durable one is kept", loser.ID)
	}
	sameIssuance(t, snap[live.ID], live)
	sameIssuance(t, snap[durable.ID], durable)
	f.expect(a, "S2800", "", inventory.LimitReached)
	f.expect(newID("u"), "S2700", "", inventory.SeatTaken)
	if len(snap) != len(held)+2 {
		t.Fatalf("Snapshot has %d records, want %d", len(snap), len(held)+2)
	}
}

func TestInventoryRestoreGivesWayOnBuyerAndN(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	f := loaded(t, inv, generalDrop(t, c, 5, 1))
	u := newID("u")
	live := f.mustClaim(u, "", "k", 1)
	durable := candidate(f.d, u, "")
	durable.N = 1
	if n, err := inv.Restore(t.Context(), f.d, []issuance.Issuance{durable}); err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v; want 1", n, err)
	}
	hs, err := inv.Holdings(t.Context(), f.d.ID(), u)
	if err != nil || len(hs) != 1 {
		t.Fatalf("Holdings = %v, %v; want the durable unit only", hs, err)
	}
	sameIssuance(t, hs[0], durable)
	// The dropped record's key is gone with it.
	f.expect(u, "", "k", inventory.LimitReached)
	if err := inv.Release(t.Context(), live, "k"); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("Release of the dropped record: err = %v, want ErrNotHeld", err)
	}
	f.remaining(4)
}

func TestInventoryLargeSeatedDrop(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	start := time.Now()
	f := loaded(t, inv, seatedDrop(t, c, drop.MaxSeats, 1))
	t.Logf("loaded %d seats in %v", drop.MaxSeats, time.Since(start))
	f.remaining(drop.MaxSeats)
	const claims = 2500
	parallel(claims, 32, func(i int) {
		res, err := inv.Claim(t.Context(), inventory.Request{
			Issuance: candidate(f.d, newID("u"), "S"+strconv.Itoa(i*37+1)), Limit: 1,
		})
		if err != nil || res.Outcome != inventory.Claimed {
			t.Errorf("Claim = %v, %v", res.Outcome, err)
		}
	})
	taken, err := inv.Taken(t.Context(), f.d.ID())
	if err != nil || len(taken) != claims {
		t.Fatalf("Taken has %d seats, %v; want %d", len(taken), err, claims)
	}
	if s := f.snapshot(); len(s) != claims {
		t.Fatalf("Snapshot has %d records, want %d", len(s), claims)
	}
	f.remaining(drop.MaxSeats - claims)
}

func TestInventoryConcurrentClaims(t *testing.T) {
	c := testClient(t)
	inv := NewInventory(c)
	const stock, limit, buyers, claims = 50, 2, 100, 1000
	f := loaded(t, inv, generalDrop(t, c, stock, limit))
	us := make([]string, buyers)
	for i := range us {
		us[i] = newID("u")
	}
	var claimed atomic.Int64
	var mu sync.Mutex
	perUser := map[string]int{}
	parallel(claims, 20, func(i int) {
		u := us[i%buyers]
		res, err := inv.Claim(t.Context(), inventory.Request{Issuance: candidate(f.d, u, ""), Limit: limit})
		if err != nil {
			t.Errorf("Claim: %v", err)
			return
		}
		if res.Outcome == inventory.Claimed {
			claimed.Add(1)
			mu.Lock()
			perUser[u]++
			mu.Unlock()
		}
	})
	if claimed.Load() != stock {
		t.Fatalf("%d claimed, want %d", claimed.Load(), stock)
	}
	for u, n := range perUser {
		if n > limit {
			t.Errorf("%s got %d units, limit %d", u, n, limit)
		}
	}
	f.remaining(0)
}

func TestInventoryUnavailable(t *testing.T) {
	c := testClient(t)
	d := generalDrop(t, c, 1, 1)
	closed := testClient(t)
	closed.Close()
	inv := NewInventory(closed)
	_, err := inv.Claim(t.Context(), inventory.Request{Issuance: candidate(d, "u", ""), Limit: 1})
	if !errors.Is(err, inventory.ErrUnavailable) {
		t.Fatalf("Claim on a closed client: err = %v, want ErrUnavailable", err)
	}
	if err := inv.Load(t.Context(), d); !errors.Is(err, inventory.ErrUnavailable) {
		t.Fatalf("Load on a closed client: err = %v, want ErrUnavailable", err)
	}
}

// parallel runs fn(0..n-1) on workers goroutines.
func parallel(n, workers int, fn func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n); i = next.Add(1) - 1 {
				fn(int(i))
			}
		})
	}
	wg.Wait()
}
