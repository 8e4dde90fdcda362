//go:build cluster

package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/bootstrap"
	"github.com/fastdeal/fastdeal/test/load"
	"github.com/fastdeal/fastdeal/test/testenv"
)

// manyDrops is how many drops each scenario runs at once. The 60 ids of a
// run (RUN-d01..RUN-d30 for each scenario) hash to slots that depend on the
// run id only through an XOR (CRC16 is linear), so they spread the same way
// from run to run: over 20,000 random run ids of this form every master of
// the local cluster's three got at least 14 of the 60 drops.
const manyDrops = 30

// TestManyDropsOverClusterMasters runs concert-spike and coupon-rush over 30
// drops each at once (`fastdeal load --drops 30`) against an in-process
// server on a fresh MariaDB database and the local Redis Cluster
// (127.0.0.1:7001-7006, the one `make services` starts; this test only reads
// its topology and writes its own drops' keys, so the failover test's private
// cluster and the other tests' drops are not disturbed). Every drop must pass
// its own audit, the MySQL checks included (every 201 a buyer saw is a row
// of table issuances), and sell its whole stock. Then, for every drop, the
// test finds the master that serves the slot of its hash tag {drop:ID}
// (CLUSTER KEYSLOT against CLUSTER SLOTS), checks on that master that the
// drop's keys are there (CLUSTER GETKEYSINSLOT, EXISTS) and that the other
// masters answer MOVED for them, prints how many drops each master holds,
// and fails unless all three masters hold some.
func TestManyDropsOverClusterMasters(t *testing.T) {
	testStart := time.Now()
	seeds := sharedCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	if masters := clusterTopology(ctx, t, seeds).masterAddrs(); len(masters) != 3 {
		t.Fatalf("the cluster at %v has masters %v, want 3", seeds, masters)
	}

	run := strconv.FormatInt(time.Now().UnixNano(), 36)
	concert, coupon := "mdcs"+run, "mdcr"+run
	var ids []string
	for _, r := range []string{concert, coupon} {
		for k := 1; k <= manyDrops; k++ {
			ids = append(ids, fmt.Sprintf("%s-d%02d", r, k))
		}
	}
	// Registered before the server starts, so it runs after the server
	// stopped: the drops' keys leave the shared cluster with the test.
	t.Cleanup(func() { deleteDropKeys(t, seeds, ids) })

	dsn := testenv.FreshDatabase(t, "fdmultidrop")
	testenv.ClearFastdealEnv(t)
	t.Setenv("FASTDEAL_MYSQL_DSN", dsn)
	t.Setenv("FASTDEAL_REDIS_ADDR", strings.Join(seeds, ","))
	t.Setenv("FASTDEAL_REDIS_CLUSTER", "true")
	cfg, err := bootstrap.EmbeddedConfig("")
	if err != nil {
		t.Fatal(err)
	}
	// The audit checks correctness, not this busy machine's latency: a store
	// call that waits behind other builds must not turn into a 503.
	cfg.StoreTimeout = 10 * time.Second
	if _, err := bootstrap.Migrate(ctx, cfg, "up"); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e, err := bootstrap.StartEmbedded(ctx, cfg)
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.Stop(ctx); err != nil {
			t.Errorf("stop server: %v", err)
		}
	})

	// Per drop: 200 seats and 300 claims (each on its own seat in turn, so
	// every seat is asked for), 9,000 claims in all over 20 s.
	cs := load.Defaults(load.ConcertSpike)
	cs.RunID, cs.Drops, cs.Stock = concert, manyDrops, 200
	cs.Stages = []load.Stage{{Duration: 10 * time.Second, Rate: 10}, {Duration: 10 * time.Second, Rate: 20}}
	cs.Users = 0
	runDrops(ctx, t, e, cs, dsn)

	// Per drop: 300 users for 100 coupons, 30% of them in a pre-queue that
	// opens 10 s before the drop, the rest arriving over 10 s after it.
	cr := load.Defaults(load.CouponRush)
	cr.RunID, cr.Drops, cr.Stock, cr.Users = coupon, manyDrops, 100, 300
	cr.Prequeue, cr.PrequeueWindow = 0.3, 10*time.Second
	runDrops(ctx, t, e, cr, dsn)
	if t.Failed() {
		return
	}

	// Where the drops' keys are.
	topo := clusterTopology(ctx, t, seeds)
	masters := topo.masterAddrs()
	if len(masters) != 3 {
		t.Fatalf("after the runs the cluster has masters %v, want 3", masters)
	}
	clients := map[string]rueidis.Client{}
	for _, m := range masters {
		c := nodeAt(t, m)
		defer c.Close()
		clients[m] = c
		if role := roleOf(ctx, c); role != "master" {
			t.Fatalf("CLUSTER SLOTS names %s a master, but its ROLE is %q", m, role)
		}
	}
	type holding struct {
		concert, coupon int
		keys            int64
		ids             []string
	}
	held := map[string]*holding{}
	for _, m := range masters {
		held[m] = &holding{}
	}
	for _, id := range ids {
		slot := tagSlot(ctx, t, clients[masters[0]], id)
		m := topo.addrOf(slot)
		if m == "" {
			t.Fatalf("drop %s: slot %d is served by no master", id, slot)
		}
		keys := dropKeysOn(ctx, t, clients[m], slot, id)
		if len(keys) == 0 {
			t.Errorf("drop %s: master %s (slot %d) holds none of its keys", id, m, slot)
			continue
		}
		n, err := clients[m].Do(ctx, clients[m].B().Exists().Key(keys...).Build()).AsInt64()
		if err != nil || n != int64(len(keys)) {
			t.Errorf("drop %s: EXISTS of its %d keys on master %s: %d, %v", id, len(keys), m, n, err)
		}
		for _, other := range masters {
			if other == m {
				continue
			}
			err := clients[other].Do(ctx, clients[other].B().Exists().Key(keys[0]).Build()).Error()
			if rerr, ok := rueidis.IsRedisErr(err); !ok || !isMovedTo(rerr, m) {
				t.Errorf("drop %s: EXISTS %s on master %s answered %v, want MOVED to %s", id, keys[0], other, err, m)
			}
		}
		h := held[m]
		h.keys += int64(len(keys))
		// The first two drops of each scenario the master holds name it.
		if strings.HasPrefix(id, concert) {
			if h.concert++; h.concert <= 2 {
				h.ids = append(h.ids, id)
			}
		} else if h.coupon++; h.coupon <= 2 {
			h.ids = append(h.ids, id)
		}
		if strings.HasSuffix(id, "-d01") {
			t.Logf("drop %s: slot %d on master %s, keys %s", id, slot, m, strings.Join(keys, " "))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "drops by master (slot of {drop:ID} from CLUSTER KEYSLOT, its master from CLUSTER SLOTS, keys from CLUSTER GETKEYSINSLOT and EXISTS on that master):\n")
	fmt.Fprintf(&b, "  %-16s %-22s %6s %13s %11s %5s  %s\n", "master", "slots", "drops", "concert-spike", "coupon-rush", "keys", "e.g.")
	empty := 0
	for _, m := range masters {
		h := held[m]
		if h.concert+h.coupon == 0 {
			empty++
		}
		fmt.Fprintf(&b, "  %-16s %-22s %6d %13d %11d %5d  %s\n", m, topo.rangesOf(m), h.concert+h.coupon, h.concert, h.coupon, h.keys, strings.Join(h.ids, " "))
	}
	t.Log(b.String())
	if empty > 0 {
		t.Errorf("%d of the 3 masters hold no drop's keys", empty)
	}
	t.Logf("whole test %.1fs", time.Since(testStart).Seconds())
}

// runDrops runs one multi-drop scenario and fails the test unless every drop
// passed its own audit, MySQL's checks included, and sold its whole stock.
func runDrops(ctx context.Context, t *testing.T, e *bootstrap.Embedded, c load.Config, dsn string) {
	t.Helper()
	c.BaseURL, c.AdminToken, c.MySQLDSN = e.URL, e.AdminToken, dsn
	runCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	start := time.Now()
	rep, err := load.Run(runCtx, c)
	if rep != nil {
		var b strings.Builder
		_ = rep.WriteText(&b) // a strings.Builder does not fail
		t.Logf("%s over %d drops, %.1fs:\n%s", c.Scenario, c.Drops, time.Since(start).Seconds(), b.String())
	}
	var audit *load.AuditError
	if err != nil && !errors.As(err, &audit) {
		t.Fatalf("%s: %v", c.Scenario, err)
	}
	if len(rep.Drops) != c.Drops {
		t.Fatalf("%s: the report has %d drops, want %d", c.Scenario, len(rep.Drops), c.Drops)
	}
	for _, d := range rep.Drops {
		for _, f := range d.Audit.Failures() {
			t.Errorf("%s drop %s: audit check failed: %s", c.Scenario, d.Drop.ID, f)
		}
		mysql := 0
		for _, ch := range d.Audit.Checks {
			if strings.HasPrefix(ch.Name, "mysql") {
				mysql++
			}
		}
		if mysql == 0 {
			t.Errorf("%s drop %s: the audit read nothing from MySQL", c.Scenario, d.Drop.ID)
		}
		if d.Issued != c.Stock {
			t.Errorf("%s drop %s issued %d of %d", c.Scenario, d.Drop.ID, d.Issued, c.Stock)
		}
	}
	if !rep.Audit.Passed {
		t.Errorf("%s: audit failed: %v", c.Scenario, err)
	}
}

// sharedCluster makes sure the local Redis Cluster runs, as `make services`
// does (infra/local/stack cluster-up: nothing when healthy), and returns its
// seed nodes; FASTDEAL_TEST_REDIS_CLUSTER names another cluster, which is
// then the caller's to run.
func sharedCluster(t *testing.T) []string {
	t.Helper()
	seeds := testenv.RedisClusterAddrs()
	if seeds == nil {
		t.Fatal("FASTDEAL_TEST_REDIS_CLUSTER=off, but this test needs a Redis Cluster (unset it for the local one)")
	}
	if os.Getenv("FASTDEAL_TEST_REDIS_CLUSTER") != "" {
		return seeds
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(root, "infra", "local", "stack"), "cluster-up")
	cmd.Dir = root
	cmd.WaitDelay = 5 * time.Second
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("infra/local/stack cluster-up: %v\n%s", err, out)
	}
	return seeds
}

// clusterTopology reads CLUSTER SLOTS from the first seed that answers.
func clusterTopology(ctx context.Context, t *testing.T, seeds []string) topology {
	t.Helper()
	var errs []string
	for _, s := range seeds {
		tp, err := slotsAt(ctx, s)
		if err == nil {
			return tp
		}
		errs = append(errs, s+": "+err.Error())
	}
	t.Fatalf("CLUSTER SLOTS: no seed answered: %s", strings.Join(errs, "; "))
	return nil
}

func (tp topology) masterAddrs() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range tp {
		if !seen[r.addr] {
			seen[r.addr] = true
			out = append(out, r.addr)
		}
	}
	sort.Strings(out)
	return out
}

// rangesOf lists the slot ranges the master at addr serves, as 0-5460.
func (tp topology) rangesOf(addr string) string {
	var out []string
	for _, r := range tp {
		if r.addr == addr {
			out = append(out, fmt.Sprintf("%d-%d", r.from, r.to))
		}
	}
	return strings.Join(out, ",")
}

// tagSlot is CLUSTER KEYSLOT of the drop's hash tag {drop:ID}: every key of
// the drop hashes to it.
func tagSlot(ctx context.Context, t *testing.T, c rueidis.Client, dropID string) int64 {
	t.Helper()
	n, err := c.Do(ctx, c.B().ClusterKeyslot().Key("{drop:"+dropID+"}").Build()).AsInt64()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT {drop:%s}: %v", dropID, err)
	}
	return n
}

// dropKeysOn lists the drop's keys that the master c holds in slot.
func dropKeysOn(ctx context.Context, t *testing.T, c rueidis.Client, slot int64, dropID string) []string {
	t.Helper()
	n, err := c.Do(ctx, c.B().ClusterCountkeysinslot().Slot(slot).Build()).AsInt64()
	if err != nil {
		t.Fatalf("CLUSTER COUNTKEYSINSLOT %d: %v", slot, err)
	}
	all, err := c.Do(ctx, c.B().ClusterGetkeysinslot().Slot(slot).Count(n+1).Build()).AsStrSlice()
	if err != nil {
		t.Fatalf("CLUSTER GETKEYSINSLOT %d: %v", slot, err)
	}
	var out []string
	for _, k := range all {
		if strings.HasPrefix(k, "{drop:"+dropID+"}") {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// isMovedTo reports whether err is a MOVED redirection to addr.
func isMovedTo(err *rueidis.RedisError, addr string) bool {
	to, ok := err.IsMoved()
	return ok && to == addr
}

func roleOf(ctx context.Context, c rueidis.Client) string {
	arr, err := c.Do(ctx, c.B().Role().Build()).ToArray()
	if err != nil || len(arr) == 0 {
		return fmt.Sprintf("no answer (%v)", err)
	}
	s, _ := arr[0].ToString()
	return s
}

// deleteDropKeys removes the drops' keys from the cluster, each drop's in
// one DEL on the master of its slot.
func deleteDropKeys(t *testing.T, seeds []string, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topo := clusterTopology(ctx, t, seeds)
	masters := topo.masterAddrs()
	clients := map[string]rueidis.Client{}
	for _, m := range masters {
		c := nodeAt(t, m)
		defer c.Close()
		clients[m] = c
	}
	removed := 0
	for _, id := range ids {
		slot := tagSlot(ctx, t, clients[masters[0]], id)
		c := clients[topo.addrOf(slot)]
		if c == nil {
			t.Errorf("clean-up: no master serves slot %d of drop %s", slot, id)
			continue
		}
		keys := dropKeysOn(ctx, t, c, slot, id)
		if len(keys) == 0 {
			continue
		}
		if err := c.Do(ctx, c.B().Del().Key(keys...).Build()).Error(); err != nil {
			t.Errorf("clean-up: DEL the keys of drop %s: %v", id, err)
			continue
		}
		removed += len(keys)
	}
	t.Logf("clean-up: deleted the %d keys of the test's %d drops from the cluster", removed, len(ids))
}
