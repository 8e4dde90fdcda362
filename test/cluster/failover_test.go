//go:build cluster

// Package cluster is the Redis Cluster failover test: the local topology of
// infra/local/stack run with `up --redis cluster` (nginx, two apps, the
// machine's MariaDB, a six-node Redis Cluster) on a private cluster of its own
// (ports 7101-7106, state in /tmp/fastdeal-redis-cluster-failover), so the
// cluster that `make test` uses is never disturbed. Open claims run on nine
// drops, three on each master, while one master is SIGKILLed; its replica
// takes over. The test measures the window in which claims on that master's
// drops answered 503, fails on any other failure (the other drops must not
// see a single 5xx or transport error, the killed master's drops only 503
// and only until shortly after the promotion), and then checks MySQL: no
// drop issued more than its stock, every 201 a buyer saw is there, and every
// drop sold out.
//
// TestManyDropsOverClusterMasters (multidrop_test.go) runs concert-spike and
// coupon-rush over 30 drops each on the shared local cluster and checks that
// every drop passes its audit and that the drops' keys are on all three
// masters.
//
//	go test -tags cluster -count=1 -v -timeout 10m ./test/cluster/   (make test-cluster)
package cluster

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/golang-jwt/jwt/v5"
	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/test/testenv"
)

const (
	// The private cluster: six nodes from firstPort, their own state dir.
	firstPort  = 7101
	clusterDir = "/tmp/fastdeal-redis-cluster-failover"
	database   = "fastdeal_cluster"

	dropsPerMaster = 3
	// Each drop gets claimRate claims a second, each by a new buyer, for
	// loadFor: 9 x 12/s through nginx, on two cores shared with everything.
	claimRate = 12
	loadFor   = 40 * time.Second
	// stock sells out about 20 s in on the undisturbed drops; the killed
	// master's drops, which lost the window's claims, still sell out before
	// the load ends.
	stock  = 200
	killAt = 10 * time.Second

	// promotionSlack: after the replica is promoted, claims still in flight
	// (bounded by the store timeout, 2 s) and the apps' next topology read may
	// answer 503 for a moment. A 503 later than this fails the test.
	promotionSlack = 4 * time.Second
	// promotionDeadline bounds the failover itself (node timeout 2 s).
	promotionDeadline = 30 * time.Second
	requestTimeout    = 15 * time.Second
)

type result struct {
	drop           string
	started, ended time.Time
	status         int
	err            error
	issuance       string
}

func TestClusterMasterFailover(t *testing.T) {
	testStart := time.Now()
	st := newStack(t)
	st.script(t, 2*time.Minute, "down")
	st.script(t, 2*time.Minute, "cluster-down", "--purge")
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		for _, args := range [][]string{{"down"}, {"cluster-down", "--purge"}} {
			if out, err := st.run(ctx, args...); err != nil {
				t.Errorf("infra/local/stack %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	})
	// A fresh database too: the drops of earlier runs would otherwise be
	// restored into the new cluster at every app start.
	st.dropDatabase(t)
	upStart := time.Now()
	st.script(t, 5*time.Minute, "up", "--redis", "cluster", "--apps", "2")
	t.Logf("stack up on the private cluster in %.1fs", time.Since(upStart).Seconds())

	token, jwtSecret := st.secrets(t)
	base := "http://127.0.0.1:" + st.env(t, "NGINX_PORT")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// The drops: three on each master, ids picked by their slot.
	topo := readTopology(ctx, t)
	if len(topo.masters()) != 3 {
		t.Fatalf("the cluster has masters %v, want 3", topo.masters())
	}
	run := strconv.FormatInt(time.Now().Unix(), 36)
	byMaster := map[int][]string{}
	var drops []string
	for i := 0; len(drops) < 3*dropsPerMaster && i < 10000; i++ {
		id := fmt.Sprintf("cf%s-%d", run, i)
		m := topo.masterOf(keySlot(ctx, t, id))
		if len(byMaster[m]) < dropsPerMaster {
			byMaster[m] = append(byMaster[m], id)
			drops = append(drops, id)
		}
	}
	admin := &http.Client{Timeout: 10 * time.Second}
	for _, id := range drops {
		body := fmt.Sprintf(`{"id":%q,"name":"failover %s","kind":"general","stock":%d}`, id, id, stock)
		if code, out := send(admin, http.MethodPost, base+"/v1/admin/drops", body, "Bearer "+token, ""); code != http.StatusCreated {
			t.Fatalf("create drop %s: %d %s", id, code, out)
		}
	}
	slot := keySlot(ctx, t, drops[0]) // asked now: the node keySlot asks may be the victim
	victim := topo.masterOf(slot)
	victimDrops := map[string]bool{}
	for _, id := range byMaster[victim] {
		victimDrops[id] = true
	}
	t.Logf("drops by master: %v; the master on %d will be killed", byMaster, victim)

	// The load: open-loop, claimRate per drop, a new buyer per claim.
	buyers := &http.Client{Timeout: requestTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	var (
		mu      sync.Mutex
		results []result
		wg      sync.WaitGroup
	)
	t0 := time.Now()
	for _, id := range drops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second / time.Duration(claimRate))
			defer tick.Stop()
			for n := 0; time.Since(t0) < loadFor; n++ {
				select {
				case <-tick.C:
				case <-ctx.Done():
					return
				}
				user := fmt.Sprintf("u%s-%d", id, n)
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := claim(buyers, base, id, user, jwtSecret)
					mu.Lock()
					results = append(results, r)
					mu.Unlock()
				}()
			}
		}()
	}

	// /readyz through nginx, sampled while the load runs.
	var readyMu sync.Mutex
	readyCodes := map[int]int{}
	var readyDegraded string
	readyDone := make(chan struct{})
	go func() {
		defer close(readyDone)
		probe := &http.Client{Timeout: 2 * time.Second}
		for time.Since(t0) < loadFor {
			code, body := send(probe, http.MethodGet, base+"/readyz", "", "", "")
			readyMu.Lock()
			readyCodes[code]++
			if code == http.StatusOK && !strings.Contains(body, "16384/16384") && readyDegraded == "" {
				readyDegraded = body
			}
			readyMu.Unlock()
			time.Sleep(250 * time.Millisecond)
		}
	}()

	// The kill, and the promotion as the surviving masters see it.
	time.Sleep(time.Until(t0.Add(killAt)))
	killed := time.Now()
	st.script(t, time.Minute, "cluster-kill-node", strconv.Itoa(victim))
	promoted, newMaster := waitPromotion(ctx, t, victim, slot)
	t.Logf("+%.1fs killed the master on %d; its replica on %d took over %.2fs later",
		killed.Sub(t0).Seconds(), victim, newMaster, promoted.Sub(killed).Seconds())
	wg.Wait()
	<-readyDone

	// The verdict on the answers.
	allowedEnd := promoted.Add(promotionSlack)
	var (
		first503, last503 time.Time
		n503, victimOK    int
		violations        []string
		statuses          = map[string]map[int]int{}
		issued            = map[string][]string{}
	)
	sort.Slice(results, func(i, j int) bool { return results[i].started.Before(results[j].started) })
	for _, r := range results {
		if statuses[r.drop] == nil {
			statuses[r.drop] = map[int]int{}
		}
		statuses[r.drop][r.status]++
		switch {
		case r.err != nil:
			violations = append(violations, fmt.Sprintf("%s +%.2fs: %v", r.drop, r.started.Sub(t0).Seconds(), r.err))
		case r.status == http.StatusCreated:
			issued[r.drop] = append(issued[r.drop], r.issuance)
			if victimDrops[r.drop] && r.started.After(promoted) {
				victimOK++
			}
		case r.status == http.StatusConflict:
		case r.status == http.StatusServiceUnavailable && victimDrops[r.drop] && !r.ended.Before(killed) && !r.started.After(allowedEnd):
			n503++
			if first503.IsZero() {
				first503 = r.ended
			}
			if r.ended.After(last503) {
				last503 = r.ended
			}
		default:
			violations = append(violations, fmt.Sprintf("%s (%s) +%.2fs..+%.2fs: %d",
				r.drop, map[bool]string{true: "killed master", false: "other master"}[victimDrops[r.drop]],
				r.started.Sub(t0).Seconds(), r.ended.Sub(t0).Seconds(), r.status))
		}
	}
	t.Logf("%d claims; answers by drop: %v", len(results), statuses)
	readyMu.Lock()
	t.Logf("/readyz through nginx during the load: %v; while a master was down it said: %s", readyCodes, strings.TrimSpace(readyDegraded))
	readyMu.Unlock()
	if n503 > 0 {
		t.Logf("503 WINDOW: %d claims on the killed master's drops answered 503, from +%.2fs to +%.2fs after the kill (%.2fs from the first to the last); promotion at +%.2fs",
			n503, first503.Sub(killed).Seconds(), last503.Sub(killed).Seconds(), last503.Sub(first503).Seconds(), promoted.Sub(killed).Seconds())
	} else {
		t.Logf("503 WINDOW: no claim answered 503 (promotion at +%.2fs)", promoted.Sub(killed).Seconds())
	}
	if len(violations) > 0 {
		if len(violations) > 10 {
			violations = append(violations[:10], fmt.Sprintf("... %d more", len(violations)-10))
		}
		t.Errorf("%d answers other than 201/409, or 503 outside the killed master's window [kill, promotion + %s]:\n%s",
			len(violations), promotionSlack, strings.Join(violations, "\n"))
	}
	if victimOK == 0 {
		t.Errorf("no claim on the killed master's drops succeeded after the promotion")
	}

	// The verdict on the ledger.
	db, err := sql.Open("mysql", st.mysqlDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, id := range drops {
		inDB := map[string]bool{}
		rows, err := db.QueryContext(ctx, "SELECT id FROM issuances WHERE drop_id = ?", id)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var iss string
			if err := rows.Scan(&iss); err != nil {
				t.Fatal(err)
			}
			inDB[iss] = true
		}
		rows.Close()
		if len(inDB) > stock {
			t.Errorf("drop %s: %d issuances in MySQL for a stock of %d: units sold twice", id, len(inDB), stock)
		}
		if len(inDB) != stock {
			t.Errorf("drop %s did not sell out: %d of %d issued", id, len(inDB), stock)
		}
		seen := map[string]bool{}
		for _, iss := range issued[id] {
			if seen[iss] {
				t.Errorf("drop %s: issuance %s answered 201 twice", id, iss)
			}
			seen[iss] = true
			if !inDB[iss] {
				t.Errorf("drop %s: the 201 for issuance %s is not in MySQL", id, iss)
			}
		}
		if len(issued[id]) > stock {
			t.Errorf("drop %s: %d buyers were told 201 for a stock of %d", id, len(issued[id]), stock)
		}
	}

	// The killed node comes back as a replica: the cluster is whole again.
	heal := time.Now()
	st.script(t, 2*time.Minute, "cluster-up")
	if role := nodeRole(ctx, t, victim); role != "slave" {
		t.Errorf("the killed node on %d came back as %q, want a replica", victim, role)
	}
	t.Logf("cluster healed in %.1fs (cluster-up); whole test %.1fs", time.Since(heal).Seconds(), time.Since(testStart).Seconds())
}

// claim sends one open claim as user and reads the issuance id of a 201.
func claim(c *http.Client, base, drop, user, secret string) result {
	r := result{drop: drop, started: time.Now()}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject: user, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}).SignedString([]byte(secret))
	if err != nil {
		r.err = err
		return r
	}
	key := make([]byte, 8)
	_, _ = rand.Read(key)
	code, body := send(c, http.MethodPost, base+"/v1/drops/"+drop+"/claims", "{}", "Bearer "+tok, hex.EncodeToString(key))
	r.ended = time.Now()
	if code == 0 {
		r.err = errors.New(body)
		return r
	}
	r.status = code
	if code == http.StatusCreated {
		var out struct {
			Issuance struct {
				ID string `json:"id"`
			} `json:"issuance"`
		}
		if err := json.Unmarshal([]byte(body), &out); err != nil || out.Issuance.ID == "" {
			r.err = fmt.Errorf("201 without an issuance id: %s", body)
		}
		r.issuance = out.Issuance.ID
	}
	return r
}

// send does one request; code 0 means a transport error, described in body.
func send(c *http.Client, method, url, body, auth, idemKey string) (int, string) {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ---- the cluster, asked directly --------------------------------------------------------

func node(ctx context.Context, t *testing.T, port int) rueidis.Client {
	t.Helper()
	return nodeAt(t, fmt.Sprintf("127.0.0.1:%d", port))
}

// nodeAt is a client of the one node at addr: it follows no redirection, so
// a key of another master's slot answers MOVED.
func nodeAt(t *testing.T, addr string) rueidis.Client {
	t.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr},
		ForceSingleClient: true, DisableCache: true, DisableRetry: true})
	if err != nil {
		t.Fatalf("node %s: %v", addr, err)
	}
	return c
}

func keySlot(ctx context.Context, t *testing.T, dropID string) int64 {
	t.Helper()
	c := node(ctx, t, firstPort)
	defer c.Close()
	n, err := c.Do(ctx, c.B().ClusterKeyslot().Key("{drop:"+dropID+"}:inv").Build()).AsInt64()
	if err != nil {
		t.Fatalf("CLUSTER KEYSLOT: %v", err)
	}
	return n
}

func nodeRole(ctx context.Context, t *testing.T, port int) string {
	c := node(ctx, t, port)
	defer c.Close()
	arr, err := c.Do(ctx, c.B().Role().Build()).ToArray()
	if err != nil || len(arr) == 0 {
		return fmt.Sprintf("no answer (%v)", err)
	}
	s, _ := arr[0].ToString()
	return s
}

// topology is CLUSTER SLOTS as slot ranges and their masters' ports and
// addresses.
type topology []slotRange

type slotRange struct {
	from, to int64
	master   int
	addr     string
}

func (tp topology) masterOf(slot int64) int {
	for _, r := range tp {
		if slot >= r.from && slot <= r.to {
			return r.master
		}
	}
	return 0
}

func (tp topology) masters() []int {
	seen := map[int]bool{}
	var out []int
	for _, r := range tp {
		if !seen[r.master] {
			seen[r.master] = true
			out = append(out, r.master)
		}
	}
	sort.Ints(out)
	return out
}

// addrOf is the address of the master that serves slot, or "".
func (tp topology) addrOf(slot int64) string {
	for _, r := range tp {
		if slot >= r.from && slot <= r.to {
			return r.addr
		}
	}
	return ""
}

func slotsFrom(ctx context.Context, port int) (topology, error) {
	return slotsAt(ctx, fmt.Sprintf("127.0.0.1:%d", port))
}

// slotsAt reads CLUSTER SLOTS from the node at addr.
func slotsAt(ctx context.Context, addr string) (topology, error) {
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr},
		ForceSingleClient: true, DisableCache: true, DisableRetry: true})
	if err != nil {
		return nil, err
	}
	defer c.Close()
	arr, err := c.Do(ctx, c.B().ClusterSlots().Build()).ToArray()
	if err != nil {
		return nil, err
	}
	var tp topology
	for _, r := range arr {
		f, err := r.ToArray()
		if err != nil || len(f) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS entry: %v", err)
		}
		from, _ := f[0].AsInt64()
		to, _ := f[1].AsInt64()
		m, _ := f[2].ToArray()
		if len(m) < 2 {
			return nil, errors.New("CLUSTER SLOTS entry without a master")
		}
		host, _ := m[0].ToString()
		p, _ := m[1].AsInt64()
		tp = append(tp, slotRange{from, to, int(p), net.JoinHostPort(host, strconv.FormatInt(p, 10))})
	}
	return tp, nil
}

func readTopology(ctx context.Context, t *testing.T) topology {
	t.Helper()
	tp, err := slotsFrom(ctx, firstPort)
	if err != nil {
		t.Fatalf("CLUSTER SLOTS: %v", err)
	}
	return tp
}

// waitPromotion polls the other nodes until one of them says slot is served
// by a master other than the dead one, and returns when and which.
func waitPromotion(ctx context.Context, t *testing.T, dead int, slot int64) (time.Time, int) {
	t.Helper()
	deadline := time.Now().Add(promotionDeadline)
	for time.Now().Before(deadline) {
		for p := firstPort; p < firstPort+6; p++ {
			if p == dead {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, time.Second)
			tp, err := slotsFrom(pctx, p)
			cancel()
			if err != nil {
				continue
			}
			if m := tp.masterOf(slot); m != 0 && m != dead {
				return time.Now(), m
			}
			break // one answering node's view is enough for this round
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no replica took over the slots of the master on %d within %s", dead, promotionDeadline)
	return time.Time{}, 0
}

// ---- the stack script ---------------------------------------------------------------------

type stack struct {
	root, dir string
	settings  map[string]string
}

func newStack(t *testing.T) *stack {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root not found at %s: %v", root, err)
	}
	return &stack{root: root, dir: filepath.Join(root, ".stack-cluster"), settings: testenv.StackSettings(t, root)}
}

// environ is the script's environment: this test's private cluster, state
// dir and database.
func (s *stack) environ() []string {
	return append(os.Environ(),
		"STACK_DIR="+s.dir,
		"REDIS_CLUSTER_FIRST_PORT="+strconv.Itoa(firstPort),
		"REDIS_CLUSTER_DIR="+clusterDir,
		"LOCAL_MYSQL_DATABASE="+database,
	)
}

func (s *stack) env(t *testing.T, key string) string {
	switch key {
	case "LOCAL_MYSQL_DATABASE":
		return database
	}
	if v, ok := os.LookupEnv(key); ok {
		return v
	}
	v, ok := s.settings[key]
	if !ok {
		t.Fatalf("%s is not set in infra/stack.env, .env or the environment", key)
	}
	return v
}

func (s *stack) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.root, "infra", "local", "stack"), args...)
	cmd.Dir = s.root
	cmd.Env = s.environ()
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// script runs the stack script and fails the test when it fails.
func (s *stack) script(t *testing.T, limit time.Duration, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := s.run(ctx, args...)
	if err != nil {
		for _, n := range []string{"app1", "app2", "nginx", "migrate"} {
			if b, err := os.ReadFile(filepath.Join(s.dir, "logs", n+".log")); err == nil {
				lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
				if len(lines) > 20 {
					lines = lines[len(lines)-20:]
				}
				t.Logf("---- last lines of %s.log\n%s", n, strings.Join(lines, "\n"))
			}
		}
		t.Fatalf("infra/local/stack %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (s *stack) secrets(t *testing.T) (token, jwtSecret string) {
	gen := testenv.ReadEnvFile(t, filepath.Join(s.dir, "secrets.env"))
	pick := func(key string) string {
		if v := os.Getenv(key); v != "" {
			return v
		}
		if v := s.settings[key]; v != "" {
			return v
		}
		if v := gen[key]; v != "" {
			return v
		}
		t.Fatalf("%s neither in the environment, .env nor %s", key, filepath.Join(s.dir, "secrets.env"))
		return ""
	}
	return pick("FASTDEAL_ADMIN_TOKEN"), pick("FASTDEAL_JWT_SECRET")
}

func (s *stack) dropDatabase(t *testing.T) {
	dsn := strings.Replace(s.mysqlDSN(t), "/"+database+"?", "/?", 1)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP DATABASE IF EXISTS " + database); err != nil {
		t.Fatalf("drop database %s (the machine's MariaDB; `make services` starts it): %v", database, err)
	}
}

func (s *stack) mysqlDSN(t *testing.T) string {
	auth := s.env(t, "LOCAL_MYSQL_USER")
	if pw := os.Getenv("LOCAL_MYSQL_PASSWORD"); pw != "" {
		auth += ":" + pw
	} else if pw := s.settings["LOCAL_MYSQL_PASSWORD"]; pw != "" {
		auth += ":" + pw
	}
	return fmt.Sprintf("%s@tcp(%s:%s)/%s?parseTime=true", auth, s.env(t, "LOCAL_MYSQL_HOST"), s.env(t, "LOCAL_MYSQL_PORT"), database)
}
