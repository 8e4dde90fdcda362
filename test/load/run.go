package load

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/schollz/progressbar/v3"
)

// Endpoint names used in reports.
const (
	EndpointClaim      = "claim"
	EndpointJoin       = "join"
	EndpointLineStatus = "line_status"
)

// runner is one drop's sale: its drop, its buyers, what they were told and
// measured, and its audit. A run has one runner per drop (see fleet); they
// share the run's client, scheduler and start.
type runner struct {
	cfg Config
	sc  scaled
	c   *client
	// k is this drop's index in the run, n the run's number of drops.
	k, n int
	// dropID is the id to create the drop with ("": the server names it), and
	// prefix starts its users' ids ("" in a single-drop run).
	dropID string
	prefix string
	ids    []string
	hs     []header
	drop   DropInfo
	start  time.Time
	rec    *recorder
	sale   *sale
	sched  *scheduler

	lastArrival time.Time
	schedule    ScheduleReport
	auditStats  serverStats
	serverIss   []apiIssuance
	lineFlood   *LineFloodReport
	flood       *floodState
	rush        *rush
	rho         *float64
}

// Run performs one scenario against cfg.BaseURL: it creates the drop (or
// cfg.Drops drops), drives the schedule, then audits the server, each drop on
// its own. It returns the report whenever the run got as far as measuring,
// together with an *AuditError if an audit failed, or another error if the
// run could not be carried out.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	c, err := newClient(cfg.BaseURL, cfg.AdminToken, cfg.Timeout, cfg.MaxInFlight)
	if err != nil {
		return nil, err
	}
	defer c.close()
	f, err := newFleet(cfg, c)
	if err != nil {
		return nil, err
	}
	wallStart := time.Now()
	switch cfg.Scenario {
	case ConcertSpike:
		err = f.concertSpike(ctx)
	case CouponRush:
		err = f.couponRush(ctx)
	case LineFlood:
		err = f.runners[0].lineFloodRun(ctx)
	}
	if err != nil {
		return nil, err
	}
	return f.finish(ctx, wallStart)
}

// deadline is the hard limit on the schedule: twice what it plans plus 30s.
func (r *runner) deadline() time.Duration {
	if r.cfg.Scenario == LineFlood {
		return r.sc.duration + 2*r.cfg.Timeout + 30*time.Second
	}
	if r.cfg.Duration > 0 {
		return r.sc.duration
	}
	d := 2*r.planned() + 30*time.Second
	if r.cfg.Scenario == CouponRush && !r.cfg.FixedPoll {
		// A server-paced poll is not compressed by --speed: the last users may
		// be told to come back as late as the API's 60 s bound.
		d += time.Minute
	}
	return d
}

// planned is how long the schedule should take at the configured speed.
func (r *runner) planned() time.Duration {
	switch r.cfg.Scenario {
	case ConcertSpike:
		var d time.Duration
		for _, s := range r.sc.stages {
			d += s.Duration
		}
		return d
	case CouponRush:
		sell := time.Duration(float64(r.cfg.Stock) / float64(r.sc.admitRate) * float64(time.Second))
		return r.sc.prequeue + r.sc.ramp + r.sc.wait + sell + r.sc.poll
	}
	return r.sc.duration
}

// call sends one measured request; fn sees the reply after the clock stopped.
func (r *runner) call(ep *endpoint, intended time.Time, method, path string, id header, body []byte, extra header, fn func(reply, time.Time)) {
	started := time.Now()
	r.c.do(method, path, id, body, extra, func(rep reply) {
		ended := time.Now()
		ep.observe(observation{intended: intended, started: started, ended: ended, status: rep.status, kind: rep.kind})
		if r.cfg.OnResult != nil {
			r.cfg.OnResult(Result{
				Endpoint: ep.name, Intended: intended, Started: started, Ended: ended,
				Status: rep.status, Err: rep.err, ErrKind: rep.kind.String(),
			})
		}
		if fn != nil {
			fn(rep, ended)
		}
	})
}

// progress draws a bar on cfg.Progress until the returned stop is called;
// describe, when set, adds the scenario's own account of where it stands.
func (r *runner) progress(total int64, done func() int64, describe func(time.Time) string) (stop func()) {
	return progressBar(r.cfg, r.start, r.rec, total, done, describe)
}

// progressBar draws the bar of a run that started at start and records into rec.
func progressBar(cfg Config, start time.Time, rec *recorder, total int64, done func() int64, describe func(time.Time) string) (stop func()) {
	if cfg.Progress == nil {
		return func() {}
	}
	bar := progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(cfg.Progress),
		progressbar.OptionSetWidth(30),
		progressbar.OptionShowCount(),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSetDescription(cfg.Scenario),
		progressbar.OptionSetRenderBlankState(true),
	)
	quit := make(chan struct{})
	finished := make(chan struct{})
	var lastReq atomic.Int64
	go func() {
		defer close(finished)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		prevAt := time.Now()
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				req, answered, failed := rec.totals()
				perSec := rate(req-lastReq.Swap(req), now.Sub(prevAt))
				prevAt = now
				extra := ""
				if describe != nil {
					extra = ", " + describe(now)
				}
				bar.Describe(fmt.Sprintf("%s %5.1fs %7.0f req/s answered %d errors %d%s",
					cfg.Scenario, now.Sub(start).Seconds(), perSec, answered, failed, extra))
				_ = bar.Set64(min(done(), total))
			}
		}
	}()
	return func() {
		close(quit)
		<-finished
		_ = bar.Set64(min(done(), total))
		_ = bar.Finish()
		_, _ = io.WriteString(cfg.Progress, "\n")
	}
}

// report assembles what the clients measured; the audit adds the server's view.
func (r *runner) report(wallStart time.Time) *Report {
	cfg := r.cfg
	rep := &Report{
		Scenario:  cfg.Scenario,
		Target:    cfg.BaseURL,
		Strategy:  cfg.Strategy,
		Speed:     cfg.Speed,
		StartedAt: wallStart,
		Drop:      r.drop,
		Schedule:  r.schedule,
		Endpoints: r.rec.summaries(),
		LineFlood: r.lineFlood,
		Config: ConfigEcho{
			Stock: cfg.Stock, Users: cfg.Users, PerUserLimit: cfg.PerUserLimit,
			Seed: cfg.Seed, Poisson: cfg.Poisson, Identity: "X-User-ID",
		},
	}
	if cfg.JWTSecret != "" {
		rep.Config.Identity = "JWT"
	}
	switch cfg.Scenario {
	case ConcertSpike:
		rep.Config.Stages = FormatStages(cfg.Stages)
	case CouponRush:
		rep.Config.RampSeconds = cfg.Ramp.Seconds()
		rep.Config.WaitSeconds = cfg.Wait.Seconds()
		rep.Config.PollSeconds = cfg.Poll.Seconds()
		rep.Config.AdmitRate = cfg.AdmitRate
		rep.Config.FixedPoll = cfg.FixedPoll
		rep.Config.Prequeue = cfg.Prequeue
		if cfg.Prequeue > 0 {
			rep.Config.PrequeueWindowSeconds = cfg.PrequeueWindow.Seconds()
		}
	}
	s := r.sale
	s.mu.Lock()
	rep.Sale = SaleReport{
		ClientIssued:        len(s.issued),
		SoldOutAnswers:      s.soldOut,
		SeatTaken:           s.seatTaken,
		LimitReached:        s.limitReached,
		FirstSoldOutSeconds: secondsSince(r.start, s.firstSoldOut),
	}
	decidedAt := s.decidedAt
	s.mu.Unlock()
	undecided, _ := s.undecided()
	rep.Sale.Undecided = undecided
	if undecided == 0 && !decidedAt.IsZero() && !r.lastArrival.IsZero() {
		v := decidedAt.Sub(r.lastArrival).Seconds()
		rep.Sale.DecidedAfterLastArrivalSeconds = &v
	}
	if r.rush != nil {
		r.rush.report(rep)
	}
	return rep
}
