package contract_test

import (
	"sync"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/lease"
	"github.com/fastdeal/fastdeal/domain/waitline"
	"github.com/fastdeal/fastdeal/test/contract"
	"github.com/fastdeal/fastdeal/test/testenv"
)

func TestMain(m *testing.M) { testenv.VerifyTestMain(m) }

// The memory adapters are shared across subtests, as a real store would be,
// so the suites also prove they keep drops apart.

func TestMemoryInventory(t *testing.T) {
	inv := memory.NewInventory()
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}

func TestMemoryLine(t *testing.T) {
	l := memory.NewLine()
	contract.RunLine(t, func(*testing.T) waitline.WaitingLine { return l })
}

func TestMemoryLedger(t *testing.T) {
	l := memory.NewLedger()
	contract.RunLedger(t, func(*testing.T) issuance.Ledger { return l })
}

func TestMemoryDrops(t *testing.T) {
	r := memory.NewDrops()
	contract.RunDrops(t, func(*testing.T) drop.Repository { return r })
}

func TestMemoryLease(t *testing.T) {
	contract.RunLease(t, func(*testing.T) (lease.Lease, func(time.Duration)) {
		c := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		return memory.NewLease(c), c.advance
	})
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
