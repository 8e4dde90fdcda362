package invariants

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/clock"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m, leakOptions()...) }

func TestMemory(t *testing.T) {
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		return application.Stores{
			Drops: memory.NewDrops(), Inventory: memory.NewInventory(), Line: memory.NewLine(),
			Ledger: memory.NewLedger(), Lease: memory.NewLease(c),
		}
	})
}
