package application

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fastdeal/fastdeal/domain/clock"
)

// LiveCounters count, per drop, the line joins and status polls this
// instance answered, for the operator's live view. They are this instance's
// view only: behind a load balancer each instance counts what it served.
// Admissions and issues need no counter here, since the live view derives
// them from the stores' global counts.
//
// Counting is on the buyers' hot path: after a drop's first event it is one
// lock-free map read and one atomic add.
type LiveCounters struct {
	drops sync.Map // drop id -> *liveCount
}

type liveCount struct {
	joins, polls atomic.Int64
}

// NewLiveCounters returns counters at zero for every drop.
func NewLiveCounters() *LiveCounters { return &LiveCounters{} }

func (l *LiveCounters) of(dropID string) *liveCount {
	if c, ok := l.drops.Load(dropID); ok {
		return c.(*liveCount)
	}
	c, _ := l.drops.LoadOrStore(dropID, &liveCount{})
	return c.(*liveCount)
}

// Joined counts one buyer who took a new place in a drop's line or pre-queue.
func (l *LiveCounters) Joined(dropID string) {
	if l != nil {
		l.of(dropID).joins.Add(1)
	}
}

// Polled counts one line status poll of a drop.
func (l *LiveCounters) Polled(dropID string) {
	if l != nil {
		l.of(dropID).polls.Add(1)
	}
}

// Totals returns the joins and polls counted for a drop since start.
func (l *LiveCounters) Totals(dropID string) (joins, polls int64) {
	if l == nil {
		return 0, 0
	}
	c, ok := l.drops.Load(dropID)
	if !ok {
		return 0, 0
	}
	lc := c.(*liveCount)
	return lc.joins.Load(), lc.polls.Load()
}

// Rate is events per second over two windows.
type Rate struct {
	// LastSecond is the rate between the last two readings (about a second apart).
	LastSecond float64
	// LastMinute is the rate over the last minute, or over as much of it as
	// the feed has seen when it started less than a minute ago.
	LastMinute float64
}

// LiveRates are the rates of a drop's activity.
type LiveRates struct {
	// Joins and Polls are this instance's (see LiveCounters).
	Joins, Polls Rate
	// Admissions and Issues are global: differences of the stores' counts.
	Admissions, Issues Rate
}

// LiveStats is one reading of the operator's live view.
type LiveStats struct {
	Stats
	At    time.Time
	Rates LiveRates
	// ETASeconds is how long the last buyer in line waits at the admit rate
	// (line length / admit rate); nil while admission is paused or has no rate.
	ETASeconds *float64
}

// Window lengths of LiveRates.
const (
	liveShort = time.Second
	liveLong  = time.Minute
)

// liveSeries indexes the cumulative values a rateWindow keeps.
const (
	seriesJoins = iota
	seriesPolls
	seriesAdmitted
	seriesIssued
	seriesCount
)

// sample is one reading of cumulative counts.
type sample struct {
	at time.Time
	v  [seriesCount]int64
}

// rateWindow is a ring of the last minute's readings of cumulative counts
// (one a second, plus slack), from which both windows' rates are
// differences: a rate over a window is the growth since the oldest reading
// inside it, divided by the time between the readings.
type rateWindow struct {
	ring  [64]sample
	n     int // readings held, up to len(ring)
	next  int // slot of the next reading
	short time.Duration
	long  time.Duration
}

func newRateWindow() *rateWindow { return &rateWindow{short: liveShort, long: liveLong} }

// add records a reading; readings come in time order.
func (w *rateWindow) add(s sample) {
	w.ring[w.next] = s
	w.next = (w.next + 1) % len(w.ring)
	if w.n < len(w.ring) {
		w.n++
	}
}

// at returns the i-th newest reading (0 is the latest).
func (w *rateWindow) at(i int) sample {
	return w.ring[(w.next-1-i+2*len(w.ring))%len(w.ring)]
}

// rates returns each series' rate over the short and the long window, ending
// at the latest reading. The short window takes the reading just before the
// latest even when ticks were late, so a slow store read never shows a zero.
func (w *rateWindow) rates() (short, long [seriesCount]float64) {
	if w.n < 2 {
		return short, long
	}
	last := w.at(0)
	short = rateBetween(w.at(1), last)
	// Half a tick of slack keeps a reading taken exactly a window ago.
	from := last.at.Add(-w.long - w.short/2)
	oldest := w.at(1)
	for i := 2; i < w.n; i++ {
		s := w.at(i)
		if s.at.Before(from) {
			break
		}
		oldest = s
	}
	return short, rateBetween(oldest, last)
}

// rateBetween is each series' growth per second from a to b. A count that
// went down (a store restarted empty, a line rebuilt) restarts from zero
// rather than showing a negative rate.
func rateBetween(a, b sample) (r [seriesCount]float64) {
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return r
	}
	for i := range r {
		d := b.v[i] - a.v[i]
		if d < 0 {
			d = b.v[i]
		}
		r[i] = float64(d) / dt
	}
	return r
}

// LiveFeed reads one drop's live view, one reading per call to Next. Each
// feed keeps its own minute of readings, so it is meant for one stream and
// is not safe for concurrent use.
type LiveFeed struct {
	catalog  *Catalog
	counters *LiveCounters
	clock    clock.Clock
	dropID   string
	window   *rateWindow
}

// NewLiveFeed returns a feed of a drop's stats and rates. counters may be nil
// (joins and polls then read zero); a nil clk is the system clock.
func NewLiveFeed(catalog *Catalog, counters *LiveCounters, clk clock.Clock, dropID string) *LiveFeed {
	if clk == nil {
		clk = clock.System{}
	}
	return &LiveFeed{catalog: catalog, counters: counters, clock: clk, dropID: dropID, window: newRateWindow()}
}

// Next reads the drop's stats and the rates since the previous readings. The
// first reading has zero rates: there is nothing to difference it with yet.
// Errors are those of Catalog.Stats; a failed reading leaves the window as it
// was, so the next one spans the gap.
func (f *LiveFeed) Next(ctx context.Context) (LiveStats, error) {
	st, err := f.catalog.Stats(ctx, f.dropID)
	if err != nil {
		return LiveStats{}, err
	}
	return f.observe(st), nil
}

// observe adds one stats reading to the window and computes the view.
func (f *LiveFeed) observe(st Stats) LiveStats {
	now := f.clock.Now()
	joins, polls := f.counters.Totals(f.dropID)
	s := sample{at: now}
	s.v[seriesJoins], s.v[seriesPolls] = joins, polls
	s.v[seriesAdmitted], s.v[seriesIssued] = st.Admitted, st.Issued
	f.window.add(s)
	short, long := f.window.rates()
	rate := func(i int) Rate { return Rate{LastSecond: short[i], LastMinute: long[i]} }
	out := LiveStats{Stats: st, At: now, Rates: LiveRates{
		Joins: rate(seriesJoins), Polls: rate(seriesPolls),
		Admissions: rate(seriesAdmitted), Issues: rate(seriesIssued),
	}}
	if !st.Paused && st.AdmitRate > 0 {
		eta := float64(st.LineLength) / float64(st.AdmitRate)
		out.ETASeconds = &eta
	}
	return out
}
