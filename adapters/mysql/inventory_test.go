package mysql

import (
	"errors"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

func loaded(t *testing.T, inv *Inventory, d *drop.Drop) {
	t.Helper()
	if err := inv.Load(ctxT(t), d); err != nil {
		t.Fatal(err)
	}
}

func claim(t *testing.T, inv *Inventory, dropID, user, seat, key string, limit int) inventory.Result {
	t.Helper()
	res, err := inv.Claim(ctxT(t), inventory.Request{Issuance: candidate(dropID, user, seat), Key: key, Limit: limit})
	if err != nil {
		t.Fatalf("Claim(%s, %q): %v", user, seat, err)
	}
	return res
}

func TestInventorySeatsMustFitTheDrop(t *testing.T) {
	inv := NewInventory(testDB(t))
	ctx := ctxT(t)
	g, s := generalDrop(t, 2, 1), seatedDrop(t, "A1")
	loaded(t, inv, g)
	loaded(t, inv, s)
	for _, c := range []struct {
		dropID, seat string
		want         error
	}{
		{g.ID(), "A1", drop.ErrSeatNotAllowed},
		{s.ID(), "", drop.ErrSeatRequired},
		{s.ID(), "Z9", drop.ErrUnknownSeat},
	} {
		_, err := inv.Claim(ctx, inventory.Request{Issuance: candidate(c.dropID, uid("u"), c.seat), Limit: 1})
		if !errors.Is(err, c.want) {
			t.Errorf("Claim(%s, %q) = %v, want %v", c.dropID, c.seat, err, c.want)
		}
	}
	if n, _ := inv.Remaining(ctx, g.ID()); n != 2 {
		t.Fatalf("refused claims took units: remaining %d", n)
	}
}

// Load writes seats in chunks; a drop larger than one chunk must arrive whole.
func TestInventoryLoadsEverySeat(t *testing.T) {
	inv := NewInventory(testDB(t))
	ctx := ctxT(t)
	labels := make([]string, 2*seatChunk+7)
	for i := range labels {
		labels[i] = fmt.Sprintf("R%d", i)
	}
	d := seatedDrop(t, labels...)
	loaded(t, inv, d)
	loaded(t, inv, d)
	if n, err := inv.Remaining(ctx, d.ID()); err != nil || n != int64(len(labels)) {
		t.Fatalf("Remaining = %d, %v; want %d", n, err, len(labels))
	}
	if res := claim(t, inv, d.ID(), uid("u"), labels[len(labels)-1], "", 1); res.Outcome != inventory.Claimed {
		t.Fatalf("claim of the last seat = %v", res.Outcome)
	}
}

// Two pools are two processes: the row locks, not anything in this process,
// must keep them from selling a unit twice.
func TestInventoryAcrossPools(t *testing.T) {
	needMySQL(t)
	other, err := Open(testDSN(), PoolOptions{MaxOpenConns: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	invs := []*Inventory{NewInventory(testDB(t)), NewInventory(other)}
	d := generalDrop(t, 25, 1)
	loaded(t, invs[0], d)
	var claimed atomic.Int32
	ctx := ctxT(t)
	release(200, func(i int) {
		res, err := invs[i%2].Claim(ctx, inventory.Request{Issuance: candidate(d.ID(), uid("u"), ""), Limit: 1})
		if err != nil {
			t.Errorf("Claim: %v", err)
			return
		}
		if res.Outcome == inventory.Claimed {
			claimed.Add(1)
		}
	})
	if claimed.Load() != 25 {
		t.Fatalf("%d units claimed across two pools, stock is 25", claimed.Load())
	}
	if n, _ := invs[1].Remaining(ctx, d.ID()); n != 0 {
		t.Fatalf("Remaining = %d", n)
	}
}

func TestInventoryReleaseChecksTheHolder(t *testing.T) {
	inv := NewInventory(testDB(t))
	ctx := ctxT(t)
	d := seatedDrop(t, "A1", "A2")
	loaded(t, inv, d)
	user := uid("u")
	res := claim(t, inv, d.ID(), user, "A1", "k1", 1)
	wrongSeat := res.Issuance
	wrongSeat.Seat = "A2"
	wrongUser := res.Issuance
	wrongUser.UserID = uid("u")
	for name, c := range map[string]struct {
		iss issuance.Issuance
		key string
	}{"other seat": {wrongSeat, "k1"}, "other user": {wrongUser, "k1"}, "other key": {res.Issuance, "k2"}} {
		if err := inv.Release(ctx, c.iss, c.key); !errors.Is(err, inventory.ErrNotHeld) {
			t.Errorf("Release with %s = %v, want ErrNotHeld", name, err)
		}
	}
	if err := inv.Release(ctx, res.Issuance, "k1"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if taken, _ := inv.Taken(ctx, d.ID()); len(taken) != 0 {
		t.Fatalf("Taken after release = %v", taken)
	}
}

// A durable issuance wins over a holder record that occupies its seat: that
// record's claim cannot be recorded anyway, the ledger has the seat.
func TestInventoryRestoreDurableWins(t *testing.T) {
	inv := NewInventory(testDB(t))
	ctx := ctxT(t)
	d := seatedDrop(t, "A1", "A2", "A3")
	loaded(t, inv, d)
	pending := claim(t, inv, d.ID(), uid("u"), "A1", "", 2).Issuance
	kept := claim(t, inv, d.ID(), uid("u"), "A2", "", 2).Issuance
	durable := candidateN(d.ID(), uid("u"), "A1", 1)
	added, err := inv.Restore(ctx, d, []issuance.Issuance{durable})
	if err != nil || added != 1 {
		t.Fatalf("Restore = %d, %v; want 1 added", added, err)
	}
	snap, _ := inv.Snapshot(ctx, d.ID())
	ids := map[string]bool{}
	for _, s := range snap {
		ids[s.ID] = true
	}
	if len(snap) != 2 || !ids[durable.ID] || !ids[kept.ID] {
		t.Fatalf("Snapshot after restore = %v, want the durable and the unrelated record", snap)
	}
	if hs, _ := inv.Holdings(ctx, d.ID(), pending.UserID); len(hs) != 0 {
		t.Fatalf("displaced buyer still holds %v", hs)
	}
	if err := inv.Release(ctx, pending, ""); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("Release of the displaced record = %v, want ErrNotHeld", err)
	}
	if n, _ := inv.Remaining(ctx, d.ID()); n != 1 {
		t.Fatalf("Remaining = %d, want 1", n)
	}
	if res := claim(t, inv, d.ID(), pending.UserID, "A3", "", 1); res.Outcome != inventory.Claimed {
		t.Fatalf("displaced buyer's count was not freed: %v", res.Outcome)
	}
	if _, err := inv.Restore(ctx, d, []issuance.Issuance{candidateN(uid("other"), uid("u"), "A1", 1)}); !errors.Is(err, drop.ErrInvalid) {
		t.Fatalf("Restore with another drop's issuance = %v", err)
	}
}
