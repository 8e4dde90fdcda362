package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"
)

// ClientOptions says how to reach Redis: Addr (standalone, or one node of a
// Cluster, which rueidis detects), ClusterAddrs (Redis Cluster seed nodes), or
// MasterName with SentinelAddrs (Sentinel, failover followed by rueidis).
type ClientOptions struct {
	// Addr is host:port of a standalone Redis. When it is a Redis Cluster
	// node, rueidis detects the cluster and uses its cluster client.
	Addr string
	// ClusterAddrs are host:port of Redis Cluster nodes (any of them, seeds
	// for discovering the rest); setting it selects Cluster mode and Addr is
	// then ignored. NewClient fails when they are not a cluster.
	ClusterAddrs []string
	// MasterName is the master set the Sentinels monitor; setting it selects
	// Sentinel mode and Addr is then ignored.
	MasterName string
	// SentinelAddrs are host:port of the Sentinels.
	SentinelAddrs []string
	// Username and Password authenticate to Redis (not to the Sentinels).
	Username, Password string
	// SentinelPassword authenticates to the Sentinels, if they require it.
	SentinelPassword string
	// DB selects a logical database (standalone and Sentinel only; a
	// cluster has database 0 only).
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
	// FlushDelay is rueidis' MaxFlushDelay: after each write to a
	// connection its pipeline waits up to this long for more commands, so
	// that under load one write carries many of them. Zero writes at once.
	FlushDelay time.Duration
}

// Default timeouts of ClientOptions.
const (
	DefaultDialTimeout      = 2 * time.Second
	DefaultReadWriteTimeout = 3 * time.Second
)

// clusterRefresh is how often the cluster client re-reads the topology in
// the background; it also re-reads it at once on MOVED and on a dead node.
const clusterRefresh = 5 * time.Second

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
		MaxFlushDelay:    o.FlushDelay,
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
	case len(o.ClusterAddrs) > 0:
		if o.DB != 0 {
			return opt, errors.New("redis: a cluster has database 0 only")
		}
		opt.InitAddress = append([]string(nil), o.ClusterAddrs...)
		// Spread the first topology reads over the seeds, and re-read the
		// topology now and then besides after each MOVED or dead connection,
		// so a replica promoted by a failover is found soon.
		opt.ShuffleInit = true
		opt.ClusterOption = rueidis.ClusterOption{ShardsRefreshInterval: clusterRefresh}
	case o.Addr != "":
		opt.InitAddress = []string{o.Addr}
	default:
		return opt, errors.New("redis: neither Addr, ClusterAddrs nor MasterName set")
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
	if len(o.ClusterAddrs) > 0 && o.MasterName == "" && c.Mode() != rueidis.ClientModeCluster {
		c.Close()
		return nil, fmt.Errorf("redis: %v is not a Redis Cluster (cluster mode needs cluster-enabled nodes)", opt.InitAddress)
	}
	return c, nil
}

// IsCluster says whether client talks to a Redis Cluster.
func IsCluster(client rueidis.Client) bool { return client.Mode() == rueidis.ClientModeCluster }

// ClusterState is what one cluster node says of the whole cluster (CLUSTER
// INFO), for readiness.
type ClusterState struct {
	// State is cluster_state: "ok" while every slot is served.
	State string
	// SlotsOK is how many of the 16384 slots are served by a master that is
	// not flagged as failing.
	SlotsOK int
	// Masters is how many masters serve slots (cluster_size); Nodes counts
	// every known node, replicas included.
	Masters, Nodes int
}

// String is the state in one line, e.g. "ok, 3 masters, 6 nodes, 16384/16384 slots".
func (s ClusterState) String() string {
	return fmt.Sprintf("%s, %d masters, %d nodes, %d/16384 slots", s.State, s.Masters, s.Nodes, s.SlotsOK)
}

// CheckCluster asks a node for CLUSTER INFO (the first of the known nodes
// that answers, so a dead one does not decide) and fails unless the cluster
// says its state is ok. With cluster-require-full-coverage no (as the local
// cluster runs) that stays true while one master is down and its replica not
// yet promoted: the other shards serve, and SlotsOK shows the gap.
func CheckCluster(ctx context.Context, client rueidis.Client) (ClusterState, error) {
	var info string
	err := errors.New("redis cluster: no node known")
	for addr, node := range client.Nodes() {
		if info, err = node.Do(ctx, node.B().ClusterInfo().Build()).ToString(); err == nil {
			break
		}
		err = fmt.Errorf("redis cluster info from %s: %w", addr, err)
		if ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		return ClusterState{}, err
	}
	var st ClusterState
	for _, line := range strings.Split(info, "\n") {
		// RESP3 answers a verbatim string, "txt:" before its first line.
		k, v, ok := strings.Cut(strings.TrimPrefix(strings.TrimSpace(line), "txt:"), ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(v)
		switch k {
		case "cluster_state":
			st.State = v
		case "cluster_slots_ok":
			st.SlotsOK = n
		case "cluster_size":
			st.Masters = n
		case "cluster_known_nodes":
			st.Nodes = n
		}
	}
	if st.State != "ok" {
		return st, fmt.Errorf("redis cluster: %s", st)
	}
	return st, nil
}

// Ping checks that Redis answers, for readiness probes.
func Ping(ctx context.Context, client rueidis.Client) error {
	if err := client.Do(ctx, client.B().Ping().Build()).Error(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
	}
	return nil
}
