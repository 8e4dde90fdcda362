package invariants

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
	"github.com/redis/rueidis"
	"github.com/uptrace/bun"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/adapters/mysql"
	"github.com/fastdeal/fastdeal/adapters/redis"
	"github.com/fastdeal/fastdeal/application"
	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// This package migrates its own database so that it never races another
// package's migrations on the shared server.
const invariantsDB = "fastdeal_invariants"

var (
	dbOnce sync.Once
	db     *bun.DB
	dbErr  error
)

func mysqlDB(t *testing.T) *bun.DB {
	t.Helper()
	base := testenv.MySQLDSN()
	dbOnce.Do(func() {
		cfg, err := driver.ParseDSN(base)
		if err != nil {
			dbErr = err
			return
		}
		cfg.DBName = ""
		raw, err := sql.Open("mysql", cfg.FormatDSN())
		if err != nil {
			dbErr = err
			return
		}
		defer raw.Close()
		if _, dbErr = raw.Exec("CREATE DATABASE IF NOT EXISTS " + invariantsDB); dbErr != nil {
			return
		}
		cfg.DBName = invariantsDB
		// Thousands of claims queue on one row in TestMySQLInventory: on a
		// busy machine the pool's 3s lock wait (and 10s read timeout) end
		// waits that storeTimeout lets run, and the tests judge correctness,
		// not speed.
		if db, dbErr = mysql.Open(cfg.FormatDSN(), mysql.PoolOptions{MaxOpenConns: 32, DialTimeout: 10 * time.Second,
			LockWaitTimeout: storeTimeout, ReadTimeout: storeTimeout + time.Minute, WriteTimeout: storeTimeout + time.Minute}); dbErr != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_, dbErr = mysql.MigrateUp(ctx, db)
	})
	if dbErr != nil {
		t.Fatalf("MariaDB for the invariant tests (%s; `make services` starts it): %v", base, dbErr)
	}
	return db
}

func redisClient(t *testing.T) rueidis.Client {
	t.Helper()
	addr := testenv.RedisAddr()
	c, err := redis.NewClient(redis.ClientOptions{Addr: addr})
	if err != nil {
		t.Fatalf("Redis at %s for the invariant tests (`make services` starts it): %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// mysqlLedger starts a group-commit ledger and flushes it when the test ends.
func mysqlLedger(t *testing.T, db *bun.DB) *mysql.Ledger {
	l := mysql.NewLedger(db, mysql.LedgerOptions{Timeout: storeTimeout})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := l.Close(ctx); err != nil {
			t.Errorf("close ledger: %v", err)
		}
	})
	return l
}

func skipIfOff(t *testing.T, env string) {
	t.Helper()
	if strings.EqualFold(os.Getenv(env), "off") {
		t.Skipf("%s=off", env)
	}
}

// TestMemoryInventoryMySQLLedger: the inventory in memory, drops and
// issuances in MySQL through the group-commit writer.
func TestMemoryInventoryMySQLLedger(t *testing.T) {
	skipIfOff(t, "FASTDEAL_TEST_MYSQL_DSN")
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		db := mysqlDB(t)
		return application.Stores{Drops: mysql.NewDrops(db), Inventory: memory.NewInventory(), Line: memory.NewLine(),
			Ledger: mysqlLedger(t, db), Lease: memory.NewLease(c)}
	})
}

// TestMySQLInventory: FASTDEAL_INVENTORY=mysql, row locks in MariaDB.
func TestMySQLInventory(t *testing.T) {
	skipIfOff(t, "FASTDEAL_TEST_MYSQL_DSN")
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		db := mysqlDB(t)
		return application.Stores{Drops: mysql.NewDrops(db), Inventory: mysql.NewInventory(db), Line: memory.NewLine(),
			Ledger: mysqlLedger(t, db), Lease: memory.NewLease(c)}
	})
}

// TestRedisFullProfile: the full profile, Redis for the hot path and MySQL
// for durability.
func TestRedisFullProfile(t *testing.T) {
	skipIfOff(t, "FASTDEAL_TEST_MYSQL_DSN")
	skipIfOff(t, "FASTDEAL_TEST_REDIS_ADDR")
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		db, rc := mysqlDB(t), redisClient(t)
		return application.Stores{Drops: mysql.NewDrops(db), Inventory: redis.NewInventory(rc), Line: redis.NewLine(rc),
			Ledger: mysqlLedger(t, db), Lease: redis.NewLease(rc)}
	})
}

// TestRedisLockInventory: FASTDEAL_INVENTORY=redislock, a Redis lock around
// the MySQL row update.
func TestRedisLockInventory(t *testing.T) {
	skipIfOff(t, "FASTDEAL_TEST_MYSQL_DSN")
	skipIfOff(t, "FASTDEAL_TEST_REDIS_ADDR")
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		db, rc := mysqlDB(t), redisClient(t)
		var inv inventory.Inventory = redis.NewLockedInventory(rc, mysql.NewInventory(db),
			// Thousands of claimers queue on one drop lock here; the wait is
			// raised so the test proves correctness, not this strategy's speed.
			redis.LockOptions{Wait: storeTimeout})
		return application.Stores{Drops: mysql.NewDrops(db), Inventory: inv, Line: redis.NewLine(rc),
			Ledger: mysqlLedger(t, db), Lease: redis.NewLease(rc)}
	})
}

// TestRedisClusterFullProfile: the full profile on a Redis Cluster (the local
// one `make services` starts), rueidis' cluster client routing each drop's
// scripts to the master of its {drop:ID} slot; the drops of one run land on
// different masters.
func TestRedisClusterFullProfile(t *testing.T) {
	skipIfOff(t, "FASTDEAL_TEST_MYSQL_DSN")
	skipIfOff(t, "FASTDEAL_TEST_REDIS_CLUSTER")
	Run(t, func(t *testing.T, c clock.Clock) application.Stores {
		db, rc := mysqlDB(t), redisClusterClient(t)
		return application.Stores{Drops: mysql.NewDrops(db), Inventory: redis.NewInventory(rc), Line: redis.NewLine(rc),
			Ledger: mysqlLedger(t, db), Lease: redis.NewLease(rc)}
	})
}

func redisClusterClient(t *testing.T) rueidis.Client {
	t.Helper()
	addrs := testenv.RedisClusterAddrs()
	c, err := redis.NewClient(redis.ClientOptions{ClusterAddrs: addrs})
	if err != nil {
		t.Fatalf("Redis Cluster at %v for the invariant tests (`make services` starts it): %v", addrs, err)
	}
	t.Cleanup(c.Close)
	if !redis.IsCluster(c) {
		t.Fatalf("%v is not a Redis Cluster", addrs)
	}
	return c
}
