package application_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/lease"
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
	w := wire(st)
	cat, sales := w.cat, w.sales(application.SalesOptions{})
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
	disp := application.NewDispatcher(st, w.cache, application.DispatcherOptions{Instance: "t", Reconciler: w.recon}, nil)
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

// stumbling fails the first claim of one user (before the store ran it) and
// the first give-back, as a store timing out under load would.
type stumbling struct {
	inventory.Inventory
	failClaimOf   string
	claimFailed   atomic.Bool
	releaseFailed atomic.Bool
}

func (s *stumbling) Claim(ctx context.Context, req inventory.Request) (inventory.Result, error) {
	if req.Issuance.UserID == s.failClaimOf && s.claimFailed.CompareAndSwap(false, true) {
		return inventory.Result{}, inventory.ErrUnavailable
	}
	return s.Inventory.Claim(ctx, req)
}

func (s *stumbling) Release(ctx context.Context, iss issuance.Issuance, key string) error {
	if s.releaseFailed.CompareAndSwap(false, true) {
		return inventory.ErrUnavailable
	}
	return s.Inventory.Release(ctx, iss, key)
}

// A buyer whose admission claim failed is served first on the next tick, and
// the ledger's issue order stays the line's order even when the unit claimed
// behind them could not be given back at once (it stays held, stamped with
// the earlier tick's time, and must not end up issued ahead of them).
func TestDispatcherKeepsLineOrderWhenAGiveBackFails(t *testing.T) {
	ctx := context.Background()
	st := memStores()
	inv := &stumbling{Inventory: memory.NewInventory(), failClaimOf: "a"}
	st.Inventory = inv
	w := wire(st)
	cat, sales := w.cat, w.sales(application.SalesOptions{})
	d, err := cat.Create(ctx, drop.Params{Name: "q", Kind: drop.KindGeneral, Stock: 5, Admission: drop.AdmissionQueued, AdmitRate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	users := []string{"a", "b", "c"}
	for _, u := range users {
		if _, _, err := sales.JoinLine(ctx, d.ID(), u); err != nil {
			t.Fatal(err)
		}
	}
	disp := application.NewDispatcher(st, w.cache, application.DispatcherOptions{Instance: "t"}, nil)
	deadline := time.Now().Add(30 * time.Second)
	for {
		disp.Serve(ctx, d.ID())
		if n, err := st.Ledger.CountByDrop(ctx, d.ID()); err == nil && n == int64(len(users)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the line was never served")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !inv.claimFailed.Load() || !inv.releaseFailed.Load() {
		t.Fatal("the failures were not planted")
	}
	got, err := st.Ledger.ByDrop(ctx, d.ID())
	if err != nil {
		t.Fatal(err)
	}
	for i, iss := range got {
		if iss.UserID != users[i] {
			t.Fatalf("issue order %v, want the line's %v", userIDs(got), users)
		}
	}
}

func userIDs(list []issuance.Issuance) []string {
	out := make([]string, len(list))
	for i, iss := range list {
		out[i] = iss.UserID
	}
	return out
}

// stuckLease blocks every lease call for names containing stuck until
// released, deadline or not, as a store that stopped answering would.
type stuckLease struct {
	lease.Lease
	stuck   string
	release chan struct{}
	blocked atomic.Int32
}

func (s *stuckLease) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if strings.Contains(name, s.stuck) {
		s.blocked.Add(1)
		<-s.release
	}
	return s.Lease.Acquire(ctx, name, holder, ttl)
}

// One drop whose store calls hang must not stall admission to the others:
// the dispatcher serves drops side by side within a tick.
func TestDispatcherServesOtherDropsWhileOneHangs(t *testing.T) {
	ctx := context.Background()
	st := memStores()
	w := wire(st)
	cat, sales := w.cat, w.sales(application.SalesOptions{})
	mk := func(name string) *drop.Drop {
		d, err := cat.Create(ctx, drop.Params{Name: name, Kind: drop.KindGeneral, Stock: 5, Admission: drop.AdmissionQueued, AdmitRate: 1000})
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	hung, other := mk("hung"), mk("other")
	if _, _, err := sales.JoinLine(ctx, hung.ID(), "buyer-hung"); err != nil {
		t.Fatal(err)
	}
	sl := &stuckLease{Lease: st.Lease, stuck: hung.ID(), release: make(chan struct{})}
	st.Lease = sl
	disp := application.NewDispatcher(st, w.cache, application.DispatcherOptions{Instance: "t", Tick: time.Millisecond}, nil)
	disp.Start()
	defer disp.Stop(ctx)
	defer close(sl.release) // before Stop, so the hung tick can end
	deadline := time.Now().Add(time.Minute)
	for sl.blocked.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dispatcher never served the hung drop")
		}
		time.Sleep(time.Millisecond)
	}
	// The buyer joins while the hung drop's call is stuck: served one after
	// the other, the drops would wait behind it for ever.
	if _, _, err := sales.JoinLine(ctx, other.ID(), "buyer-other"); err != nil {
		t.Fatal(err)
	}
	for {
		v, err := sales.LineStatus(ctx, other.ID(), "buyer-other", "")
		if err == nil && v.Status == waitline.Issued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other drop's buyer is still %+v, %v a minute after a drop hung", v, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if v, err := sales.LineStatus(ctx, hung.ID(), "buyer-hung", ""); err != nil || v.Status != waitline.Waiting {
		t.Fatalf("the hung drop's buyer = %+v, %v; want still waiting", v, err)
	}
}
