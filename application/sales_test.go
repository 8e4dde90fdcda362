package application_test

import (
	"context"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

// A retry finds the buyer's earlier holder record, but the ledger holds
// another buyer's unit for that seat (the inventory lost it and was not yet
// reconciled): the retry must not be told "issued" for a unit that can never
// be durable, and the stale record is given back.
func TestRetryOfAStaleHolderIsNotToldIssued(t *testing.T) {
	ctx := context.Background()
	st := memStores()
	w := wire(st)
	cat, sales := w.cat, w.sales(application.SalesOptions{})
	d, err := cat.Create(ctx, drop.Params{Name: "s", Kind: drop.KindSeated, Seats: []string{"S1", "S2"}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	durable := issuance.Issuance{ID: "durable-b", DropID: d.ID(), UserID: "b", Seat: "S1", N: 1, Code: "C1", IssuedAt: now}
	if err := st.Ledger.Record(ctx, durable); err != nil {
		t.Fatal(err)
	}
	stale := issuance.Issuance{ID: "stale-a", DropID: d.ID(), UserID: "a", Seat: "S1", Code: "C2", IssuedAt: now}
	if res, err := st.Inventory.Claim(ctx, inventory.Request{Issuance: stale, Key: "k", Limit: 1}); err != nil || res.Outcome != inventory.Claimed {
		t.Fatalf("plant the stale holder: %+v %v", res, err)
	}
	res, err := sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "a", Seat: "S1", Key: "k"})
	if err != nil || res.Status != application.StatusSeatTaken {
		t.Fatalf("retry over a stale holder: %+v %v, want seat_taken", res, err)
	}
	if held, err := st.Inventory.Holdings(ctx, d.ID(), "a"); err != nil || len(held) != 0 {
		t.Fatalf("the stale holder is still held: %v %v", held, err)
	}
	if _, err := st.Ledger.Get(ctx, "stale-a"); err == nil {
		t.Fatal("the stale unit reached the ledger")
	}
}
