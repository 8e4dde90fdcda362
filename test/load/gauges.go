package load

import (
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxGaugePoints bounds the waiting timeline a report carries.
const maxGaugePoints = 2000

// gauges samples the server while coupon-rush runs: how many buyers wait
// (admin stats, summed over the run's drops), its resident memory
// (--metrics-url), Redis memory (--redis), and the client's own status poll
// rate. Each is read periodically; the peak of
// waiting is the moment the memory figures are charged to.
type gauges struct {
	f        *fleet
	interval time.Duration
	http     *http.Client

	lastWaiting atomic.Int64

	mu          sync.Mutex
	redisBefore int64
	redisErr    error
	rssSource   string
	rssErr      error
	peak        int64
	peakAt      time.Duration
	redisAtPeak int64
	rssPeak     int64
	pollPeak    float64
	statsErrs   int
	points      []GaugePoint
}

func newGauges(f *fleet) *gauges {
	// A thousand samples over the plan, at least one a second, at most twenty:
	// a server-paced run may end well before its plan. A sample reads every
	// drop's stats, so many drops are sampled less often (20ms per drop).
	interval := min(max(f.runners[0].planned()/1000, 50*time.Millisecond), time.Second)
	interval = max(interval, time.Duration(len(f.runners))*20*time.Millisecond)
	return &gauges{
		f:        f,
		interval: interval,
		// No keep-alive: a scrape every second does not need a connection (and a
		// goroutine) left behind when the run ends.
		http: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}},
	}
}

// before reads Redis before any buyer joined, the base its per-buyer figure
// is measured from.
func (g *gauges) before() {
	if g.f.cfg.RedisAddr == "" {
		return
	}
	g.redisBefore, g.redisErr = redisUsedMemory(g.f.cfg.RedisAddr)
}

// run samples until the returned stop is called, and once more then.
func (g *gauges) run() (stop func()) {
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(g.interval)
		defer tick.Stop()
		prevAt, prevPolls := time.Now(), int64(0)
		for {
			select {
			case <-quit:
				return
			case now := <-tick.C:
				polls := g.f.total.endpoint(EndpointLineStatus).total()
				g.sample(now, rate(polls-prevPolls, now.Sub(prevAt)))
				prevAt, prevPolls = now, polls
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

func (g *gauges) sample(now time.Time, pollRate float64) {
	f := g.f
	var line, pre int64
	var statsErr error
	for _, r := range f.runners {
		var st serverStats
		if statsErr = f.c.admin(http.MethodGet, "/v1/admin/drops/"+r.drop.ID+"/stats", nil, &st); statsErr != nil {
			break
		}
		line += st.LineLength
		pre += st.PreQueueLength
	}
	waiting := line + pre
	rss, rssOK := g.rss()
	var redis int64
	var redisErr error
	if f.cfg.RedisAddr != "" && g.redisErr == nil {
		redis, redisErr = redisUsedMemory(f.cfg.RedisAddr)
	}
	at := now.Sub(f.start)

	g.mu.Lock()
	defer g.mu.Unlock()
	g.pollPeak = max(g.pollPeak, pollRate)
	if rssOK {
		g.rssPeak = max(g.rssPeak, rss)
	}
	if statsErr != nil {
		g.statsErrs++
		return
	}
	g.lastWaiting.Store(waiting)
	if waiting > g.peak {
		g.peak, g.peakAt = waiting, at
		if redisErr == nil {
			g.redisAtPeak = redis
		}
	}
	if redisErr != nil && g.redisErr == nil {
		g.redisErr = redisErr
	}
	p := GaugePoint{AtSeconds: at.Seconds(), Waiting: line, PreQueue: pre, PollsPerSecond: pollRate}
	if rssOK {
		p.ServerRSS = rss
	}
	if len(g.points) >= maxGaugePoints {
		// Halve the resolution rather than drop the end of a long run.
		kept := g.points[:0]
		for i := 0; i < len(g.points); i += 2 {
			kept = append(kept, g.points[i])
		}
		g.points = kept
	}
	g.points = append(g.points, p)
}

// rss reads the server's resident memory: from --metrics-url, or for an
// in-process server from /proc/self (which then includes the client).
func (g *gauges) rss() (int64, bool) {
	if url := g.f.cfg.MetricsURL; url != "" {
		v, err := g.scrape(url)
		if err != nil {
			if g.rssErr == nil {
				g.rssErr = err
			}
			return 0, false
		}
		g.rssSource = "metrics"
		return v, true
	}
	if g.f.cfg.InProcess {
		if v, err := procRSS(); err == nil {
			g.rssSource = "/proc/self (server and client)"
			return v, true
		}
	}
	return 0, false
}

func (g *gauges) scrape(url string) (int64, error) {
	resp, err := g.http.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	v := promValue(body, "process_resident_memory_bytes")
	if v < 0 {
		return 0, fmt.Errorf("%s: no process_resident_memory_bytes", url)
	}
	return v, nil
}

// report copies the sampled figures into the coupon-rush section.
func (g *gauges) report(cr *CouponRushReport) {
	g.mu.Lock()
	defer g.mu.Unlock()
	cr.PeakPollsPerSecond = g.pollPeak
	cr.WaitingPeak = g.peak
	cr.WaitingPeakAtSeconds = g.peakAt.Seconds()
	cr.SampleSeconds = g.interval.Seconds()
	cr.Timeline = append([]GaugePoint(nil), g.points...)
	if g.statsErrs > 0 {
		cr.Notes = append(cr.Notes, fmt.Sprintf("%d admin stats reads failed while sampling", g.statsErrs))
	}
	switch {
	case g.rssSource != "" && g.rssPeak > 0:
		cr.ServerRSSPeak, cr.RSSSource = g.rssPeak, g.rssSource
	case g.rssErr != nil:
		cr.Notes = append(cr.Notes, "server RSS not measured: "+g.rssErr.Error())
	default:
		cr.Notes = append(cr.Notes, "server RSS not measured: no --metrics-url")
	}
	switch {
	case g.f.cfg.RedisAddr == "":
		cr.Notes = append(cr.Notes, "Redis memory not measured: no --redis")
	case g.redisErr != nil:
		cr.Notes = append(cr.Notes, "Redis memory not measured: "+g.redisErr.Error())
	case g.peak > 0 && g.redisAtPeak > 0:
		cr.RedisBefore, cr.RedisAtPeak = g.redisBefore, g.redisAtPeak
		cr.RedisPerWaiting = float64(g.redisAtPeak-g.redisBefore) / float64(g.peak)
	}
}
