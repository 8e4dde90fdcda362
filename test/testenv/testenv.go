// Package testenv gives tests the real stores of this machine: the MariaDB
// and Redis that `make services` starts, a throwaway database per test, and a
// clean FASTDEAL_* environment. Tests use unique data and never truncate or
// flush what other packages share.
package testenv

import (
	"database/sql"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	driver "github.com/go-sql-driver/mysql"
)

// MySQLDSN is the test server's DSN: FASTDEAL_TEST_MYSQL_DSN, or the local
// MariaDB's database test as root.
func MySQLDSN() string {
	if dsn := os.Getenv("FASTDEAL_TEST_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	return "root@tcp(127.0.0.1:3306)/test?parseTime=true"
}

// RedisAddr is the test Redis: FASTDEAL_TEST_REDIS_ADDR, or 127.0.0.1:6379.
func RedisAddr() string {
	if a := os.Getenv("FASTDEAL_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// RedisClusterAddrs are the seed nodes of the test Redis Cluster:
// FASTDEAL_TEST_REDIS_CLUSTER (a comma list), or the local cluster that
// `make services` starts on 127.0.0.1:7001-7006 (infra/local/stack
// cluster-up). "off" returns nil: the caller skips, saying so.
func RedisClusterAddrs() []string {
	v := os.Getenv("FASTDEAL_TEST_REDIS_CLUSTER")
	switch v {
	case "off":
		return nil
	case "":
		v = DefaultRedisCluster
	}
	var out []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// DefaultRedisCluster is the local test cluster's nodes (REDIS_CLUSTER_PORT1
// and the five ports after it in infra/stack.env).
const DefaultRedisCluster = "127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003,127.0.0.1:7004,127.0.0.1:7005,127.0.0.1:7006"

var seq atomic.Int64

// FreshDatabase creates an empty database named after prefix on the test
// server, drops it when the test ends, and returns its DSN. It fails the
// test, naming the fix, when the server cannot be reached.
func FreshDatabase(t testing.TB, prefix string) string {
	t.Helper()
	cfg, err := driver.ParseDSN(MySQLDSN())
	if err != nil {
		t.Fatalf("FASTDEAL_TEST_MYSQL_DSN: %v", err)
	}
	name := fmt.Sprintf("%s_%d_%d", prefix, time.Now().UnixNano(), seq.Add(1))
	cfg.DBName = ""
	admin := cfg.FormatDSN()
	raw, err := sql.Open("mysql", admin)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := raw.Exec("CREATE DATABASE " + name); err != nil {
		t.Fatalf("create database on %s (`make services` starts MariaDB): %v", MySQLDSN(), err)
	}
	t.Cleanup(func() {
		if raw, err := sql.Open("mysql", admin); err == nil {
			_, _ = raw.Exec("DROP DATABASE IF EXISTS " + name)
			raw.Close()
		}
	})
	cfg.DBName = name
	cfg.ParseTime = true
	return cfg.FormatDSN()
}

// ClearFastdealEnv removes every FASTDEAL_* server setting for the rest of
// the test (restored afterwards), so a developer's shell cannot change what a
// test configures. The FASTDEAL_TEST_* variables, which point the tests at
// their stores, stay.
func ClearFastdealEnv(t *testing.T) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FASTDEAL_") && !strings.HasPrefix(k, "FASTDEAL_TEST_") {
			t.Setenv(k, "")
			os.Unsetenv(k)
		}
	}
}
