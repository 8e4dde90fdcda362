package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/redis/rueidis"
)

// ClientOptions says how to reach Redis: either Addr (standalone) or
// MasterName with SentinelAddrs (Sentinel, failover followed by rueidis).
type ClientOptions struct {
	// Addr is host:port of a standalone Redis.
	Addr string
	// MasterName is the master set the Sentinels monitor; setting it selects
	// Sentinel mode and Addr is then ignored.
	MasterName string
	// SentinelAddrs are host:port of the Sentinels.
	SentinelAddrs []string
	// Username and Password authenticate to Redis (not to the Sentinels).
	Username, Password string
	// SentinelPassword authenticates to the Sentinels, if they require it.
	SentinelPassword string
	// DB selects a logical database (standalone and Sentinel only).
	DB int
	// DialTimeout bounds connecting, including the first connection made by
	// NewClient (default 2s), so a dead Redis fails start-up quickly.
	DialTimeout time.Duration
	// ReadWriteTimeout bounds how long a connection waits for replies before
	// it is deemed dead and closed, failing its in-flight commands with an
	// error that maps to ErrUnavailable (default 3s). Per-request deadlines
	// come from the context passed to each call and are usually shorter.
	ReadWriteTimeout time.Duration
	// ClientName is sent with CLIENT SETNAME so the connections are
	// recognisable in CLIENT LIST (default "fastdeal").
	ClientName string
}

// Default timeouts of ClientOptions.
const (
	DefaultDialTimeout      = 2 * time.Second
	DefaultReadWriteTimeout = 3 * time.Second
)

// rueidisOptions maps o to rueidis' options. Client-side caching is off: the
// adapters read nothing that could be served from a cache, and tracking would
// cost every connection invalidation traffic.
func (o ClientOptions) rueidisOptions() (rueidis.ClientOption, error) {
	dial := o.DialTimeout
	if dial <= 0 {
		dial = DefaultDialTimeout
	}
	rw := o.ReadWriteTimeout
	if rw <= 0 {
		rw = DefaultReadWriteTimeout
	}
	name := o.ClientName
	if name == "" {
		name = "fastdeal"
	}
	opt := rueidis.ClientOption{
		Username:         o.Username,
		Password:         o.Password,
		ClientName:       name,
		SelectDB:         o.DB,
		Dialer:           net.Dialer{Timeout: dial, KeepAlive: time.Second},
		ConnWriteTimeout: rw,
		DisableCache:     true,
	}
	switch {
	case o.MasterName != "":
		if len(o.SentinelAddrs) == 0 {
			return opt, errors.New("redis: MasterName set without SentinelAddrs")
		}
		opt.InitAddress = append([]string(nil), o.SentinelAddrs...)
		opt.Sentinel = rueidis.SentinelOption{
			MasterSet:  o.MasterName,
			Password:   o.SentinelPassword,
			ClientName: name,
			Dialer:     net.Dialer{Timeout: dial, KeepAlive: time.Second},
		}
	case o.Addr != "":
		opt.InitAddress = []string{o.Addr}
	default:
		return opt, errors.New("redis: neither Addr nor MasterName set")
	}
	return opt, nil
}

// NewClient connects to Redis as o says. It dials before returning, so an
// unreachable Redis is an error here rather than on the first request. The
// caller closes the client.
func NewClient(o ClientOptions) (rueidis.Client, error) {
	opt, err := o.rueidisOptions()
	if err != nil {
		return nil, err
	}
	c, err := rueidis.NewClient(opt)
	if err != nil {
		return nil, fmt.Errorf("redis: connect %v: %w", opt.InitAddress, err)
	}
	return c, nil
}

// Ping checks that Redis answers, for readiness probes.
func Ping(ctx context.Context, client rueidis.Client) error {
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}
