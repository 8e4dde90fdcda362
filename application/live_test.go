package application

import (
	"math"
	"sync"
	"testing"
	"time"
)

// stepClock is a fake clock the test moves by hand.
type stepClock struct{ now time.Time }

func (c *stepClock) Now() time.Time                   { return c.now }
func (c *stepClock) advance(d time.Duration)          { c.now = c.now.Add(d) }
func near(a, b float64) bool                          { return math.Abs(a-b) < 1e-9 }
func newStepClock() *stepClock                        { return &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }
func feedFor(c *stepClock, l *LiveCounters) *LiveFeed { return NewLiveFeed(nil, l, c, "d1") }

func TestLiveFeedFirstReadingHasNoRates(t *testing.T) {
	clk := newStepClock()
	l := NewLiveCounters()
	l.Joined("d1")
	got := feedFor(clk, l).observe(Stats{Admitted: 10, Issued: 5, AdmitRate: 10, LineLength: 25})
	if got.Rates != (LiveRates{}) {
		t.Fatalf("first reading rates = %+v, want zero", got.Rates)
	}
	if got.ETASeconds == nil || !near(*got.ETASeconds, 2.5) {
		t.Fatalf("eta = %v, want 2.5", got.ETASeconds)
	}
	if !got.At.Equal(clk.now) {
		t.Fatalf("at = %v, want %v", got.At, clk.now)
	}
}

func TestLiveFeedRatesOverSecondAndMinute(t *testing.T) {
	clk := newStepClock()
	l := NewLiveCounters()
	f := feedFor(clk, l)
	var admitted, issued int64
	f.observe(Stats{})
	// 30 seconds at 10 joins/s, 2 polls/s, 4 admissions/s, 3 issues/s, then
	// 30 seconds of joins only at 20/s.
	for sec := 1; sec <= 60; sec++ {
		clk.advance(time.Second)
		n := 10
		if sec > 30 {
			n = 20
		}
		for range n {
			l.Joined("d1")
		}
		if sec <= 30 {
			l.Polled("d1")
			l.Polled("d1")
			admitted += 4
			issued += 3
		}
		got := f.observe(Stats{Admitted: admitted, Issued: issued})
		if sec == 30 {
			r := got.Rates
			if !near(r.Joins.LastSecond, 10) || !near(r.Joins.LastMinute, 10) || !near(r.Polls.LastMinute, 2) ||
				!near(r.Admissions.LastSecond, 4) || !near(r.Issues.LastMinute, 3) {
				t.Fatalf("after 30 s rates = %+v", r)
			}
		}
	}
	got := f.observe(Stats{Admitted: admitted, Issued: issued}) // same instant: no time passed
	if j := got.Rates.Joins; j.LastSecond != 0 || math.IsNaN(j.LastMinute) || math.IsInf(j.LastMinute, 0) {
		t.Fatalf("a reading at the same instant must not divide by zero: %+v", j)
	}
	clk.advance(time.Second)
	got = f.observe(Stats{Admitted: admitted, Issued: issued})
	r := got.Rates
	// The minute ending now spans seconds 2..61: 29 s at 10, 30 s at 20, 1 s at 0.
	if !near(r.Joins.LastSecond, 0) || !near(r.Joins.LastMinute, (29*10+30*20)/60.0) {
		t.Fatalf("joins = %+v", r.Joins)
	}
	if !near(r.Admissions.LastMinute, 29*4/60.0) || !near(r.Issues.LastMinute, 29*3/60.0) || !near(r.Polls.LastMinute, 29*2/60.0) {
		t.Fatalf("minute rates = %+v", r)
	}
}

func TestLiveFeedLateTickAndMinuteWindowAfterWrap(t *testing.T) {
	clk := newStepClock()
	l := NewLiveCounters()
	f := feedFor(clk, l)
	// Over 100 readings the ring wraps; the minute still ends at the latest.
	for range 100 {
		clk.advance(time.Second)
		for range 5 {
			l.Polled("d1")
		}
		f.observe(Stats{})
	}
	// A late tick: 3 s since the last reading, 6 polls: 2/s, not 6/s.
	clk.advance(3 * time.Second)
	for range 6 {
		l.Polled("d1")
	}
	r := f.observe(Stats{}).Rates.Polls
	if !near(r.LastSecond, 2) {
		t.Fatalf("late tick rate = %v, want 2", r.LastSecond)
	}
	// The minute starts at the reading 60 s back: 57 s at 5/s then 3 s at 2/s.
	if !near(r.LastMinute, (57*5+6)/60.0) {
		t.Fatalf("minute rate = %v, want %v", r.LastMinute, (57*5+6)/60.0)
	}
}

func TestLiveFeedCountThatWentDownRestarts(t *testing.T) {
	clk := newStepClock()
	f := feedFor(clk, nil)
	f.observe(Stats{Admitted: 100})
	clk.advance(time.Second)
	// The line was rebuilt and counts from zero again: 3 new admissions.
	got := f.observe(Stats{Admitted: 3})
	if got.Rates.Admissions.LastSecond != 3 {
		t.Fatalf("admissions after a reset = %v, want 3", got.Rates.Admissions.LastSecond)
	}
}

func TestLiveFeedETAIsNilWhilePausedOrWithoutRate(t *testing.T) {
	f := feedFor(newStepClock(), nil)
	if eta := f.observe(Stats{LineLength: 10, AdmitRate: 5, Paused: true}).ETASeconds; eta != nil {
		t.Fatalf("paused eta = %v, want nil", *eta)
	}
	if eta := f.observe(Stats{LineLength: 10}).ETASeconds; eta != nil {
		t.Fatalf("no-rate eta = %v, want nil", *eta)
	}
	if eta := f.observe(Stats{LineLength: 0, AdmitRate: 5}).ETASeconds; eta == nil || *eta != 0 {
		t.Fatalf("empty line eta = %v, want 0", eta)
	}
}

func TestLiveCountersPerDropAndConcurrent(t *testing.T) {
	l := NewLiveCounters()
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				l.Joined("a")
				l.Polled("a")
				l.Polled("b")
			}
		}()
	}
	wg.Wait()
	if j, p := l.Totals("a"); j != 8000 || p != 8000 {
		t.Fatalf("a = %d joins %d polls", j, p)
	}
	if j, p := l.Totals("b"); j != 0 || p != 8000 {
		t.Fatalf("b = %d joins %d polls", j, p)
	}
	if j, p := l.Totals("none"); j != 0 || p != 0 {
		t.Fatalf("unknown drop = %d joins %d polls", j, p)
	}
	var nilCounters *LiveCounters
	nilCounters.Joined("a") // a feed without counters must not panic
	if j, _ := nilCounters.Totals("a"); j != 0 {
		t.Fatal("nil counters count")
	}
}

func TestSalesCountsJoinsAndPolls(t *testing.T) {
	l := NewLiveCounters()
	s := NewSales(Stores{}, nil, nil, SalesOptions{Live: l}, nil)
	if s.Live() != l {
		t.Fatal("Sales.Live is not the counters it was given")
	}
	if NewSales(Stores{}, nil, nil, SalesOptions{}, nil).Live() == nil {
		t.Fatal("Sales without counters made none")
	}
}
