package application_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/test/testenv"
)

func TestMain(m *testing.M) { testenv.VerifyTestMain(m) }

func memStores() application.Stores {
	return application.Stores{Drops: memory.NewDrops(), Inventory: memory.NewInventory(), Line: memory.NewLine(),
		Ledger: memory.NewLedger(), Lease: memory.NewLease(clock.System{})}
}

// wiring is the use cases' shared parts over st, wired as the app wires them,
// with a drop cache that refreshes only when asked.
type wiring struct {
	st    application.Stores
	cache *application.DropCache
	recon *application.Reconciler
	cat   *application.Catalog
}

func wire(st application.Stores) wiring {
	cache := application.NewDropCache(st.Drops, time.Hour)
	recon := application.NewReconciler(st, nil)
	return wiring{st: st, cache: cache, recon: recon, cat: application.NewCatalog(st, cache, recon)}
}

// sales returns the buyer use cases over the wiring.
func (w wiring) sales(opt application.SalesOptions) *application.Sales {
	return application.NewSales(w.st, w.cache, w.recon, opt, nil)
}

// The syncer writes after every N issues, on its timer, and at shutdown,
// and never counts rows: what it writes is the inventory's live count.
func TestCountSyncerWritesEveryNOnTimerAndAtStop(t *testing.T) {
	ctx := context.Background()
	st := memStores()
	w := wire(st)
	cat := w.cat
	d, err := cat.Create(ctx, drop.Params{Name: "sync", Kind: drop.KindGeneral, Stock: 100, PerUserLimit: 100})
	if err != nil {
		t.Fatal(err)
	}
	flushed := make(chan error, 100)
	syncer := application.NewCountSyncer(st, w.cache, 10, time.Hour, func(_ string, err error) { flushed <- err }, nil)
	sales := w.sales(application.SalesOptions{OnIssued: syncer.Issued})
	syncer.Start()
	claim := func(n int) {
		for i := range n {
			if res, err := sales.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "u", Key: strconv.Itoa(i) + time.Now().String()}); err != nil || res.Status != application.StatusIssued {
				t.Fatalf("claim: %+v %v", res, err)
			}
		}
	}
	synced := func() int64 {
		n, err := st.Drops.IssuedCount(ctx, d.ID())
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	claim(9)
	if n := synced(); n != 0 {
		t.Fatalf("synced %d after 9 issues with N=10, want 0", n)
	}
	claim(1)
	select {
	case err := <-flushed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(30 * time.Second): // generous: a loaded machine may be slow to run the flush
		t.Fatal("no flush after the 10th issue")
	}
	if n := synced(); n != 10 {
		t.Fatalf("synced %d after 10 issues, want 10", n)
	}
	claim(3)
	syncer.Stop(ctx)
	if n := synced(); n != 13 {
		t.Fatalf("synced %d after stop, want 13", n)
	}

	// The timer path: with N out of reach, the interval still writes.
	timed := application.NewCountSyncer(st, w.cache, 1000, 20*time.Millisecond, nil, nil)
	sales2 := w.sales(application.SalesOptions{OnIssued: timed.Issued})
	timed.Start()
	defer timed.Stop(ctx)
	if res, err := sales2.Claim(ctx, application.ClaimInput{DropID: d.ID(), UserID: "v"}); err != nil || res.Status != application.StatusIssued {
		t.Fatalf("claim: %+v %v", res, err)
	}
	deadline := time.Now().Add(30 * time.Second) // a 20ms timer; the slack is for a loaded machine
	for synced() != 14 {
		if time.Now().After(deadline) {
			t.Fatalf("timer never wrote: synced %d, want 14", synced())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
