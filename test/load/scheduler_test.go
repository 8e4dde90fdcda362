package load

import (
	"context"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSchedulerOpenModelWhenServerStalls is the open model's defining property:
// a server that holds every request does not slow the arrivals down. The
// server answers nobody until all forty arrivals (planned over 100ms) are in
// flight at once, and then holds each a further 600ms: a scheduler that
// waited for answers would never get there. This is causal, not timed, so a
// busy machine that starts the arrivals late cannot fail it; each latency,
// measured from its intended start, must include the stall.
func TestSchedulerOpenModelWhenServerStalls(t *testing.T) {
	const stall = 600 * time.Millisecond
	const arrivalsPlanned = 40
	var inFlight, peak atomic.Int64
	all := make(chan struct{})
	var allOnce sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		storeMax(&peak, n)
		if n == arrivalsPlanned {
			allOnce.Do(func() { close(all) })
		}
		select {
		case <-all:
		case <-time.After(30 * time.Second):
		}
		time.Sleep(stall)
		inFlight.Add(-1)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c, err := newClient(srv.URL, "", time.Minute, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()

	arrivals := stageArrivals([]Stage{{100 * time.Millisecond, 400}}, nil)
	if len(arrivals) != arrivalsPlanned {
		t.Fatalf("planned %d arrivals, want 40", len(arrivals))
	}
	start := time.Now()
	ep := newEndpoint("stall", start, 10*time.Millisecond)
	s := newScheduler(start, arrivals, 100, func(_ int, intended time.Time) {
		began := time.Now()
		c.do(http.MethodGet, "/", header{}, nil, header{}, func(rep reply) {
			ep.observe(observation{intended: intended, started: began, ended: time.Now(), status: rep.status, kind: rep.kind})
		})
	})
	if unstarted := s.run(context.Background()); unstarted != 0 {
		t.Fatalf("%d arrivals never started", unstarted)
	}
	if p := peak.Load(); p != arrivalsPlanned {
		t.Fatalf("at most %d of %d requests were in flight at once: arrivals waited for answers", p, arrivalsPlanned)
	}
	sum := ep.summary()
	if sum.Count != 40 || sum.Status.S2xx != 40 {
		t.Fatalf("count %d, 2xx %d, want 40", sum.Count, sum.Status.S2xx)
	}
	if sum.Latency.P50Ms < float64(stall/time.Millisecond) {
		t.Fatalf("p50 %.1fms is below the server's stall %v", sum.Latency.P50Ms, stall)
	}
	if got := s.stats(0); got.Started != 40 || got.Planned != 40 {
		t.Fatalf("schedule stats %+v", got)
	}
}

// TestSchedulerCountsLateStarts: with one slot in flight and tasks that hold it,
// later arrivals cannot start on time, and the scheduler must say so.
func TestSchedulerCountsLateStarts(t *testing.T) {
	arrivals := []time.Duration{0, time.Millisecond, 2 * time.Millisecond}
	s := newScheduler(time.Now(), arrivals, 1, func(int, time.Time) { time.Sleep(20 * time.Millisecond) })
	s.run(context.Background())
	st := s.stats(0)
	if st.LateStarts < 2 || st.MaxLateMs < 15 {
		t.Fatalf("late starts %d (max %.1fms), want at least 2 and about 38ms", st.LateStarts, st.MaxLateMs)
	}
}

// TestSchedulerFollowUps: requests that schedule follow-ups keep the run alive
// until the chain ends, follow-ups run no earlier than asked, and the op and
// user given to after come back to follow.
func TestSchedulerFollowUps(t *testing.T) {
	var mu sync.Mutex
	var early []time.Duration
	runs := map[int]int{}
	var s *scheduler
	step := func(u int, k uint8, intended time.Time) {
		mu.Lock()
		runs[u]++
		if d := time.Until(intended); d > 0 {
			early = append(early, d)
		}
		mu.Unlock()
		if k < 4 {
			s.after(intended.Add(5*time.Millisecond), u, k+1)
		}
	}
	s = newScheduler(time.Now(), []time.Duration{0, 2 * time.Millisecond, 4 * time.Millisecond}, 10,
		func(i int, intended time.Time) { step(i, 0, intended) })
	s.follow = step
	if unstarted := s.run(context.Background()); unstarted != 0 {
		t.Fatalf("unstarted %d", unstarted)
	}
	if len(runs) != 3 || runs[0] != 5 || runs[1] != 5 || runs[2] != 5 {
		t.Fatalf("runs per user %v, want 3 chains of 5", runs)
	}
	if len(early) > 0 {
		t.Fatalf("tasks started before their time: %v", early)
	}
	if s.workers > 10 {
		t.Fatalf("%d workers for a bound of 10", s.workers)
	}
}

// TestSchedulerWorkersBounded: however many requests are due at once, no more
// workers exist than the in-flight bound, and all of them end with the run.
func TestSchedulerWorkersBounded(t *testing.T) {
	arrivals := make([]time.Duration, 2000)
	var inFlight, peak atomic.Int64
	s := newScheduler(time.Now(), arrivals, 7, func(int, time.Time) {
		storeMax(&peak, inFlight.Add(1))
		time.Sleep(50 * time.Microsecond)
		inFlight.Add(-1)
	})
	if unstarted := s.run(context.Background()); unstarted != 0 {
		t.Fatalf("unstarted %d", unstarted)
	}
	if s.workers > 7 || peak.Load() > 7 {
		t.Fatalf("%d workers, %d in flight at once, for a bound of 7", s.workers, peak.Load())
	}
	if got := s.stats(0).Started; got != 2000 {
		t.Fatalf("started %d, want 2000", got)
	}
}

// TestFollowHeapOrder: the heap hands back entries in time order whatever the
// order they went in.
func TestFollowHeapOrder(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var h followHeap
	for i := range 5000 {
		h.push(followUp{at: rng.Int64N(1000), user: int32(i)})
	}
	prev := int64(-1)
	for len(h) > 0 {
		f := h.pop()
		if f.at < prev {
			t.Fatalf("popped %d after %d", f.at, prev)
		}
		prev = f.at
	}
}

// TestSchedulerDeadline: a deadline stops the run, reports what never started,
// and drops follow-ups scheduled after the stop.
func TestSchedulerDeadline(t *testing.T) {
	arrivals := []time.Duration{0, time.Hour, 2 * time.Hour}
	var s *scheduler
	s = newScheduler(time.Now(), arrivals, 10, func(i int, _ time.Time) {
		s.after(time.Now().Add(time.Hour), i, 1)
	})
	s.follow = func(int, uint8, time.Time) { t.Error("a follow-up ran after the deadline") }
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if unstarted := s.run(ctx); unstarted != 2 {
		t.Fatalf("unstarted = %d, want 2", unstarted)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Fatalf("run took %v after a 50ms deadline", d)
	}
}

func TestStageArrivals(t *testing.T) {
	even := stageArrivals([]Stage{{time.Second, 10}, {time.Second, 20}}, nil)
	if len(even) != 30 {
		t.Fatalf("len = %d, want 30", len(even))
	}
	if even[1] != 100*time.Millisecond || even[10] != time.Second || even[11] != time.Second+50*time.Millisecond {
		t.Fatalf("spacing wrong: %v %v %v", even[1], even[10], even[11])
	}
	a := stageArrivals([]Stage{{10 * time.Second, 100}}, rand.New(rand.NewPCG(7, 1)))
	b := stageArrivals([]Stage{{10 * time.Second, 100}}, rand.New(rand.NewPCG(7, 1)))
	if len(a) != len(b) || a[17] != b[17] {
		t.Fatal("the same seed gave different Poisson schedules")
	}
	if len(a) < 900 || len(a) > 1100 {
		t.Fatalf("Poisson schedule of 100/s for 10s has %d arrivals", len(a))
	}
	for i := 1; i < len(a); i++ {
		if a[i] < a[i-1] || a[i] >= 10*time.Second {
			t.Fatalf("arrival %d out of order or range: %v", i, a[i])
		}
	}
}

func TestRampArrivals(t *testing.T) {
	even := rampArrivals(4, time.Second, nil)
	want := []time.Duration{0, 250 * time.Millisecond, 500 * time.Millisecond, 750 * time.Millisecond}
	for i := range want {
		if even[i] != want[i] {
			t.Fatalf("even ramp = %v, want %v", even, want)
		}
	}
	r := rampArrivals(1000, time.Second, rand.New(rand.NewPCG(1, 2)))
	for i := 1; i < len(r); i++ {
		if r[i] < r[i-1] || r[i] >= time.Second {
			t.Fatalf("random ramp not sorted within the window at %d", i)
		}
	}
}
