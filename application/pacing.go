package application

import (
	"math/rand/v2"
	"time"
)

// Bounds of poll_after_ms that the API promises.
const (
	minPollAfter = 500 * time.Millisecond
	maxPollAfter = 60 * time.Second
)

// Pacing says when a waiting buyer should ask again (poll_after_ms), so that
// the status load of a line is bounded by its admission rate and a ceiling,
// not by its length. The formula, stated in the README:
//
//	waiting:   clamp(ETA / 2, Min, Max) x jitter in [0.8, 1.2]
//	           where ETA = position / admit rate
//	pre-queue: Max x jitter in [0.8, 1.0] while opening is more than Max
//	           away; else (time to opening) + uniform(0, OpenWindow)
//	not ready: (pre-queue placed at opening, not done yet) uniform(1 s, 2 s)
//
// A buyer polls about twice as often as their wait halves, so they learn of
// their admission about a second after it near the head, and a buyer far back
// polls once per Max. For N waiting at rate r, the status load is about
// 2r (the head, polling every second) + 2r ln(Max/1 s) (the middle, up to
// position 2r*Max) + (N - 2r*Max)/Max (the rest).
type Pacing struct {
	// Min is the shortest interval (near the head); default 1 s.
	Min time.Duration
	// Max is the longest (FASTDEAL_POLL_MAX); default 30 s.
	Max time.Duration
	// OpenWindow spreads the pre-queue's first polls after opening; default 10 s.
	OpenWindow time.Duration
}

func (p Pacing) withDefaults() Pacing {
	if p.Min <= 0 {
		p.Min = time.Second
	}
	if p.Max <= 0 {
		p.Max = 30 * time.Second
	}
	p.Min = clampDur(p.Min, minPollAfter, maxPollAfter)
	p.Max = clampDur(max(p.Max, p.Min), minPollAfter, maxPollAfter)
	if p.OpenWindow <= 0 {
		p.OpenWindow = 10 * time.Second
	}
	return p
}

func clampDur(d, lo, hi time.Duration) time.Duration {
	return min(max(d, lo), hi)
}

func jitter(d time.Duration, lo, hi float64) time.Duration {
	return time.Duration(float64(d) * (lo + rand.Float64()*(hi-lo)))
}

// Waiting is the interval for a buyer whose expected wait is eta.
func (p Pacing) Waiting(eta time.Duration) time.Duration {
	d := clampDur(eta/2, p.Min, p.Max)
	return clampDur(jitter(d, 0.8, 1.2), minPollAfter, maxPollAfter)
}

// PreQueue is the interval for a buyer in the pre-queue, untilOpen before
// opening.
func (p Pacing) PreQueue(untilOpen time.Duration) time.Duration {
	if untilOpen > p.Max {
		return clampDur(jitter(p.Max, 0.8, 1.0), minPollAfter, maxPollAfter)
	}
	d := max(untilOpen, 0) + time.Duration(rand.Int64N(int64(p.OpenWindow)+1))
	return clampDur(d, minPollAfter, maxPollAfter)
}

// Placing is the interval while the pre-queue is being placed at opening.
func (p Pacing) Placing() time.Duration {
	return clampDur(jitter(time.Second, 1, 2), minPollAfter, maxPollAfter)
}
