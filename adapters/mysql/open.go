package mysql

import (
	"database/sql"
	"fmt"
	"strconv"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/mysqldialect"
)

// PoolOptions sizes the connection pool and bounds how long a dead or stuck
// server can hold a caller. Zero fields take the defaults documented on each.
type PoolOptions struct {
	// MaxOpenConns caps connections per process (default 32). The group-commit
	// writer needs one; the rest serve reads and, with the mysql inventory
	// strategy, claim transactions that queue on the same row lock anyway, so
	// more connections add lock waiters, not throughput. 4 replicas x 32 stays
	// under MariaDB's default max_connections of 151.
	MaxOpenConns int
	// MaxIdleConns keeps connections warm between bursts (default MaxOpenConns).
	// database/sql's default of 2 makes every spike pay a TCP and auth
	// handshake per extra connection, exactly when latency matters most.
	MaxIdleConns int
	// ConnMaxLifetime recycles connections (default 5m) so that after a
	// failover or a proxy change the pool drifts to the new server, well
	// before the server's wait_timeout (8h by default) kills them under us.
	ConnMaxLifetime time.Duration
	// ConnMaxIdleTime closes connections idle this long (default 1m), giving
	// back server threads after a spike.
	ConnMaxIdleTime time.Duration
	// DialTimeout bounds a TCP connect (default 1s). The server is on the local
	// network; a connect slower than this means it is down, and claims must
	// answer 503 quickly instead of waiting for the OS's minutes-long timeout.
	DialTimeout time.Duration
	// ReadTimeout and WriteTimeout bound one network I/O (default 10s each):
	// the last resort against a server that accepted a query and went silent.
	// They are longer than LockWaitTimeout so an ordinary lock wait ends with
	// a clean error instead of a killed connection.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration
	// LockWaitTimeout sets innodb_lock_wait_timeout for each session (default
	// 3s, whole seconds). InnoDB's default of 50s would let a queue of claims
	// on one hot row hold connections long after their buyers gave up.
	LockWaitTimeout time.Duration
}

func (o PoolOptions) withDefaults() PoolOptions {
	if o.MaxOpenConns <= 0 {
		o.MaxOpenConns = 32
	}
	if o.MaxIdleConns <= 0 {
		o.MaxIdleConns = o.MaxOpenConns
	}
	if o.ConnMaxLifetime <= 0 {
		o.ConnMaxLifetime = 5 * time.Minute
	}
	if o.ConnMaxIdleTime <= 0 {
		o.ConnMaxIdleTime = time.Minute
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = time.Second
	}
	if o.ReadTimeout <= 0 {
		o.ReadTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 10 * time.Second
	}
	if o.LockWaitTimeout < time.Second {
		o.LockWaitTimeout = 3 * time.Second
	}
	return o
}

// Open returns a bun.DB for dsn (go-sql-driver format) with the pool sized by
// opts. It forces parseTime and UTC on both the driver and the dialect, so
// times written and read are the same instants whatever the DSN or the
// process's time zone says; timeouts the DSN sets explicitly are kept.
// Open does not require the server to be up (callers ping it at start-up):
// bun's dialect probes the server version once, and if that fails after
// DialTimeout it only logs and the pool still works once the server is back.
func Open(dsn string, opts PoolOptions) (*bun.DB, error) {
	cfg, err := gomysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("mysql: parse dsn: %w", err)
	}
	opts = opts.withDefaults()
	cfg.ParseTime = true
	cfg.Loc = time.UTC
	// A server demoted to read-only during a failover then drops the
	// connection, so the pool reconnects to the new primary instead of
	// failing every write with error 1290.
	cfg.RejectReadOnly = true
	if cfg.Timeout == 0 {
		cfg.Timeout = opts.DialTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = opts.ReadTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = opts.WriteTimeout
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["innodb_lock_wait_timeout"]; !ok {
		cfg.Params["innodb_lock_wait_timeout"] = strconv.Itoa(int(opts.LockWaitTimeout / time.Second))
	}
	connector, err := gomysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("mysql: connector: %w", err)
	}
	sqldb := sql.OpenDB(connector)
	sqldb.SetMaxOpenConns(opts.MaxOpenConns)
	sqldb.SetMaxIdleConns(opts.MaxIdleConns)
	sqldb.SetConnMaxLifetime(opts.ConnMaxLifetime)
	sqldb.SetConnMaxIdleTime(opts.ConnMaxIdleTime)
	return bun.NewDB(sqldb, mysqldialect.New(mysqldialect.WithTimeLocation("UTC"))), nil
}
