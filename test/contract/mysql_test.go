package contract_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/adapters/mysql"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/test/contract"
)

// mysqlDB opens the MariaDB named by FASTDEAL_TEST_MYSQL_DSN (the local
// server by default), migrated up, for one top-level test. An unreachable
// server fails the test: only FASTDEAL_TEST_MYSQL_DSN=off skips it.
func mysqlDB(t *testing.T) *bun.DB {
	t.Helper()
	dsn := os.Getenv("FASTDEAL_TEST_MYSQL_DSN")
	switch dsn {
	case "off":
		t.Skip("FASTDEAL_TEST_MYSQL_DSN=off: MySQL contract suites disabled on purpose")
	case "":
		dsn = "root@tcp(127.0.0.1:3306)/test?parseTime=true"
	}
	db, err := mysql.Open(dsn, mysql.PoolOptions{})
	if err != nil {
		t.Fatalf("mysql.Open(%q): %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at %q is unreachable: %v\n(start it, point FASTDEAL_TEST_MYSQL_DSN elsewhere, or set it to \"off\")", dsn, err)
	}
	if _, err := mysql.MigrateUp(ctx, db); err != nil {
		t.Fatalf("migrate up: %v", err)
	}
	return db
}

// Each suite shares one adapter over one pool across its subtests, as
// replicas share one database; the suites use fresh ids, never truncate.

func TestMySQLDrops(t *testing.T) {
	r := mysql.NewDrops(mysqlDB(t))
	contract.RunDrops(t, func(*testing.T) drop.Repository { return r })
}

func TestMySQLLedger(t *testing.T) {
	// The contract is about outcomes: a timeout far past the 2s default keeps
	// a slow MariaDB on a busy machine from turning them into ErrUnavailable.
	l := mysql.NewLedger(mysqlDB(t), mysql.LedgerOptions{Timeout: 30 * time.Second})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("Ledger.Close: %v", err)
		}
	})
	contract.RunLedger(t, func(*testing.T) issuance.Ledger { return l })
}

func TestMySQLInventory(t *testing.T) {
	inv := mysql.NewInventory(mysqlDB(t))
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}
