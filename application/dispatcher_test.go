package application_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// forgetful plays a Redis that restarted empty: until Restore runs, it
// knows no drop.
type forgetful struct {
	*memory.Inventory
	lost     atomic.Bool
	restored atomic.Int32
}

func (f *forgetful) Remaining(ctx context.Context, id string) (int64, error) {
	if f.lost.Load() {
		return 0, inventory.ErrNotLoaded
	}
	return f.Inventory.Remaining(ctx, id)
}

func (f *forgetful) Snapshot(ctx context.Context, id string) ([]issuance.Issuance, error) {
	if f.lost.Load() {
		return nil, inventory.ErrNotLoaded
	}
	return f.Inventory.Snapshot(ctx, id)
}

func (f *forgetful) Restore(ctx context.Context, d *drop.Drop, held []issuance.Issuance) (int, error) {
	f.lost.Store(false)
	f.restored.Add(1)
	return f.Inventory.Restore(ctx, d, held)
}

// In a queued general drop nobody claims directly, so the dispatcher is the
// one that must notice the inventory lost the drop and have it restored.
func TestDispatcherRestoresALostDropBeforeAdmitting(t *testing.T) {
	ctx := context.Background()
	st := memStores()
	inv := &forgetful{Inventory: memory.NewInventory()}
	st.Inventory = inv
	cache := application.NewDropCache(st.Drops, time.Hour)
	recon := application.NewReconciler(st, nil)
	cat := application.NewCatalog(st, cache, recon)
	sales := application.NewSales(st, cache, recon, application.SalesOptions{}, nil)
	d, err := cat.Create(ctx, drop.Params{Name: "q", Kind: drop.KindGeneral, Stock: 5, Admission: drop.AdmissionQueued, AdmitRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"a", "b", "c"} {
		if _, _, err := sales.JoinLine(ctx, d.ID(), u); err != nil {
			t.Fatal(err)
		}
	}
	inv.lost.Store(true)
	disp := application.NewDispatcher(st, cache, application.DispatcherOptions{Instance: "t", Reconciler: recon}, nil)
	for range 3 {
		time.Sleep(20 * time.Millisecond)
		disp.Serve(ctx, d.ID())
	}
	if inv.restored.Load() == 0 {
		t.Fatal("the dispatcher admitted on (or stalled at) a lost drop without restoring it")
	}
	for _, u := range []string{"a", "b", "c"} {
		v, err := sales.LineStatus(ctx, d.ID(), u, "")
		if err != nil || v.Status != waitline.Issued {
			t.Fatalf("%s after the restore: %+v %v, want issued", u, v, err)
		}
	}
}
