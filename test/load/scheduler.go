package load

import (
	"context"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// followUp is a user's next request, as the scheduler keeps it: 16 bytes in a
// heap, so a million waiting users cost 16 MB of heap and no goroutine.
type followUp struct {
	at   int64 // nanoseconds after the scheduler's start
	user int32
	op   uint8
}

// job is one request handed to a worker: an arrival (op opArrival) or a follow-up.
type job struct {
	at   time.Time
	user int32
	op   uint8
}

// opArrival marks a job as the arrival with index user; follow-up ops are the
// caller's own and must differ from it.
const opArrival = 255

// scheduler is an open-model dispatcher: arrivals start at their intended times
// whether or not earlier requests have answered, so a slow server meets the same
// offered load as a fast one and its slowness shows in the latencies instead of
// silently thinning the load (coordinated omission).
//
// Arrivals come from a precomputed list of offsets; follow-up requests (a user's
// next poll) go into a binary heap of compact entries. A bounded pool of workers
// runs the requests; a request that finds every slot taken waits for one and
// counts as a late start, its latency still measured from its intended time.
type scheduler struct {
	start    time.Time
	arrivals []time.Duration
	// copies is how many arrivals each offset of arrivals stands for: a run of
	// N drops plays each drop's schedule at once, arrival i being drop i%N's
	// arrival i/N, without a list N times as long.
	copies int
	arrive func(i int, intended time.Time)
	// follow runs a follow-up scheduled with after; nil when the run has none.
	follow func(user int, op uint8, intended time.Time)
	sem    chan struct{}
	jobs   chan job

	mu      sync.Mutex
	next    int
	later   followHeap
	pending int
	stopped bool
	wake    chan struct{}
	workers int
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
		copies:   1,
		arrive:   arrive,
		sem:      make(chan struct{}, maxInFlight),
		jobs:     make(chan job),
		wake:     make(chan struct{}, 1),
	}
}

// after schedules user's follow-up op at the given time. Called from a running
// request, it keeps the run alive until the follow-up has run; after the run
// stopped it is dropped.
func (s *scheduler) after(at time.Time, user int, op uint8) {
	s.mu.Lock()
	if !s.stopped {
		s.later.push(followUp{at: int64(at.Sub(s.start)), user: int32(user), op: op})
	}
	s.mu.Unlock()
	s.signal()
}

// waiting is the number of follow-ups in the heap: users between requests.
func (s *scheduler) waiting() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.later)
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
		unstarted = s.planned() - s.next
		s.later = nil
		s.mu.Unlock()
		close(s.jobs)
		s.wg.Wait()
	}()
	for {
		for {
			j, ok := s.due(time.Now())
			if !ok {
				break
			}
			select {
			case s.sem <- struct{}{}:
			case <-ctx.Done():
				s.unclaim()
				return
			}
			s.dispatch(j)
		}
		s.mu.Lock()
		done := s.next >= s.planned() && len(s.later) == 0 && s.pending == 0
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

// due takes the earliest job whose time has come and counts it as pending, so
// the run cannot look finished between taking it and starting it.
func (s *scheduler) due(now time.Time) (job, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var arrAt time.Duration
	hasArr := s.next < s.planned()
	if hasArr {
		arrAt = s.arrivals[s.next/s.copies]
	}
	elapsed := int64(now.Sub(s.start))
	if len(s.later) > 0 && (!hasArr || s.later[0].at < int64(arrAt)) {
		if s.later[0].at > elapsed {
			return job{}, false
		}
		f := s.later.pop()
		s.pending++
		return job{at: s.start.Add(time.Duration(f.at)), user: f.user, op: f.op}, true
	}
	if !hasArr || int64(arrAt) > elapsed {
		return job{}, false
	}
	i := s.next
	s.next++
	s.pending++
	return job{at: s.start.Add(arrAt), user: int32(i), op: opArrival}, true
}

// planned is the number of arrivals the schedule holds.
func (s *scheduler) planned() int { return len(s.arrivals) * s.copies }

// unclaim undoes due's pending count for a job that will not start.
func (s *scheduler) unclaim() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

func (s *scheduler) nextAt() time.Time {
	var t time.Time
	if s.next < s.planned() {
		t = s.start.Add(s.arrivals[s.next/s.copies])
	}
	if len(s.later) > 0 {
		at := s.start.Add(time.Duration(s.later[0].at))
		if t.IsZero() || at.Before(t) {
			t = at
		}
	}
	return t
}

// dispatch hands j to an idle worker, or starts one while fewer than the
// in-flight bound exist. The caller holds a slot, so at most cap(sem)-1 jobs
// run: with every worker started, one is idle or about to be.
func (s *scheduler) dispatch(j job) {
	select {
	case s.jobs <- j:
		return
	default:
	}
	if s.workers < cap(s.sem) {
		s.workers++
		s.wg.Add(1)
		go s.work(j)
		return
	}
	s.jobs <- j
}

// work runs its first job, then whatever the dispatcher hands it, until the
// run ends.
func (s *scheduler) work(first job) {
	defer s.wg.Done()
	s.exec(first)
	for j := range s.jobs {
		s.exec(j)
	}
}

func (s *scheduler) exec(j job) {
	now := time.Now()
	s.started.Add(1)
	storeMax(&s.lastStart, int64(now.Sub(s.start)))
	if late := now.Sub(j.at); late > lateThreshold {
		s.lateStarts.Add(1)
		storeMax(&s.maxLate, int64(late))
	}
	if j.op == opArrival {
		s.arrive(int(j.user), j.at)
	} else {
		s.follow(int(j.user), j.op, j.at)
	}
	<-s.sem
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
	s.signal()
}

func storeMax(a *atomic.Int64, v int64) {
	for {
		m := a.Load()
		if v <= m || a.CompareAndSwap(m, v) {
			return
		}
	}
}

// followHeap is a binary min-heap on time, written out rather than through
// container/heap, whose interface boxing would allocate on every push.
type followHeap []followUp

func (h *followHeap) push(f followUp) {
	*h = append(*h, f)
	a := *h
	i := len(a) - 1
	for i > 0 {
		p := (i - 1) / 2
		if a[p].at <= a[i].at {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *followHeap) pop() followUp {
	a := *h
	top := a[0]
	n := len(a) - 1
	a[0] = a[n]
	a = a[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && a[r].at < a[l].at {
			m = r
		}
		if a[i].at <= a[m].at {
			break
		}
		a[i], a[m] = a[m], a[i]
		i = m
	}
	*h = a
	return top
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
		Planned:     s.planned(),
		Started:     s.started.Load(),
		LateStarts:  s.lateStarts.Load(),
		MaxLateMs:   float64(s.maxLate.Load()) / float64(time.Millisecond),
		Unstarted:   unstarted,
		LastStartMs: float64(s.lastStart.Load()) / float64(time.Millisecond),
	}
}
