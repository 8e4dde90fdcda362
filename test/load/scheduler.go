package load

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// task runs one request (and may schedule the next one of the same user).
// intended is when it was due; the latency it reports is measured from there.
type task func(intended time.Time)

// scheduler is an open-model dispatcher: arrivals start at their intended times
// whether or not earlier requests have answered, so a slow server meets the same
// offered load as a fast one and its slowness shows in the latencies instead of
// silently thinning the load (coordinated omission).
//
// Arrivals come from a precomputed list of offsets; follow-up requests (a user's
// next poll) go into a heap. Goroutines exist only for requests in flight, so a
// million waiting users cost a heap entry each, not a stack.
type scheduler struct {
	start    time.Time
	arrivals []time.Duration
	arrive   func(i int, intended time.Time)
	sem      chan struct{}

	mu      sync.Mutex
	next    int
	later   taskHeap
	seq     uint64
	pending int
	stopped bool
	wake    chan struct{}
	wg      sync.WaitGroup

	started    atomic.Int64
	lateStarts atomic.Int64
	maxLate    atomic.Int64
	lastStart  atomic.Int64
}

func newScheduler(start time.Time, arrivals []time.Duration, maxInFlight int, arrive func(int, time.Time)) *scheduler {
	return &scheduler{
		start:    start,
		arrivals: arrivals,
		arrive:   arrive,
		sem:      make(chan struct{}, maxInFlight),
		wake:     make(chan struct{}, 1),
	}
}

// after schedules fn at the given time. Called from a running task, it keeps the
// run alive until fn has run; after the run stopped it is dropped.
func (s *scheduler) after(at time.Time, fn task) {
	s.mu.Lock()
	if !s.stopped {
		s.seq++
		heap.Push(&s.later, timed{at: at, seq: s.seq, fn: fn})
	}
	s.mu.Unlock()
	s.signal()
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run dispatches until every arrival and follow-up has run, or ctx ends; it then
// waits for requests in flight and returns how many arrivals never started.
func (s *scheduler) run(ctx context.Context) (unstarted int) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	defer func() {
		s.mu.Lock()
		s.stopped = true
		unstarted = len(s.arrivals) - s.next
		s.later = nil
		s.mu.Unlock()
		s.wg.Wait()
	}()
	for {
		for {
			at, fn, ok := s.due(time.Now())
			if !ok {
				break
			}
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				s.unclaim()
				return
			}
			s.launch(at, fn)
		}
		s.mu.Lock()
		done := s.next >= len(s.arrivals) && s.later.Len() == 0 && s.pending == 0
		var nextAt time.Time
		if !done {
			nextAt = s.nextAt()
		}
		s.mu.Unlock()
		if done {
			return
		}
		if !nextAt.IsZero() {
			timer.Reset(time.Until(nextAt))
		}
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-timer.C:
		}
	}
}

// due takes the earliest task whose time has come and counts it as pending, so
// the run cannot look finished between taking it and starting it.
func (s *scheduler) due(now time.Time) (time.Time, task, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var arrAt time.Time
	hasArr := s.next < len(s.arrivals)
	if hasArr {
		arrAt = s.start.Add(s.arrivals[s.next])
	}
	if s.later.Len() > 0 && (!hasArr || s.later[0].at.Before(arrAt)) {
		if s.later[0].at.After(now) {
			return time.Time{}, nil, false
		}
		t := heap.Pop(&s.later).(timed)
		s.pending++
		return t.at, t.fn, true
	}
	if !hasArr || arrAt.After(now) {
		return time.Time{}, nil, false
	}
	i := s.next
	s.next++
	s.pending++
	return arrAt, func(intended time.Time) { s.arrive(i, intended) }, true
}

// unclaim undoes due's pending count for a task that will not start.
func (s *scheduler) unclaim() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

func (s *scheduler) nextAt() time.Time {
	var t time.Time
	if s.next < len(s.arrivals) {
		t = s.start.Add(s.arrivals[s.next])
	}
	if s.later.Len() > 0 && (t.IsZero() || s.later[0].at.Before(t)) {
		t = s.later[0].at
	}
	return t
}

func (s *scheduler) launch(at time.Time, fn task) {
	s.wg.Add(1)
	go func() {
		defer func() {
			<-s.sem
			s.mu.Lock()
			s.pending--
			s.mu.Unlock()
			s.signal()
			s.wg.Done()
		}()
		now := time.Now()
		s.started.Add(1)
		storeMax(&s.lastStart, int64(now.Sub(s.start)))
		if late := now.Sub(at); late > lateThreshold {
			s.lateStarts.Add(1)
			storeMax(&s.maxLate, int64(late))
		}
		fn(at)
	}()
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

type timed struct {
	at  time.Time
	seq uint64
	fn  task
}

// taskHeap orders follow-ups by time, then by the order they were scheduled.
type taskHeap []timed

func (h taskHeap) Len() int { return len(h) }
func (h taskHeap) Less(i, j int) bool {
	if h[i].at.Equal(h[j].at) {
		return h[i].seq < h[j].seq
	}
	return h[i].at.Before(h[j].at)
}
func (h taskHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *taskHeap) Push(x any)   { *h = append(*h, x.(timed)) }
func (h *taskHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = timed{}
	*h = old[:len(old)-1]
	return t
}

// stageArrivals lays out a staged schedule: evenly spaced within each stage, or
// with exponential gaps (a Poisson process) when rng is given.
func stageArrivals(stages []Stage, rng *rand.Rand) []time.Duration {
	out := make([]time.Duration, 0, totalArrivals(stages))
	var base time.Duration
	for _, st := range stages {
		if rng == nil {
			n := int(st.Duration.Seconds()*st.Rate + 0.5)
			for k := range n {
				out = append(out, base+time.Duration(float64(k)/st.Rate*float64(time.Second)))
			}
		} else {
			t := rng.ExpFloat64() / st.Rate
			for t < st.Duration.Seconds() {
				out = append(out, base+time.Duration(t*float64(time.Second)))
				t += rng.ExpFloat64() / st.Rate
			}
		}
		base += st.Duration
	}
	return out
}

// rampArrivals spreads n arrivals over a ramp: evenly, or as n sorted uniform
// draws (a Poisson process given its count) when rng is given.
func rampArrivals(n int, ramp time.Duration, rng *rand.Rand) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		if rng == nil {
			out[i] = time.Duration(float64(ramp) * float64(i) / float64(n))
		} else {
			out[i] = time.Duration(rng.Float64() * float64(ramp))
		}
	}
	if rng != nil {
		sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	}
	return out
}

// scheduleStats is the scheduler's own honesty report.
func (s *scheduler) stats(unstarted int) ScheduleReport {
	return ScheduleReport{
		Planned:     len(s.arrivals),
		Started:     s.started.Load(),
		LateStarts:  s.lateStarts.Load(),
		MaxLateMs:   float64(s.maxLate.Load()) / float64(time.Millisecond),
		Unstarted:   unstarted,
		LastStartMs: float64(s.lastStart.Load()) / float64(time.Millisecond),
	}
}
