package main

// The capacity model of docs/capacity.md: the medians of capacity.sh's
// measurements (CPU microseconds per request in the app, Redis and MySQL)
// times the request mix of two named sales give app cores and instances,
// the load of the hottest Redis shard, the Redis shards for many drops, and
// the MySQL write rate. Every assumption is a named constant or a flag, and
// is printed beside the figures it produces.

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
)

// cost is one request kind's median CPU per request, in microseconds.
type cost struct {
	app, redis, mysql float64
	rowsPerBatch      float64 // group-commit rows per batch during the phase (0: none)
	reqPerSec         float64
}

// measured is what capacity.sh wrote: per kind, the medians over its runs;
// per idle state, the median cores; and the fixed app cost of many seated
// drops under claims.
type measured struct {
	kinds map[string]cost
	idle  map[string][3]float64 // app, redis, mysql cores
	// seatListCores is the app's CPU, in cores, that the claims across many
	// seated drops did not account for at the single drop's cost per claim:
	// re-reading every drop's seat list (median over runs).
	seatListCores float64
	runs          int
	skipped       []string // phases left out: more than 1% of their answers not 2xx
}

// readTSV returns the rows of a tab-separated file with a header line, as
// maps from column name to value.
func readTSV(path string) ([]map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var head []string
	var rows []map[string]string
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if head == nil {
			head = cols
			continue
		}
		if len(cols) != len(head) {
			return nil, fmt.Errorf("%s: %d columns, want %d: %q", path, len(cols), len(head), sc.Text())
		}
		r := make(map[string]string, len(cols))
		for i, c := range cols {
			r[head[i]] = c
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

func num(r map[string]string, col string) float64 {
	v, err := strconv.ParseFloat(r[col], 64)
	if err != nil {
		return 0
	}
	return v
}

// readMeasured reads DIR/phases.tsv and DIR/idle.tsv of capacity.sh.
func readMeasured(dir string) (measured, error) {
	phases, err := readTSV(dir + "/phases.tsv")
	if err != nil {
		return measured{}, err
	}
	idle, err := readTSV(dir + "/idle.tsv")
	if err != nil {
		return measured{}, err
	}
	type acc struct{ app, redis, mysql, rows, rps []float64 }
	by := map[string]*acc{}
	runs := map[string]bool{}
	var skipped []string
	for _, r := range phases {
		k := r["kind"]
		if n := num(r, "requests"); n > 0 && num(r, "non2xx") > 0.01*n {
			// Mostly answers other than the one measured (a seat phase that
			// ran out of seats answers 409): not this kind's cost.
			skipped = append(skipped, fmt.Sprintf("run %s %s (%s of %s not 2xx)", r["run"], k, r["non2xx"], r["requests"]))
			continue
		}
		if by[k] == nil {
			by[k] = &acc{}
		}
		a := by[k]
		runs[r["run"]] = true
		a.app = append(a.app, num(r, "app_us"))
		a.redis = append(a.redis, num(r, "redis_us"))
		a.mysql = append(a.mysql, num(r, "mysql_us"))
		a.rps = append(a.rps, num(r, "req_s"))
		if b := num(r, "batches"); b > 0 {
			a.rows = append(a.rows, num(r, "rows")/b)
		}
	}
	m := measured{kinds: map[string]cost{}, idle: map[string][3]float64{}, runs: len(runs), skipped: skipped}
	for k, a := range by {
		c := cost{app: median(a.app), redis: median(a.redis), mysql: median(a.mysql), reqPerSec: median(a.rps)}
		if len(a.rows) > 0 {
			c.rowsPerBatch = median(a.rows)
		}
		m.kinds[k] = c
	}
	iacc := map[string][][]float64{}
	for _, r := range idle {
		k := r["kind"]
		if iacc[k] == nil {
			iacc[k] = make([][]float64, 3)
		}
		for i, col := range []string{"app_cores", "redis_cores", "mysql_cores"} {
			iacc[k][i] = append(iacc[k][i], num(r, col))
		}
	}
	for k, v := range iacc {
		m.idle[k] = [3]float64{median(v[0]), median(v[1]), median(v[2])}
	}
	// The fixed cost of many seated drops: app cores during the claims over
	// them, less what the same claims cost on one seated drop.
	one := m.kinds["claim (seat)"].app
	var fixed []float64
	for _, r := range phases {
		if n := num(r, "requests"); n > 0 && num(r, "non2xx") > 0.01*n {
			continue
		}
		if strings.HasPrefix(r["kind"], "claim (seat), ") {
			fixed = append(fixed, num(r, "req_s")*(num(r, "app_us")-one)/1e6)
		}
	}
	if len(fixed) > 0 {
		m.seatListCores = median(fixed)
	}
	for _, k := range []string{"join", "status (ticket)", "status (no ticket)", "claim", "claim (seat)", "admission"} {
		if _, ok := m.kinds[k]; !ok {
			return measured{}, fmt.Errorf("%s/phases.tsv has no %q rows", dir, k)
		}
	}
	return m, nil
}

// jitterMean is E[1/U] for U uniform on (0.8, 1.2): a poll interval d x U
// gives on average jitterMean/d polls a second.
var jitterMean = math.Log(1.2/0.8) / 0.4

// pollsPerSecond is the status load of a line of n waiting buyers admitted
// at rate a second with poll ceiling maxPoll seconds, summed over every
// position with README's pacing formula: interval clamp(ETA/2, 1 s, max) x
// U(0.8, 1.2), ETA = position / rate.
func pollsPerSecond(n int, rate, maxPoll float64) float64 {
	var sum float64
	for p := 1; p <= n; p++ {
		d := min(max(float64(p)/rate/2, 1), maxPoll)
		sum += 1 / d
	}
	return sum * jitterMean
}

// maxPerShard draws drops hash slots uniformly (Redis Cluster gives each of
// the shards an equal share of the 16,384 slots) and returns, over trials,
// the distribution of the most drops that land on one shard: the value at
// quantile q.
func maxPerShard(drops, shards, trials int, q float64, rng *rand.Rand) int {
	counts := make([]int, shards)
	worst := make([]float64, trials)
	for t := range trials {
		clear(counts)
		hi := 0
		for range drops {
			s := rng.IntN(16384) * shards / 16384
			counts[s]++
			hi = max(hi, counts[s])
		}
		worst[t] = float64(hi)
	}
	slices.Sort(worst)
	return int(worst[int(math.Ceil(q*float64(trials)))-1])
}

// load is one sale's request mix at its sizing point, per second.
type load struct {
	joins, ticketPolls, storePolls, admissions, claims, rows float64
	claimKind, admitKind                                     string
}

func (l load) cpu(m measured, pick func(cost) float64) float64 {
	k := m.kinds
	return (l.joins*pick(k["join"]) + l.ticketPolls*pick(k["status (ticket)"]) +
		l.storePolls*pick(k["status (no ticket)"]) + l.admissions*pick(k[l.admitKind]) +
		l.claims*pick(k[l.claimKind])) / 1e6
}

type modelOpts struct {
	headroom      float64 // share of a core a process may use at the sizing point
	instanceCores float64 // cores per app instance
	batchMax      float64 // FASTDEAL_BATCH_MAX
}

func printModel(dir string, o modelOpts, w io.Writer) error {
	m, err := readMeasured(dir)
	if err != nil {
		return err
	}
	app := func(c cost) float64 { return c.app }
	redis := func(c cost) float64 { return c.redis }
	budget := o.headroom // of one Redis core, per shard
	fmt.Fprintf(w, "measured (median of %d runs, CPU µs per request):\n", m.runs)
	fmt.Fprintf(w, "  %-26s %8s %8s %8s %10s\n", "kind", "app", "redis", "mysql", "rows/batch")
	for _, k := range []string{"status (ticket)", "join", "status (no ticket)", "claim", "claim (seat)", "admission"} {
		c := m.kinds[k]
		fmt.Fprintf(w, "  %-26s %8.1f %8.1f %8.1f %10.0f\n", k, c.app, c.redis, c.mysql, c.rowsPerBatch)
	}
	fmt.Fprintf(w, "  fixed app cost of the many seated drops under claims: %.2f cores per instance\n", m.seatListCores)
	for _, s := range m.skipped {
		fmt.Fprintf(w, "  left out: %s\n", s)
	}
	fmt.Fprintf(w, "assumed: each process at most %.0f%% of its cores; app instances of %.0f cores; Redis one core per shard; batches of at most %.0f rows\n\n",
		o.headroom*100, o.instanceCores, o.batchMax)

	// Sale 1: 1,000,000 buyers join one line within two minutes, 100,000 coupons.
	fmt.Fprintln(w, "sale 1: 1,000,000 buyers join one queued general drop within 120 s; 100,000 coupons")
	fmt.Fprintln(w, "  assumed: joins peak at 2x the mean (16,667/s); all 1,000,000 waiting at once (upper bound);")
	fmt.Fprintln(w, "  every poll presents its ticket; each issued buyer reads the result from the store once (store polls = admit rate)")
	fmt.Fprintf(w, "  %-7s %-5s %8s %9s %7s %8s %8s %9s %10s %9s %10s\n", "admit/s", "max s", "joins/s", "polls/s",
		"store/s", "rows/s", "app cpu", "instances", "shard cpu", "of budget", "mysql cpu")
	for _, rate := range []float64{2000, 10000} {
		for _, maxPoll := range []float64{30, 60} {
			l := load{joins: 2 * 1e6 / 120, ticketPolls: pollsPerSecond(1_000_000, rate, maxPoll),
				storePolls: rate, admissions: rate, rows: rate, admitKind: "admission", claimKind: "claim"}
			a := l.cpu(m, app)
			r := l.cpu(m, redis)
			my := l.rows * m.kinds["admission"].mysql / 1e6
			fmt.Fprintf(w, "  %7.0f %5.0f %8.0f %9.0f %7.0f %8.0f %8.2f %9.0f %10.2f %8.0f%% %10.2f\n", rate, maxPoll,
				l.joins, l.ticketPolls, l.storePolls, l.rows, a, math.Ceil(a/(o.headroom*o.instanceCores)), r, 100*r/budget, my)
		}
	}
	k := m.kinds
	fmt.Fprintf(w, "  one shard at %.0f%% of a core: %.0f joins/s alone; %.0f admissions/s alone\n", o.headroom*100,
		o.headroom*1e6/k["join"].redis, o.headroom*1e6/k["admission"].redis)
	// Where the shard reaches its budget: the admit rate at 16,667 joins/s,
	// and the join peak at 2,000 admissions/s (the polls counted at 10,000/s;
	// from a snapshot they cost Redis next to nothing).
	base := load{joins: 2 * 1e6 / 120, admitKind: "admission", claimKind: "claim"}
	perAdmit := k["status (no ticket)"].redis + k["admission"].redis // a store poll and an admission per admitted buyer
	rMax := (budget*1e6 - base.cpu(m, redis)*1e6 - pollsPerSecond(1_000_000, 10_000, 30)*k["status (ticket)"].redis) / perAdmit
	at2k := load{ticketPolls: pollsPerSecond(1_000_000, 2000, 30), storePolls: 2000, admissions: 2000, admitKind: "admission", claimKind: "claim"}
	jMax := (budget*1e6 - at2k.cpu(m, redis)*1e6) / k["join"].redis
	fmt.Fprintf(w, "  the shard reaches its budget at about %.0f admissions/s (joins at 16,667/s), or at %.0f joins/s at peak\n", rMax, jMax)
	fmt.Fprintf(w, "  (admit 2,000/s): a million joining in %.0f s at the same 2x peak-to-mean\n", 2*1e6/jMax)
	fmt.Fprintf(w, "  MySQL commits/s at the admission phase's %.0f rows a batch: %.0f at 2,000/s, %.0f at 10,000/s\n",
		k["admission"].rowsPerBatch, 2000/k["admission"].rowsPerBatch, 10000/k["admission"].rowsPerBatch)
	fixed := 500_000.0
	fmt.Fprintf(w, "  without tickets (fixed 2 s polls, 1,000,000 waiting): %.0f polls/s = %.1f Redis cores on one shard\n\n",
		fixed, fixed*k["status (no ticket)"].redis/1e6)

	// Sale 2: fifty 50,000-seat concerts opening at once.
	const drops, seats, buyers, rate, tries = 50, 50_000, 100_000, 500.0, 1.5
	fmt.Fprintln(w, "sale 2: fifty 50,000-seat seated drops, queued, opening at once")
	fmt.Fprintf(w, "  assumed per drop: %d buyers join within 120 s (peak 2x mean), all waiting at once (upper bound),\n", buyers)
	fmt.Fprintf(w, "  %.0f passes/s, %.1f seat claims per pass (one wins; the rest 409 seat_taken, costed as wins),\n", rate, tries)
	fmt.Fprintln(w, "  a pass grant costed as an admission (Redis only: its MySQL share not counted), one store poll per pass")
	per := load{joins: 2 * buyers / 120.0, ticketPolls: pollsPerSecond(buyers, rate, 30), storePolls: rate,
		admissions: rate, claims: tries * rate, rows: rate, admitKind: "admission", claimKind: "claim (seat)"}
	perRedis := per.cpu(m, redis)
	perApp := per.cpu(m, app)
	rows := drops * per.rows
	fmt.Fprintf(w, "  per drop: joins %.0f/s, polls %.0f/s, store polls %.0f/s, passes %.0f/s, claims %.0f/s, rows %.0f/s\n",
		per.joins, per.ticketPolls, per.storePolls, per.admissions, per.claims, per.rows)
	fmt.Fprintf(w, "  per drop: app %.3f cores, Redis %.3f cores (%.0f%% of one shard's budget)\n", perApp, perRedis, 100*perRedis/budget)
	fmt.Fprintf(w, "  all %d: app %.2f cores + %.2f cores per instance for the seat lists; Redis %.2f cores\n",
		drops, drops*perApp, m.seatListCores, drops*perRedis)
	usable := o.headroom*o.instanceCores - m.seatListCores
	if usable > 0 {
		fmt.Fprintf(w, "  instances of %.0f cores: %.2f usable each after the seat lists: %.0f instances\n",
			o.instanceCores, usable, math.Ceil(drops*perApp/usable))
	} else {
		fmt.Fprintf(w, "  instances of %.0f cores: the seat lists alone exceed the budget\n", o.instanceCores)
	}
	for _, c := range []float64{2, 4, 8, 16} {
		u := o.headroom*c - m.seatListCores
		if u <= 0 {
			fmt.Fprintf(w, "    %2.0f-core instances: none fits\n", c)
			continue
		}
		fmt.Fprintf(w, "    %2.0f-core instances: %.0f (%.0f cores in all)\n", c, math.Ceil(drops*perApp/u), c*math.Ceil(drops*perApp/u))
	}
	fit := int(math.Floor(budget / perRedis))
	fmt.Fprintf(w, "  a shard's budget holds %d such drops; most drops on one shard (99th percentile of 100,000 draws):\n", fit)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, s := range []int{3, 6, 8, 12, 16, 24} {
		worst := maxPerShard(drops, s, 100_000, 0.99, rng)
		fmt.Fprintf(w, "    %2d shards: mean %.1f, 99th pct max %2d -> %.0f%% of budget\n", s, float64(drops)/float64(s), worst,
			100*float64(worst)*perRedis/budget)
	}
	found := false
	for s := max(1, int(math.Ceil(drops*perRedis/budget))); s <= 4*drops && fit > 0; s++ {
		if maxPerShard(drops, s, 20_000, 0.99, rng) <= fit {
			fmt.Fprintf(w, "    fewest shards whose fullest holds at most %d drops in 99%% of draws: %d\n", fit, s)
			found = true
			break
		}
	}
	if !found {
		fmt.Fprintf(w, "    no shard count up to %d keeps the fullest within %d drops in 99%% of draws\n", 4*drops, fit)
	}
	my := rows * k["claim (seat)"].mysql / 1e6
	fmt.Fprintf(w, "  MySQL: %.0f rows/s, %.2f cores at the measured cost per row (%.2f at %.0f%%); commits/s at least %.0f (full batches)\n",
		rows, my, my/o.headroom, o.headroom*100, math.Ceil(rows/o.batchMax))
	return nil
}
