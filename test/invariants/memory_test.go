package invariants

import (
	"fmt"
	"os"
	"testing"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/test/testenv"
)

func TestMain(m *testing.M) {
	code := m.Run()
	// The MySQL pool is shared by every test of the package; closing it
	// first lets goleak see only goroutines that really leaked.
	if db != nil {
		_ = db.Close()
	}
	if code == 0 {
		if err := testenv.FindLeaks(leakOptions()...); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func TestMemory(t *testing.T) {
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		return application.Stores{
			Drops: memory.NewDrops(), Inventory: memory.NewInventory(), Line: memory.NewLine(),
			Ledger: memory.NewLedger(), Lease: memory.NewLease(c),
		}
	})
}
