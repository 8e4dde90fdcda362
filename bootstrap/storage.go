package bootstrap

import (
	"context"
	"fmt"
	"strings"
	"time"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/redis/rueidis"
	"github.com/uptrace/bun"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/fastdeal/fastdeal/adapters/memory"
	"github.com/fastdeal/fastdeal/adapters/mysql"
	"github.com/fastdeal/fastdeal/adapters/redis"
	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/domain/lease"
	"github.com/fastdeal/fastdeal/domain/waitline"
)

// storageProfile picks the adapters for cfg: MySQL holds drops and the ledger
// when a DSN is set, Redis holds the line and the leases when an address is
// set, and the inventory follows FASTDEAL_INVENTORY. Whatever is not
// configured stays in memory, so the zero configuration is the embedded
// profile.
func storageProfile(cfg Config) fx.Option {
	opts := []fx.Option{fx.Provide(func() clock.Clock { return clock.System{} })}
	if cfg.MySQLDSN != "" {
		opts = append(opts, mysqlModule)
	} else {
		opts = append(opts, fx.Provide(
			fx.Annotate(memory.NewDrops, fx.As(new(drop.Repository))),
			func(m *Metrics) issuance.Ledger { return newTimedLedger(memory.NewLedger(), m.PersistLag) },
		))
	}
	if cfg.hasRedis() {
		opts = append(opts, redisModule)
	} else {
		opts = append(opts, fx.Provide(
			fx.Annotate(memory.NewLine, fx.As(new(waitline.WaitingLine))),
			fx.Annotate(memory.NewLease, fx.As(new(lease.Lease))),
		))
	}
	switch cfg.Inventory {
	case StrategyMySQL:
		opts = append(opts, fx.Provide(func(db *bun.DB) inventory.Inventory { return mysql.NewInventory(db) }))
	case StrategyRedis:
		opts = append(opts, fx.Provide(func(c rueidis.Client) inventory.Inventory { return redis.NewInventory(c) }))
	case StrategyRedisLock:
		opts = append(opts, fx.Provide(func(c rueidis.Client, db *bun.DB) inventory.Inventory {
			return redis.NewLockedInventory(c, mysql.NewInventory(db), redis.LockOptions{})
		}))
	default:
		opts = append(opts, fx.Provide(func() inventory.Inventory { return memory.NewInventory() }))
	}
	return fx.Module("storage", opts...)
}

// mysqlPingTimeout bounds the connection check made before the pool opens.
const mysqlPingTimeout = 10 * time.Second

// driverLogger sends the MySQL driver's messages to zap.
type driverLogger struct{ l *zap.Logger }

func (d driverLogger) Print(v ...any) { d.l.Warn(strings.TrimSpace(fmt.Sprint(v...))) }

// mysqlModule opens the pool, refuses to start on a database that is down or
// not migrated, and closes the ledger's writer (flushing it) at stop.
var mysqlModule = fx.Module("mysql",
	fx.Provide(
		func(lc fx.Lifecycle, cfg Config, log *zap.Logger) (*bun.DB, error) {
			// The driver prints to the standard logger; keep its lines in
			// the JSON log.
			_ = gomysql.SetLogger(driverLogger{log.Named("mysql")})
			if err := pingMySQL(cfg.MySQLDSN, mysqlPingTimeout); err != nil {
				return nil, err
			}
			db, err := mysql.Open(cfg.MySQLDSN, mysql.PoolOptions{MaxOpenConns: cfg.MySQLMaxOpen})
			if err != nil {
				return nil, settingError("FASTDEAL_MYSQL_DSN", cfg.MySQLDSN, err)
			}
			lc.Append(fx.Hook{
				OnStart: func(ctx context.Context) error {
					if err := db.PingContext(ctx); err != nil {
						return settingError("FASTDEAL_MYSQL_DSN", cfg.MySQLDSN, fmt.Errorf("MySQL does not answer: %w", err))
					}
					if err := mysql.CheckMigrated(ctx, db); err != nil {
						return settingError("FASTDEAL_MYSQL_DSN", cfg.MySQLDSN, fmt.Errorf("%w: run `fastdeal migrate up`", err))
					}
					return nil
				},
				OnStop: func(context.Context) error { return db.Close() },
			})
			return db, nil
		},
		fx.Annotate(mysql.NewDrops, fx.As(new(drop.Repository))),
		func(lc fx.Lifecycle, db *bun.DB, cfg Config, m *Metrics, log *zap.Logger) issuance.Ledger {
			l := mysql.NewLedger(db, mysql.LedgerOptions{MaxBatch: cfg.BatchMax, MaxWait: cfg.BatchWait, Timeout: cfg.StoreTimeout})
			m.Registry.MustRegister(newLedgerCollector(l))
			// Appended after the pool's hook, so it stops first: every queued
			// issuance is committed before the pool closes.
			lc.Append(fx.Hook{OnStop: func(ctx context.Context) error {
				if err := l.Close(ctx); err != nil {
					log.Error("flush ledger at stop", zap.Error(err))
					return err
				}
				return nil
			}})
			return newTimedLedger(l, m.PersistLag)
		},
		fx.Annotate(func(db *bun.DB) Check {
			return Check{Name: "mysql", Ping: func(ctx context.Context) error { return db.PingContext(ctx) }}
		}, fx.ResultTags(`group:"checks"`)),
	),
)

// redisModule connects through Sentinel when a master name is set, to a
// Redis Cluster when FASTDEAL_REDIS_CLUSTER=true or FASTDEAL_REDIS_ADDR is a
// comma list, else to FASTDEAL_REDIS_ADDR (rueidis detects a cluster node
// there too). rueidis follows a Sentinel failover and a cluster's topology by
// itself.
var redisModule = fx.Module("redis",
	fx.Provide(
		func(lc fx.Lifecycle, cfg Config, log *zap.Logger) (rueidis.Client, error) {
			opts := redis.ClientOptions{ClientName: "fastdeal-" + cfg.InstanceID, FlushDelay: cfg.RedisFlushDelay}
			switch seeds := cfg.redisClusterAddrs(); {
			case len(seeds) > 0:
				opts.ClusterAddrs = seeds
				if cfg.RedisMaster != "" {
					log.Warn("FASTDEAL_REDIS_CLUSTER=true: FASTDEAL_REDIS_MASTER and FASTDEAL_REDIS_SENTINELS are ignored")
				}
			case cfg.redisSentinel():
				opts.MasterName, opts.SentinelAddrs = cfg.RedisMaster, cfg.RedisSentinels
			default:
				opts.Addr = cfg.RedisAddr
			}
			c, err := redis.NewClient(opts)
			if err != nil {
				switch {
				case opts.MasterName != "":
					return nil, settingError("FASTDEAL_REDIS_SENTINELS", strings.Join(cfg.RedisSentinels, ","),
						fmt.Errorf("no Sentinel answers for master %q: %w", cfg.RedisMaster, err))
				case len(opts.ClusterAddrs) > 0:
					return nil, settingError("FASTDEAL_REDIS_ADDR", cfg.RedisAddr, fmt.Errorf("no Redis Cluster answers: %w", err))
				}
				return nil, settingError("FASTDEAL_REDIS_ADDR", cfg.RedisAddr, fmt.Errorf("Redis does not answer: %w", err))
			}
			if redis.IsCluster(c) {
				log.Info("redis: cluster mode", zap.String("seeds", cfg.RedisAddr))
			}
			lc.Append(fx.Hook{OnStop: func(context.Context) error { c.Close(); return nil }})
			return c, nil
		},
		fx.Annotate(redis.NewLine, fx.As(new(waitline.WaitingLine))),
		fx.Annotate(redis.NewLease, fx.As(new(lease.Lease))),
		fx.Annotate(redisCheck, fx.ResultTags(`group:"checks"`)),
	),
)

// redisCheck is the readiness check of Redis: PING, or for a cluster
// CLUSTER INFO, ready only while every slot is served; /readyz shows the
// cluster's state in one line.
func redisCheck(c rueidis.Client) Check {
	if !redis.IsCluster(c) {
		return Check{Name: "redis", Ping: func(ctx context.Context) error { return redis.Ping(ctx, c) }}
	}
	return Check{Name: "redis", Status: func(ctx context.Context) (string, error) {
		st, err := redis.CheckCluster(ctx, c)
		if err != nil {
			return "", err
		}
		return "ok (cluster: " + st.String() + ")", nil
	}}
}
