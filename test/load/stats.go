package load

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds in microseconds. Latencies above the top are clamped to it,
// so a stalled request still counts, at the worst value the report can show.
const (
	histLowest  = 1
	histHighest = int64(10 * time.Minute / time.Microsecond)
	// Three significant figures for the totals; two for the many timeline
	// buckets, where a percent of precision is plenty and memory is not free.
	histFigures     = 3
	timelineFigures = 2
	// maxBuckets caps the timeline; a run longer than planned folds into the last.
	maxBuckets = 600
)

func newHist(figures int) *hdrhistogram.Histogram {
	return hdrhistogram.New(histLowest, histHighest, figures)
}

func recordHist(h *hdrhistogram.Histogram, d time.Duration) {
	v := int64(d / time.Microsecond)
	if v < histLowest {
		v = histLowest
	}
	if v > histHighest {
		v = histHighest
	}
	_ = h.RecordValue(v) // cannot fail: v is clamped into range
}

// statusClass buckets an HTTP answer the way the pass rules read it.
type statusClass uint8

const (
	class2xx statusClass = iota
	class409
	class429
	class4xx
	class5xx
	classOther
	numClasses
)

func classOf(status int) statusClass {
	switch {
	case status >= 200 && status < 300:
		return class2xx
	case status == 409:
		return class409
	case status == 429:
		return class429
	case status >= 400 && status < 500:
		return class4xx
	case status >= 500 && status < 600:
		return class5xx
	}
	return classOther
}

// endpoint gathers one route's measurements. One mutex per endpoint is cheap next
// to a network round trip and keeps the histograms exact.
type endpoint struct {
	name  string
	start time.Time
	width time.Duration

	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	count    int64
	classes  [numClasses]int64
	errs     [errOther + 1]int64
	late     int64
	first    time.Time
	last     time.Time
	timeline []bucket
	codes    map[int]int64

	// parent, when set, also observes everything this endpoint does: a drop's
	// endpoint of a multi-drop run feeds the run's total.
	parent *endpoint
}

// bucket is one slice of the timeline: answers and errors that completed in it,
// and their latencies.
type bucket struct {
	answered int64
	errors   int64
	hist     *hdrhistogram.Histogram
}

func newEndpoint(name string, start time.Time, width time.Duration) *endpoint {
	return &endpoint{name: name, start: start, width: width, hist: newHist(histFigures), codes: map[int]int64{}}
}

// observation is one request as the client lived it: when it should have
// started, when it did, when it ended, and how.
type observation struct {
	intended time.Time
	started  time.Time
	ended    time.Time
	status   int
	kind     errKind
}

// lateThreshold is how far behind its intended time a start may be before it
// counts as late.
const lateThreshold = time.Millisecond

func (e *endpoint) observe(o observation) {
	if e.parent != nil {
		e.parent.observe(o)
	}
	lat := o.ended.Sub(o.intended)
	e.mu.Lock()
	defer e.mu.Unlock()
	e.count++
	if e.first.IsZero() || o.intended.Before(e.first) {
		e.first = o.intended
	}
	if o.ended.After(e.last) {
		e.last = o.ended
	}
	if o.started.Sub(o.intended) > lateThreshold {
		e.late++
	}
	failed := false
	if o.kind != errNone {
		e.errs[o.kind]++
		failed = true
	} else {
		c := classOf(o.status)
		e.classes[c]++
		e.codes[o.status]++
		failed = c == class5xx || c == class4xx || c == classOther
	}
	recordHist(e.hist, lat)
	if e.width < 0 {
		return // no timeline
	}
	idx := 0
	if e.width > 0 {
		idx = int(o.ended.Sub(e.start) / e.width)
	}
	idx = min(max(idx, 0), maxBuckets-1)
	for len(e.timeline) <= idx {
		e.timeline = append(e.timeline, bucket{})
	}
	b := &e.timeline[idx]
	if failed {
		b.errors++
	} else {
		b.answered++
	}
	if b.hist == nil {
		b.hist = newHist(timelineFigures)
	}
	recordHist(b.hist, lat)
}

// answered counts 2xx and 409 answers: the outcomes the API promises.
func (e *endpoint) answered() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.classes[class2xx] + e.classes[class409]
}

// failures counts what the pass rules call failed: transport errors, 5xx and
// 4xx other than 409 and 429.
func (e *endpoint) failures() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := e.classes[class4xx] + e.classes[class5xx] + e.classes[classOther]
	for _, v := range e.errs {
		n += v
	}
	return n
}

func (e *endpoint) total() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.count
}

// summary turns the endpoint's measurements into its report section.
func (e *endpoint) summary() EndpointReport {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := EndpointReport{
		Name:       e.name,
		Count:      e.count,
		LateStarts: e.late,
		Latency:    latencyOf(e.hist),
		Status: StatusCounts{
			S2xx: e.classes[class2xx], S409: e.classes[class409], S429: e.classes[class429],
			S4xx: e.classes[class4xx], S5xx: e.classes[class5xx], Other: e.classes[classOther],
		},
		Errors: ErrorCounts{
			Timeout: e.errs[errTimeout], Refused: e.errs[errRefused],
			Reset: e.errs[errReset], Other: e.errs[errOther],
		},
		Codes: map[int]int64{},
	}
	for k, v := range e.codes {
		r.Codes[k] = v
	}
	r.Throughput = rate(e.count, e.last.Sub(e.first))
	for i, b := range e.timeline {
		p := TimelinePoint{
			AtSeconds: (time.Duration(i+1) * e.width).Seconds(),
			Answered:  b.answered,
			Errors:    b.errors,
			PerSecond: rate(b.answered+b.errors, e.width),
		}
		if b.hist != nil {
			p.P50Ms = usToMs(b.hist.ValueAtQuantile(50))
			p.P99Ms = usToMs(b.hist.ValueAtQuantile(99))
		}
		r.Timeline = append(r.Timeline, p)
	}
	return r
}

func latencyOf(h *hdrhistogram.Histogram) Latency {
	if h.TotalCount() == 0 {
		return Latency{}
	}
	return Latency{
		MeanMs: h.Mean() / 1000,
		P50Ms:  usToMs(h.ValueAtQuantile(50)),
		P90Ms:  usToMs(h.ValueAtQuantile(90)),
		P99Ms:  usToMs(h.ValueAtQuantile(99)),
		P999Ms: usToMs(h.ValueAtQuantile(99.9)),
		MaxMs:  usToMs(h.Max()),
	}
}

func usToMs(v int64) float64 { return float64(v) / 1000 }

// rate is n per second over d; a window too short to measure gives 0 rather
// than a huge number.
func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// recorder owns the run's endpoints, created up front so lookups need no lock.
type recorder struct {
	start time.Time
	width time.Duration
	eps   []*endpoint
}

func newRecorder(start time.Time, planned time.Duration, names ...string) *recorder {
	// About 200 points across the planned run, never finer than 10ms.
	width := max(planned/200, 10*time.Millisecond)
	r := &recorder{start: start, width: width}
	for _, n := range names {
		r.eps = append(r.eps, newEndpoint(n, start, width))
	}
	return r
}

// newDropRecorder is one drop's recorder in a multi-drop run: its endpoints
// count, classify and keep a histogram (at the timelines' two significant
// figures, so thirty drops cost little) but no timeline, and feed every
// observation to the run's total recorder, which draws the charts.
func newDropRecorder(total *recorder) *recorder {
	r := &recorder{start: total.start, width: -1}
	for _, p := range total.eps {
		e := newEndpoint(p.name, total.start, -1)
		e.hist = newHist(timelineFigures)
		e.parent = p
		r.eps = append(r.eps, e)
	}
	return r
}

func (r *recorder) endpoint(name string) *endpoint {
	for _, e := range r.eps {
		if e.name == name {
			return e
		}
	}
	panic("load: unknown endpoint " + name)
}

func (r *recorder) totals() (requests, answered, failures int64) {
	for _, e := range r.eps {
		requests += e.total()
		answered += e.answered()
		failures += e.failures()
	}
	return requests, answered, failures
}

// latency is the latency of every request the recorder saw, all endpoints together.
func (r *recorder) latency() Latency {
	var h *hdrhistogram.Histogram
	for _, e := range r.eps {
		e.mu.Lock()
		if h == nil {
			h = hdrhistogram.New(e.hist.LowestTrackableValue(), e.hist.HighestTrackableValue(), int(e.hist.SignificantFigures()))
		}
		h.Merge(e.hist)
		e.mu.Unlock()
	}
	if h == nil {
		return Latency{}
	}
	return latencyOf(h)
}

func (r *recorder) summaries() []EndpointReport {
	out := make([]EndpointReport, 0, len(r.eps))
	for _, e := range r.eps {
		if e.total() > 0 {
			out = append(out, e.summary())
		}
	}
	return out
}
