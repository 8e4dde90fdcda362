package contract_test

import (
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/adapters/mysql"
	"github.com/fastdeal/fastdeal/adapters/redis"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/lease"
	"github.com/fastdeal/fastdeal/domain/waitline"
	"github.com/fastdeal/fastdeal/test/contract"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// redisClient connects to the Redis named by FASTDEAL_TEST_REDIS_ADDR (the
// local server by default) for one top-level test. An unreachable server
// fails the test: only FASTDEAL_TEST_REDIS_ADDR=off skips it. The suites use
// fresh ids, so they share the server with anything else and never flush it.
func redisClient(t *testing.T) rueidis.Client {
	t.Helper()
	addr := os.Getenv("FASTDEAL_TEST_REDIS_ADDR")
	switch addr {
	case "off":
		t.Skip("FASTDEAL_TEST_REDIS_ADDR=off: Redis contract suites disabled on purpose")
	case "":
		addr = "127.0.0.1:6379"
	}
	c, err := redis.NewClient(redis.ClientOptions{Addr: addr})
	if err != nil {
		t.Fatalf("Redis at %q is unreachable: %v\n(start it, point FASTDEAL_TEST_REDIS_ADDR elsewhere, or set it to \"off\")", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestRedisInventory(t *testing.T) {
	inv := redis.NewInventory(redisClient(t))
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}

func TestRedisLine(t *testing.T) {
	l := redis.NewLine(redisClient(t))
	contract.RunLine(t, func(*testing.T) waitline.WaitingLine { return l })
}

func TestRedisLease(t *testing.T) {
	l := redis.NewLease(redisClient(t))
	contract.RunLease(t, func(*testing.T) (lease.Lease, func(time.Duration)) { return l, time.Sleep })
}

// The redislock strategy as it runs in production: a Redis lock per drop
// around the MySQL inventory.
func TestRedisLockedMySQLInventory(t *testing.T) {
	inv := redis.NewLockedInventory(redisClient(t), mysql.NewInventory(mysqlDB(t)), redis.LockOptions{Wait: 30 * time.Second})
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}

// The same strategy per seat, over the Redis inventory, so the lock's own
// behaviour is checked without MySQL.
func TestRedisLockedRedisInventory(t *testing.T) {
	c := redisClient(t)
	inv := redis.NewLockedInventory(c, redis.NewInventory(c), redis.LockOptions{PerSeat: true, Wait: 30 * time.Second})
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}

// redisClusterClient connects to the test Redis Cluster (testenv.RedisClusterAddrs:
// the local one `make services` starts on 127.0.0.1:7001-7006) for one
// top-level test, with rueidis' cluster client. Unreachable fails the test;
// only FASTDEAL_TEST_REDIS_CLUSTER=off skips it. The suites' fresh drop ids
// spread their keys over every master.
func redisClusterClient(t *testing.T) rueidis.Client {
	t.Helper()
	addrs := testenv.RedisClusterAddrs()
	if addrs == nil {
		t.Skip("FASTDEAL_TEST_REDIS_CLUSTER=off: Redis Cluster contract suites disabled on purpose")
	}
	c, err := redis.NewClient(redis.ClientOptions{ClusterAddrs: addrs})
	if err != nil {
		t.Fatalf("Redis Cluster at %v is unreachable: %v\n(`make services` starts it; or point FASTDEAL_TEST_REDIS_CLUSTER elsewhere, or set it to \"off\")", addrs, err)
	}
	t.Cleanup(c.Close)
	if !redis.IsCluster(c) {
		t.Fatalf("%v is not a Redis Cluster", addrs)
	}
	return c
}

func TestRedisClusterInventory(t *testing.T) {
	inv := redis.NewInventory(redisClusterClient(t))
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}

func TestRedisClusterLine(t *testing.T) {
	l := redis.NewLine(redisClusterClient(t))
	contract.RunLine(t, func(*testing.T) waitline.WaitingLine { return l })
}

func TestRedisClusterLease(t *testing.T) {
	l := redis.NewLease(redisClusterClient(t))
	contract.RunLease(t, func(*testing.T) (lease.Lease, func(time.Duration)) { return l, time.Sleep })
}

// The per-seat lock keys ({drop:ID}:lock:SEAT) share the drop's slot too.
func TestRedisClusterLockedRedisInventory(t *testing.T) {
	c := redisClusterClient(t)
	inv := redis.NewLockedInventory(c, redis.NewInventory(c), redis.LockOptions{PerSeat: true, Wait: 30 * time.Second})
	contract.RunInventory(t, func(*testing.T) inventory.Inventory { return inv })
}
