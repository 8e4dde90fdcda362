// Package contract holds one test suite per port, written against the port
// alone so that every adapter (memory, MySQL, Redis) runs the same suite
// unchanged from its own _test.go file:
//
//	func TestInventory(t *testing.T) {
//		contract.RunInventory(t, func(t *testing.T) inventory.Inventory { return inv })
//	}
//
// The suites never clean up and never truncate: every test works on drops,
// users and lease names with fresh random ids, so a factory may hand out one
// shared adapter over one shared store, and suites of several adapters may run
// against the same database at once.
package contract

import (
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

var ids clock.RandomIDs

// newID returns an id no other test run has used, here or in another process.
func newID(prefix string) string { return prefix + "-" + ids.NewID() }

// baseTime is whole seconds in UTC so that it survives a round trip through
// any store (a DATETIME column, a Unix score) unchanged.
func baseTime() time.Time { return time.Now().UTC().Truncate(time.Second) }

func mustDrop(t *testing.T, p drop.Params) *drop.Drop {
	t.Helper()
	if p.ID == "" {
		p.ID = newID("drop")
	}
	if p.Name == "" {
		p.Name = "contract " + p.ID
	}
	if p.CreatedAt.IsZero() {
		p.CreatedAt = baseTime()
	}
	d, err := drop.New(p)
	if err != nil {
		t.Fatalf("drop.New: %v", err)
	}
	return d
}

func generalDrop(t *testing.T, stock, limit int) *drop.Drop {
	t.Helper()
	return mustDrop(t, drop.Params{Kind: drop.KindGeneral, Stock: stock, PerUserLimit: limit})
}

func seatedDrop(t *testing.T, seats, limit int) *drop.Drop {
	t.Helper()
	return mustDrop(t, drop.Params{Kind: drop.KindSeated, Seats: seatLabels(seats), PerUserLimit: limit})
}

func seatLabels(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "S" + strconv.Itoa(i+1)
	}
	return s
}

// users returns n fresh user ids.
func users(n int) []string {
	u := make([]string, n)
	for i := range u {
		u[i] = newID("user")
	}
	return u
}

// issuanceFor returns a candidate issuance of d for user, issued at at.
func issuanceFor(d *drop.Drop, user, seat string, at time.Time) issuance.Issuance {
	return issuance.Issuance{
		ID: newID("iss"), DropID: d.ID(), UserID: user, Seat: seat,
		Code: ids.NewCode(), IssuedAt: at,
	}
}

// sameIssuance fails t unless got and want agree on every field.
func sameIssuance(t *testing.T, got, want issuance.Issuance) {
	t.Helper()
	if got.ID != want.ID || got.DropID != want.DropID || got.UserID != want.UserID ||
		got.Seat != want.Seat || got.N != want.N || got.Code != want.Code ||
		!got.IssuedAt.Equal(want.IssuedAt) {
		t.Errorf("issuance = %+v, want %+v", got, want)
	}
}

func issuanceIDs(is []issuance.Issuance) []string {
	out := make([]string, len(is))
	for i, x := range is {
		out[i] = x.ID
	}
	return out
}

// inParallel runs fn(0..n-1) in n goroutines released together, so that
// they contend rather than run one after another, and waits for all.
func inParallel(n int, fn func(i int)) {
	ready := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-ready
			fn(i)
		})
	}
	close(ready)
	wg.Wait()
}
