package load

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"
)

// fleet is one run: the drops it sells at once (one runner each), the client,
// scheduler and clock they share, and the run's total recorder. With one drop
// the drop's recorder is the total and the run is the single-drop run it
// always was.
//
// With N drops, every drop follows the scenario's whole schedule, side by
// side: the scheduler holds the schedule once and plays each offset N times,
// run-wide arrival i being arrival i/N of one drop (see dropOf); a follow-up
// of user u of drop k is scheduled as u*N+k. So N drops cost the scheduler
// no more per user than one.
type fleet struct {
	cfg     Config
	sc      scaled
	c       *client
	rng     *mrand.Rand
	runID   string
	runners []*runner

	start       time.Time
	total       *recorder
	schedule    ScheduleReport
	lastArrival time.Time
	gauges      *gauges
	// opensAt is when coupon-rush's drops open (the start, without a pre-queue).
	opensAt time.Time
}

func newFleet(cfg Config, c *client) (*fleet, error) {
	f := &fleet{cfg: cfg, sc: cfg.scaled(), c: c}
	if cfg.Poisson {
		f.rng = mrand.New(mrand.NewPCG(uint64(cfg.Seed), 0x9e3779b97f4a7c15))
	}
	n := cfg.Drops
	if n > 1 {
		f.runID = cfg.RunID
		if f.runID == "" {
			f.runID = newRunID(cfg.Scenario, time.Now())
		}
	}
	width := len(strconv.Itoa(n))
	if width < 2 {
		width = 2
	}
	for k := range n {
		r := &runner{cfg: cfg, sc: f.sc, c: c, k: k, n: n}
		if n > 1 {
			tag := fmt.Sprintf("d%0*d", width, k+1)
			r.dropID, r.prefix = f.runID+"-"+tag, tag+"-"
		}
		// Tokens outlive the longest the run may take, and then some.
		exp := time.Now().Add(r.deadline() + time.Hour)
		var err error
		if r.ids, r.hs, err = prefixedIdentities(r.prefix, cfg.Users, cfg.JWTSecret, exp); err != nil {
			return nil, err
		}
		f.runners = append(f.runners, r)
	}
	return f, nil
}

// newRunID names a multi-drop run: the scenario, the time, and a random
// suffix so that two runs started in the same second do not collide.
func newRunID(scenario string, now time.Time) string {
	var b [2]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return scenario + "-" + now.UTC().Format("20060102-150405") + "-" + hex.EncodeToString(b[:])
}

// begin starts the clock and the recorders once every drop exists.
func (f *fleet) begin(names ...string) {
	f.start = time.Now()
	f.total = newRecorder(f.start, f.runners[0].planned(), names...)
	for _, r := range f.runners {
		r.start, r.rec = f.start, f.total
		if len(f.runners) > 1 {
			r.rec = newDropRecorder(f.total)
		}
	}
}

// runSchedule drives the shared scheduler under the run's deadline with a
// progress bar. arrive and follow get the run-wide indices described on fleet.
func (f *fleet) runSchedule(ctx context.Context, arrivals []time.Duration, arrive func(int, time.Time),
	follow func(int, uint8, time.Time), done func() int64, describe func(time.Time) string, perArrival int64) {
	n := len(f.runners)
	ctx, cancel := context.WithTimeout(ctx, f.runners[0].deadline())
	defer cancel()
	sched := newScheduler(f.start, arrivals, f.cfg.MaxInFlight, arrive)
	sched.copies = n
	sched.follow = follow
	if len(arrivals) > 0 {
		f.lastArrival = f.start.Add(arrivals[len(arrivals)-1])
	}
	for _, r := range f.runners {
		r.sched, r.lastArrival = sched, f.lastArrival
	}
	stop := progressBar(f.cfg, f.start, f.total, perArrival*int64(sched.planned()), done, describe)
	unstarted := sched.run(ctx)
	stop()
	f.schedule = sched.stats(unstarted)
	next := sched.planned() - unstarted
	for _, r := range f.runners {
		r.schedule = f.schedule
		if n > 1 {
			r.schedule = ScheduleReport{Planned: len(arrivals), Unstarted: unstartedOf(next, len(arrivals), n, r.k)}
		}
	}
}

// dropOf is the drop of run-wide arrival i among n drops. The n arrivals of
// one offset (group i/n) start in turn, and the turn rotates from one group
// to the next, so that no drop's buyers are always served first.
func dropOf(i, n int) int { return (i%n + i/n) % n }

// unstartedOf is how many of drop k's arrivals never started when the
// scheduler stopped before run-wide arrival next, with groups offsets of n
// arrivals each.
func unstartedOf(next, groups, n, k int) int {
	g := next / n
	if g >= groups {
		return 0
	}
	out := groups - 1 - g // every later group holds one of k's
	if pos := ((k-g)%n + n) % n; pos >= next%n {
		out++ // k's turn in group g had not come
	}
	return out
}

// after schedules this drop's user u's follow-up on the shared scheduler.
func (r *runner) after(at time.Time, u int, op uint8) {
	r.sched.after(at, u*r.n+r.k, op)
}

// concertSpike: per drop, one seated drop whose claims name seats that cycle
// through every label, arriving on the staged schedule.
func (f *fleet) concertSpike(ctx context.Context) error {
	cfg := f.cfg
	labels := make([]string, cfg.Stock)
	bodies := make([][]byte, cfg.Stock)
	for i := range labels {
		labels[i] = seatLabel(i)
		bodies[i] = []byte(`{"seat":"` + labels[i] + `"}`)
	}
	for _, r := range f.runners {
		if err := r.createDrop(createDrop{Kind: "seated", Seats: labels, Admission: "open"}); err != nil {
			return err
		}
		r.sale = newSale(cfg.Users, cfg.Stock)
		r.sale.prefix = r.prefix
	}
	arrivals := stageArrivals(f.sc.stages, f.rng)
	f.begin(EndpointClaim)
	n := len(f.runners)
	arrive := make([]func(int, time.Time), n)
	for k, r := range f.runners {
		arrive[k] = r.concertArrival(bodies)
	}
	f.runSchedule(ctx, arrivals, func(i int, intended time.Time) { arrive[dropOf(i, n)](i/n, intended) }, nil,
		func() int64 { return f.total.eps[0].total() }, nil, 1)
	return nil
}

// couponRush: per drop, one general queued drop; each user joins, then polls
// its status until decided (see rush). With a pre-queue every drop opens at
// the same moment, PrequeueWindow after the start.
func (f *fleet) couponRush(ctx context.Context) error {
	cfg := f.cfg
	body := createDrop{Kind: "general", Stock: cfg.Stock, Admission: "queued", AdmitRate: f.sc.admitRate}
	created := time.Now()
	nPre := 0
	if f.sc.prequeue > 0 {
		nPre = int(math.Round(float64(cfg.Users) * cfg.Prequeue))
		queueOpens := created.Add(-time.Minute).UTC()
		body.QueueOpensAt = &queueOpens
		body.OpensAt = created.Add(f.sc.prequeue).UTC()
		shuffle := true
		body.ShuffleAtOpen = &shuffle
	}
	f.gauges = newGauges(f)
	f.gauges.before()
	for _, r := range f.runners {
		x := &rush{r: r, users: make([]rushUser, cfg.Users), paced: !cfg.FixedPoll, nPre: nPre}
		r.rush = x
		if err := r.createDrop(body); err != nil {
			return err
		}
		x.line = "/v1/drops/" + r.drop.ID + "/line"
		x.me = x.line + "/me"
		r.sale = newLineSale(cfg.Users)
		r.sale.prefix = r.prefix
	}
	f.begin(EndpointJoin, EndpointLineStatus)
	f.opensAt = f.start
	var arrivals []time.Duration
	if f.sc.prequeue > 0 {
		f.opensAt = body.OpensAt
		// Creating the drops took a moment out of the pre-queue window: every
		// pre-queue arrival still lands before opening.
		window := max(f.opensAt.Sub(f.start), 0)
		arrivals = rampArrivals(nPre, window, f.rng)
		for _, d := range rampArrivals(cfg.Users-nPre, f.sc.ramp, f.rng) {
			arrivals = append(arrivals, window+d)
		}
	} else {
		arrivals = rampArrivals(cfg.Users, f.sc.ramp, f.rng)
	}
	for _, r := range f.runners {
		x := r.rush
		x.opensAt = f.opensAt
		x.join, x.status = r.rec.endpoint(EndpointJoin), r.rec.endpoint(EndpointLineStatus)
	}
	n := len(f.runners)
	stopGauges := f.gauges.run()
	f.runSchedule(ctx, arrivals,
		func(i int, intended time.Time) { f.runners[dropOf(i, n)].rush.doJoin(i/n, intended) },
		func(g int, op uint8, intended time.Time) {
			x, u := f.runners[g%n].rush, g/n
			if op == opJoin {
				x.doJoin(u, intended)
			} else {
				x.doPoll(u, intended)
			}
		},
		func() int64 {
			var d int64
			for _, r := range f.runners {
				d += r.sale.nJoined.Load() + r.sale.nDecided.Load()
			}
			return d
		},
		f.describeRush, 2)
	stopGauges()
	return nil
}

// describeRush is the progress bar's account of where a coupon-rush run
// stands: the countdown to opening during the pre-queue, then the time since.
func (f *fleet) describeRush(now time.Time) string {
	var joined, decided int64
	for _, r := range f.runners {
		joined += r.sale.nJoined.Load()
		decided += r.sale.nDecided.Load()
	}
	phase := fmt.Sprintf("open +%.0fs", now.Sub(f.opensAt).Seconds())
	if now.Before(f.opensAt) {
		phase = fmt.Sprintf("pre-queue, opens in %.0fs", f.opensAt.Sub(now).Seconds())
	}
	return fmt.Sprintf("%s, joined %d decided %d waiting %d", phase, joined, decided, f.gauges.lastWaiting.Load())
}

// finish reports and audits: one drop as always, or every drop on its own and
// the run as their sum.
func (f *fleet) finish(ctx context.Context, wallStart time.Time) (*Report, error) {
	if len(f.runners) == 1 {
		r := f.runners[0]
		rep := r.report(wallStart)
		if f.gauges != nil && rep.CouponRush != nil {
			f.gauges.report(rep.CouponRush)
		}
		a, err := r.audit(ctx)
		if err != nil {
			return rep, fmt.Errorf("audit could not read the server: %w", err)
		}
		r.settle(rep, a)
		rep.WallSeconds = time.Since(wallStart).Seconds()
		if !a.Passed {
			return rep, &AuditError{Scenario: f.cfg.Scenario, Failures: a.Failures()}
		}
		return rep, nil
	}
	reps := make([]*Report, len(f.runners))
	for k, r := range f.runners {
		reps[k] = r.report(wallStart)
	}
	rep := f.report(wallStart, reps)
	for k, r := range f.runners {
		a, err := r.audit(ctx)
		if err != nil {
			return rep, fmt.Errorf("drop %s: audit could not read the server: %w", r.drop.ID, err)
		}
		r.settle(reps[k], a)
	}
	f.merge(rep, reps)
	rep.WallSeconds = time.Since(wallStart).Seconds()
	if !rep.Audit.Passed {
		var failures []string
		for _, d := range rep.Drops {
			for _, msg := range d.Audit.Failures() {
				failures = append(failures, "drop "+d.Drop.ID+": "+msg)
			}
		}
		return rep, &AuditError{Scenario: f.cfg.Scenario, Failures: failures}
	}
	return rep, nil
}

// settle adds what the audit learned to the drop's report.
func (r *runner) settle(rep *Report, a AuditReport) {
	rep.Audit = a
	if rep.CouponRush != nil {
		rep.CouponRush.PrequeueRankCorrelation = r.rho
	}
	rep.Sale.Issued = int(r.auditStats.Issued)
	rep.Sale.SellOutSeconds = r.sellOut()
}

// report is a multi-drop run's report before the audits: the run's totals,
// measured by the total recorder, and its drops described together.
func (f *fleet) report(wallStart time.Time, reps []*Report) *Report {
	first := reps[0]
	d := first.Drop
	n := len(reps)
	rep := &Report{
		Scenario:  f.cfg.Scenario,
		Target:    f.cfg.BaseURL,
		Strategy:  f.cfg.Strategy,
		Speed:     f.cfg.Speed,
		StartedAt: wallStart,
		RunID:     f.runID,
		Drop: DropInfo{ID: f.runID, Kind: d.Kind, Admission: d.Admission, Stock: d.Stock * n,
			PerUserLimit: d.PerUserLimit, AdmitRate: d.AdmitRate},
		Schedule:  f.schedule,
		Endpoints: f.total.summaries(),
		Config:    first.Config,
	}
	rep.Config.Drops = n
	rep.Config.RunID = f.runID
	if first.CouponRush != nil {
		cr := &CouponRushReport{PollMode: first.CouponRush.PollMode, PrequeueWindowSeconds: first.CouponRush.PrequeueWindowSeconds}
		for _, r := range reps {
			c := r.CouponRush
			cr.PrequeueUsers += c.PrequeueUsers
			cr.PrequeueJoined += c.PrequeueJoined
			cr.StatusPolls += c.StatusPolls
			cr.PollsWithTicket += c.PollsWithTicket
		}
		if users := f.cfg.Users * n; users > 0 {
			cr.PollsPerUser = float64(cr.StatusPolls) / float64(users)
		}
		cr.MeanPollsPerSecond = f.total.endpoint(EndpointLineStatus).summary().Throughput
		cr.OpenToDecidedSeconds = latest(reps, func(r *Report) *float64 { return r.CouponRush.OpenToDecidedSeconds })
		f.gauges.report(cr)
		rep.CouponRush = cr
	}
	return rep
}

// merge adds the audited drops to the run's report: the per-drop table, the
// sale's sum and one audit line per drop.
func (f *fleet) merge(rep *Report, reps []*Report) {
	s := &rep.Sale
	rep.Audit = AuditReport{Passed: true}
	for k, r := range reps {
		runner := f.runners[k]
		rs := r.Sale
		s.Issued += rs.Issued
		s.ClientIssued += rs.ClientIssued
		s.SoldOutAnswers += rs.SoldOutAnswers
		s.SeatTaken += rs.SeatTaken
		s.LimitReached += rs.LimitReached
		s.Undecided += rs.Undecided
		if v := rs.FirstSoldOutSeconds; v != nil && (s.FirstSoldOutSeconds == nil || *v < *s.FirstSoldOutSeconds) {
			s.FirstSoldOutSeconds = v
		}

		dr := DropReport{Drop: r.Drop, Issued: rs.Issued, Audit: r.Audit, Latency: runner.rec.latency()}
		for _, e := range r.Endpoints {
			dr.Requests += e.Count
			dr.S2xx += e.Status.S2xx
			dr.S409 += e.Status.S409
		}
		dr.Errors = dr.Requests - dr.S2xx - dr.S409
		rep.Drops = append(rep.Drops, dr)

		check := Check{Name: "drop " + r.Drop.ID, Passed: r.Audit.Passed,
			Detail: fmt.Sprintf("all %d checks passed", len(r.Audit.Checks))}
		if !r.Audit.Passed {
			check.Detail = strings.Join(r.Audit.Failures(), "; ")
			rep.Audit.Passed = false
		}
		rep.Audit.Checks = append(rep.Audit.Checks, check)
	}
	all := DropReport{Drop: rep.Drop, Issued: s.Issued, Audit: rep.Audit, Latency: f.total.latency()}
	for _, d := range rep.Drops {
		all.Requests += d.Requests
		all.S2xx += d.S2xx
		all.S409 += d.S409
		all.Errors += d.Errors
	}
	rep.AllDrops = &all
	s.SellOutSeconds = latest(reps, func(r *Report) *float64 { return r.Sale.SellOutSeconds })
	s.DecidedAfterLastArrivalSeconds = latest(reps, func(r *Report) *float64 { return r.Sale.DecidedAfterLastArrivalSeconds })
}

// latest is the largest of a figure every drop has, or nil if some drop has
// none (it never sold out, say).
func latest(reps []*Report, get func(*Report) *float64) *float64 {
	var out *float64
	for _, r := range reps {
		v := get(r)
		if v == nil {
			return nil
		}
		if out == nil || *v > *out {
			out = v
		}
	}
	return out
}
