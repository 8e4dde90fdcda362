// Package bootstrap wires fastdeal together with fx: configuration, logging,
// the storage profile (embedded memory, or MySQL + Redis), the use cases, the
// background workers and the HTTP listeners. It is the only package that
// imports fx.
package bootstrap

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// Inventory strategies selectable with FASTDEAL_INVENTORY.
const (
	StrategyMemory    = "memory"
	StrategyMySQL     = "mysql"
	StrategyRedis     = "redis"
	StrategyRedisLock = "redislock"
)

// Config is every setting, read from FASTDEAL_* environment variables. The
// defaults let `fastdeal serve` start with no configuration at all.
type Config struct {
	HTTPAddr  string `env:"FASTDEAL_HTTP_ADDR" envDefault:":8080"`
	AdminAddr string `env:"FASTDEAL_ADMIN_ADDR" envDefault:"127.0.0.1:6060"`
	// AdminToken guards /v1/admin; empty makes a random one, logged once.
	AdminToken string `env:"FASTDEAL_ADMIN_TOKEN"`
	// JWTSecret verifies buyer tokens; empty accepts X-User-ID (embedded/dev only).
	JWTSecret string `env:"FASTDEAL_JWT_SECRET"`
	// PublicMetrics also serves /metrics on the public listener (HTTPAddr);
	// by default it is only on the admin listener, one instance per scrape.
	PublicMetrics bool `env:"FASTDEAL_PUBLIC_METRICS"`

	MySQLDSN string `env:"FASTDEAL_MYSQL_DSN"`
	// RedisAddr is one host:port, or a comma list of Redis Cluster seed nodes.
	RedisAddr string `env:"FASTDEAL_REDIS_ADDR"`
	// RedisCluster requires FASTDEAL_REDIS_ADDR to be a Redis Cluster (a
	// comma list always is one; one address is a cluster when its node says
	// so). It takes precedence over the Sentinel settings.
	RedisCluster   bool     `env:"FASTDEAL_REDIS_CLUSTER"`
	RedisMaster    string   `env:"FASTDEAL_REDIS_MASTER"`
	RedisSentinels []string `env:"FASTDEAL_REDIS_SENTINELS" envSeparator:","`
	// RedisFlushDelay lets each Redis connection gather commands for up to
	// this long after a write, so one write carries many under load: fewer
	// system calls in both the app and Redis for at most this much latency.
	RedisFlushDelay time.Duration `env:"FASTDEAL_REDIS_FLUSH_DELAY" envDefault:"100us"`
	// Inventory picks the strategy; empty means redis with Redis, mysql with
	// MySQL only, memory otherwise.
	Inventory string `env:"FASTDEAL_INVENTORY"`

	BodyLimit   int     `env:"FASTDEAL_BODY_LIMIT" envDefault:"4194304"`
	RatePerUser float64 `env:"FASTDEAL_RATE_PER_USER" envDefault:"20"`
	RateBurst   int     `env:"FASTDEAL_RATE_BURST" envDefault:"40"`

	// StoreTimeout bounds a request's storage work; past it the buyer gets 503.
	StoreTimeout time.Duration `env:"FASTDEAL_STORE_TIMEOUT" envDefault:"2s"`
	SyncEvery    int           `env:"FASTDEAL_SYNC_EVERY" envDefault:"100"`
	SyncInterval time.Duration `env:"FASTDEAL_SYNC_INTERVAL" envDefault:"1s"`
	// BatchMax and BatchWait are the MySQL ledger's MaxBatch and MaxWait:
	// BatchWait caps how long a batch gathers while another is committing.
	BatchMax     int           `env:"FASTDEAL_BATCH_MAX" envDefault:"256"`
	BatchWait    time.Duration `env:"FASTDEAL_BATCH_WAIT" envDefault:"2ms"`
	MySQLMaxOpen int           `env:"FASTDEAL_MYSQL_MAX_OPEN" envDefault:"32"`
	LeaseTTL     time.Duration `env:"FASTDEAL_LEASE_TTL" envDefault:"3s"`
	// LineSecret signs line tickets; every instance must share it, so a
	// deployment sets it. Empty makes a random one per instance (a ticket
	// then verifies only where it was made; polls elsewhere read the store).
	LineSecret string `env:"FASTDEAL_LINE_SECRET"`
	// PollMax is the longest poll_after_ms a waiting buyer is given.
	PollMax time.Duration `env:"FASTDEAL_POLL_MAX" envDefault:"30s"`

	ShutdownTimeout time.Duration `env:"FASTDEAL_SHUTDOWN_TIMEOUT" envDefault:"10s"`
	InstanceID      string        `env:"FASTDEAL_INSTANCE_ID"`
	LogLevel        string        `env:"FASTDEAL_LOG_LEVEL" envDefault:"info"`
	// LogFormat is json (default, for machines) or console (for people).
	LogFormat string `env:"FASTDEAL_LOG_FORMAT" envDefault:"json"`

	// Demo creates two demo drops at start (set by `serve --demo`).
	Demo bool `env:"FASTDEAL_DEMO"`
	// generatedToken records that AdminToken was made up at start.
	generatedToken bool
}

// LoadConfig reads the environment and fills in what is left empty.
func LoadConfig() (Config, error) {
	cfg, err := env.ParseAs[Config]()
	if err != nil {
		return Config{}, envError(err)
	}
	return cfg.normalize()
}

func (c Config) normalize() (Config, error) {
	if c.AdminToken == "" {
		c.AdminToken = randomHex(16)
		c.generatedToken = true
	}
	if c.InstanceID == "" {
		host, _ := os.Hostname()
		c.InstanceID = host + "-" + randomHex(4)
	}
	c.Inventory = strings.ToLower(strings.TrimSpace(c.Inventory))
	if c.Inventory == "" {
		switch {
		case c.hasRedis():
			c.Inventory = StrategyRedis
		case c.MySQLDSN != "":
			c.Inventory = StrategyMySQL
		default:
			c.Inventory = StrategyMemory
		}
	}
	switch c.Inventory {
	case StrategyMemory:
	case StrategyMySQL:
		if c.MySQLDSN == "" {
			return c, fmt.Errorf("FASTDEAL_INVENTORY=mysql needs FASTDEAL_MYSQL_DSN")
		}
	case StrategyRedis:
		if !c.hasRedis() {
			return c, fmt.Errorf("FASTDEAL_INVENTORY=redis needs FASTDEAL_REDIS_ADDR (or FASTDEAL_REDIS_MASTER with FASTDEAL_REDIS_SENTINELS)")
		}
	case StrategyRedisLock:
		if !c.hasRedis() || c.MySQLDSN == "" {
			return c, fmt.Errorf("FASTDEAL_INVENTORY=redislock needs both FASTDEAL_REDIS_ADDR and FASTDEAL_MYSQL_DSN")
		}
	default:
		return c, fmt.Errorf("FASTDEAL_INVENTORY=%q: want memory, mysql, redis or redislock", c.Inventory)
	}
	if err := checkRedisAddr(c.RedisAddr, c.RedisCluster); err != nil {
		return c, err
	}
	if c.RedisCluster && c.RedisAddr == "" {
		return c, settingError("FASTDEAL_REDIS_ADDR", "", errors.New("FASTDEAL_REDIS_CLUSTER=true needs the cluster's nodes here (a comma list of host:port)"))
	}
	if c.RedisMaster != "" && len(c.RedisSentinels) == 0 && !c.RedisCluster {
		return c, fmt.Errorf("FASTDEAL_REDIS_MASTER is set but FASTDEAL_REDIS_SENTINELS is empty")
	}
	if c.BodyLimit < 1024 {
		return c, fmt.Errorf("FASTDEAL_BODY_LIMIT=%d: must be at least 1024 bytes", c.BodyLimit)
	}
	if c.RedisFlushDelay < 0 || c.RedisFlushDelay > 10*time.Millisecond {
		return c, fmt.Errorf("FASTDEAL_REDIS_FLUSH_DELAY=%s: must be between 0 and 10ms", c.RedisFlushDelay)
	}
	if c.PollMax < time.Second || c.PollMax > time.Minute {
		return c, fmt.Errorf("FASTDEAL_POLL_MAX=%s: must be between 1s and 1m", c.PollMax)
	}
	if c.LineSecret != "" && len(c.LineSecret) < 16 {
		return c, fmt.Errorf("FASTDEAL_LINE_SECRET: must be at least 16 characters")
	}
	if c.RatePerUser <= 0 || c.RateBurst < 1 {
		return c, fmt.Errorf("FASTDEAL_RATE_PER_USER and FASTDEAL_RATE_BURST must be positive")
	}
	return c, nil
}

func (c Config) hasRedis() bool { return c.RedisAddr != "" || c.RedisMaster != "" }

// redisSentinel says whether Redis is reached through Sentinel: a master name
// is set and cluster mode is not.
func (c Config) redisSentinel() bool { return c.RedisMaster != "" && !c.RedisCluster }

// redisClusterAddrs are the cluster's seed nodes when cluster mode is
// selected (FASTDEAL_REDIS_CLUSTER=true or a comma list), else nil.
func (c Config) redisClusterAddrs() []string {
	if c.redisSentinel() {
		return nil
	}
	addrs := splitAddrs(c.RedisAddr)
	if c.RedisCluster || len(addrs) > 1 {
		return addrs
	}
	return nil
}

func splitAddrs(s string) []string {
	var out []string
	for _, a := range strings.Split(s, ",") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// envError names the environment variable and its value for each setting
// that did not parse, one line per problem; env itself names the Go field.
func envError(err error) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("configuration: %w", err)
	}
	out := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			out = append(out, e)
			continue
		}
		f, ok := reflect.TypeFor[Config]().FieldByName(pe.Name)
		if !ok || f.Tag.Get("env") == "" {
			out = append(out, e)
			continue
		}
		name := f.Tag.Get("env")
		cause := pe.Err
		for errors.Unwrap(cause) != nil {
			cause = errors.Unwrap(cause)
		}
		out = append(out, settingError(name, os.Getenv(name), fmt.Errorf("is not a valid %s: %v", kindOf(f.Type), cause)))
	}
	return errors.Join(out...)
}

func kindOf(t reflect.Type) string {
	switch {
	case t == reflect.TypeFor[time.Duration]():
		return "duration (e.g. 500ms, 2s, 1m)"
	case t.Kind() == reflect.Bool:
		return "boolean (true or false)"
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Uint64:
		return "integer"
	case t.Kind() == reflect.Float64 || t.Kind() == reflect.Float32:
		return "number"
	}
	return t.String()
}
