package redis

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fastdeal/fastdeal/test/testenv"
)

func TestNewClientAndPing(t *testing.T) {
	c := testClient(t)
	if err := Ping(t.Context(), c); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func TestNewClientFailsFastOnADeadAddress(t *testing.T) {
	testAddr(t)
	start := time.Now()
	// Port 1 on loopback refuses connections at once.
	c, err := NewClient(ClientOptions{Addr: "127.0.0.1:1", DialTimeout: 500 * time.Millisecond})
	if err == nil {
		c.Close()
		t.Fatalf("NewClient to a dead address succeeded")
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("NewClient took %v to fail", time.Since(start))
	}
}

func TestClientOptionsMapping(t *testing.T) {
	o, err := ClientOptions{MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379"}, Addr: "ignored:6379", Password: "p"}.rueidisOptions()
	if err != nil {
		t.Fatalf("sentinel options: %v", err)
	}
	if o.Sentinel.MasterSet != "mymaster" || !slices.Equal(o.InitAddress, []string{"s1:26379", "s2:26379"}) || o.Password != "p" {
		t.Fatalf("sentinel options = master %q, init %v", o.Sentinel.MasterSet, o.InitAddress)
	}
	if o.Dialer.Timeout != DefaultDialTimeout || o.ConnWriteTimeout != DefaultReadWriteTimeout || !o.DisableCache {
		t.Fatalf("defaults = dial %v, rw %v, cache off %v", o.Dialer.Timeout, o.ConnWriteTimeout, o.DisableCache)
	}
	o, err = ClientOptions{Addr: "h:6379", DB: 2}.rueidisOptions()
	if err != nil || !slices.Equal(o.InitAddress, []string{"h:6379"}) || o.SelectDB != 2 || o.Sentinel.MasterSet != "" {
		t.Fatalf("standalone options = %v, %v", o.InitAddress, err)
	}
	for _, bad := range []ClientOptions{{}, {MasterName: "m"}} {
		if _, err := bad.rueidisOptions(); err == nil {
			t.Errorf("options %+v accepted", bad)
		}
	}
}

func TestClusterOptionsMapping(t *testing.T) {
	seeds := []string{"h:7001", "h:7002"}
	o, err := ClientOptions{ClusterAddrs: seeds, Addr: "ignored:6379"}.rueidisOptions()
	if err != nil {
		t.Fatalf("cluster options: %v", err)
	}
	if !slices.Equal(o.InitAddress, seeds) || o.ClusterOption.ShardsRefreshInterval != clusterRefresh || o.ForceSingleClient {
		t.Fatalf("cluster options = init %v, refresh %v, single %v", o.InitAddress, o.ClusterOption.ShardsRefreshInterval, o.ForceSingleClient)
	}
	if _, err := (ClientOptions{ClusterAddrs: seeds, DB: 1}).rueidisOptions(); err == nil {
		t.Fatal("a cluster with DB 1 accepted")
	}
}

// testClusterAddrs is the test Redis Cluster (`make services` starts it);
// FASTDEAL_TEST_REDIS_CLUSTER=off skips, saying so.
func testClusterAddrs(tb testing.TB) []string {
	tb.Helper()
	addrs := testenv.RedisClusterAddrs()
	if addrs == nil {
		tb.Skip("FASTDEAL_TEST_REDIS_CLUSTER=off: Redis Cluster tests disabled")
	}
	return addrs
}

// The cluster client finds the whole cluster from one seed, and one address
// of a cluster node is detected as a cluster too.
func TestClusterClientAndState(t *testing.T) {
	addrs := testClusterAddrs(t)
	for _, o := range []ClientOptions{{ClusterAddrs: addrs}, {ClusterAddrs: addrs[:1]}, {Addr: addrs[0]}} {
		c, err := NewClient(o)
		if err != nil {
			t.Fatalf("NewClient(%+v): %v", o, err)
		}
		if !IsCluster(c) {
			c.Close()
			t.Fatalf("NewClient(%+v) is not a cluster client", o)
		}
		st, err := CheckCluster(t.Context(), c)
		c.Close()
		if err != nil {
			t.Fatalf("CheckCluster: %v", err)
		}
		if st.State != "ok" || st.SlotsOK != 16384 || st.Masters < 1 || st.Nodes < st.Masters {
			t.Fatalf("cluster state = %+v", st)
		}
	}
}

// Seeds that are not a cluster are refused, so FASTDEAL_REDIS_CLUSTER=true
// never quietly runs on one standalone Redis.
func TestClusterAddrsThatAreNotAClusterAreRefused(t *testing.T) {
	addr := testAddr(t)
	c, err := NewClient(ClientOptions{ClusterAddrs: []string{addr}})
	if err == nil {
		c.Close()
		t.Fatalf("the standalone Redis at %s was taken for a cluster", addr)
	}
	if !strings.Contains(err.Error(), "not a Redis Cluster") {
		t.Fatalf("error = %v", err)
	}
	c = testClient(t)
	if IsCluster(c) {
		t.Fatal("the standalone client says it is a cluster")
	}
	if _, err := CheckCluster(t.Context(), c); err == nil {
		t.Fatal("CheckCluster passed on a standalone Redis")
	}
}

// luaKeyArg is the key argument of a redis.call in the scripts.
var luaKeyArg = regexp.MustCompile(`redis\.call\('([A-Z]+)',\s*([A-Za-z_][A-Za-z_0-9]*(?:\[\d+\])?)`)

// luaKeyLocals are names bound to KEYS: `local a, b = KEYS[1], KEYS[2]`.
var luaKeyLocals = regexp.MustCompile(`(?m)^local ([a-z_, ]+) = (KEYS\[\d+\](?:, KEYS\[\d+\])*)\s*$`)

// luaFuncParams are the parameters of the library functions (scripts/lib.lua),
// which the scripts call with their KEYS.
var luaFuncParams = regexp.MustCompile(`(?m)^local function [a-z_]+\(([a-z_, ]*)\)`)

// Redis Cluster routes a script by its declared keys: every key a script
// touches must come from KEYS (the callers put only one drop's {drop:ID}
// keys there, which the cluster contract suites exercise). A key built
// inside a script, or passed in ARGV, would break that silently.
func TestScriptsTouchOnlyDeclaredKeys(t *testing.T) {
	files, err := scriptFS.ReadDir("scripts")
	if err != nil {
		t.Fatal(err)
	}
	lib := map[string]bool{}
	for _, libName := range []string{"lib", "linelib"} {
		for _, m := range luaFuncParams.FindAllStringSubmatch(mustRead(libName), -1) {
			for _, p := range strings.Split(m[1], ",") {
				lib[strings.TrimSpace(p)] = true
			}
		}
	}
	calls := 0
	for _, f := range files {
		name := strings.TrimSuffix(f.Name(), ".lua")
		body := mustRead(name)
		keys := map[string]bool{}
		for _, m := range luaKeyLocals.FindAllStringSubmatch(body, -1) {
			for _, n := range strings.Split(m[1], ",") {
				keys[strings.TrimSpace(n)] = true
			}
		}
		isLib := name == "lib" || name == "linelib"
		for _, m := range luaKeyArg.FindAllStringSubmatch(body, -1) {
			calls++
			arg := m[2]
			switch {
			case strings.HasPrefix(arg, "KEYS["), keys[arg], isLib && lib[arg]:
			default:
				t.Errorf("scripts/%s.lua: redis.call('%s', %s ...): %s is not one of the script's KEYS", name, m[1], arg, arg)
			}
		}
	}
	if calls < 50 {
		t.Fatalf("found only %d redis.call key arguments: the pattern no longer matches the scripts", calls)
	}
}
