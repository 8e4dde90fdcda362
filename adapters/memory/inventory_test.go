package memory_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

func seated(t *testing.T) *drop.Drop {
	t.Helper()
	d, err := drop.New(drop.Params{ID: "d", Name: "d", Kind: drop.KindSeated, Seats: []string{"S1", "S2"}, PerUserLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestClaimRejectsSeatOutsideDrop(t *testing.T) {
	inv := memory.NewInventory()
	d := seated(t)
	if err := inv.Load(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	for seat, want := range map[string]error{"Z9": drop.ErrUnknownSeat, "": drop.ErrSeatRequired} {
		iss := issuance.Issuance{ID: "i-" + seat, DropID: "d", UserID: "u", Seat: seat}
		_, err := inv.Claim(t.Context(), inventory.Request{Issuance: iss, Limit: 1})
		if !errors.Is(err, want) {
			t.Errorf("Claim of seat %q: err = %v, want %v", seat, err, want)
		}
	}
	if n, _ := inv.Remaining(t.Context(), "d"); n != 2 {
		t.Fatalf("Remaining = %d after refused claims, want 2", n)
	}
}

// A durable issuance is what a buyer was told; a live record that conflicts
// with it can no longer be recorded, so Restore lets the durable one win.
func TestRestoreDurableWinsOverConflictingRecord(t *testing.T) {
	ctx := t.Context()
	inv := memory.NewInventory()
	d := seated(t)
	if err := inv.Load(ctx, d); err != nil {
		t.Fatal(err)
	}
	live := issuance.Issuance{ID: "live", DropID: "d", UserID: "a", Seat: "S1", IssuedAt: time.Now()}
	res, err := inv.Claim(ctx, inventory.Request{Issuance: live, Limit: 1})
	if err != nil || res.Outcome != inventory.Claimed {
		t.Fatalf("Claim = %v, %v", res.Outcome, err)
	}
	durable := issuance.Issuance{ID: "durable", DropID: "d", UserID: "b", Seat: "S1", N: 1}
	if n, err := inv.Restore(ctx, d, []issuance.Issuance{durable}); err != nil || n != 1 {
		t.Fatalf("Restore = %d, %v; want 1", n, err)
	}
	snap, _ := inv.Snapshot(ctx, "d")
	if len(snap) != 1 || snap[0].ID != "durable" {
		t.Fatalf("Snapshot = %+v, want only the durable issuance", snap)
	}
	if err := inv.Release(ctx, res.Issuance, ""); !errors.Is(err, inventory.ErrNotHeld) {
		t.Fatalf("Release of the evicted record: err = %v, want ErrNotHeld", err)
	}
	if n, _ := inv.Remaining(ctx, "d"); n != 1 {
		t.Fatalf("Remaining = %d, want 1", n)
	}
}
