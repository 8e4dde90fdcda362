package httpapi

import (
	"hash/maphash"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

const limiterShards = 64

// limiter keeps one token bucket per buyer, as GCRA: a bucket is the one
// instant at which it will be full again (its theoretical arrival time), held
// by value in a sharded map. A request costs one map lookup under its shard's
// lock, with no allocation per buyer beyond the map slot: the join of a new
// buyer, the most common request of a sale's opening, makes a new bucket
// every time. Buyers on different shards never contend, and buckets that have
// refilled are dropped: a full bucket behaves exactly like a new one, so
// eviction changes no answer while a line of a million buyers does not keep a
// million buckets.
//
// The maps are keyed by a 64-bit hash of the buyer's id under a per-process
// random seed, not by the id: a lookup then reads no string held elsewhere in
// memory (among a line's many thousands of buckets each such read missed the
// cache, and the limiter was the largest part of a ticketed poll's own work
// on the wire), and the id is not kept. Two buyers whose ids hash alike share
// a bucket; with a million buyers the odds are about 1 in 37 million, and the
// random seed keeps anyone from choosing such ids.
type limiter struct {
	interval int64 // nanoseconds one token takes to come back
	burst    int64
	idle     time.Duration
	seed     maphash.Seed
	start    time.Time
	shards   [limiterShards]limiterShard
	now      func() time.Time
}

type limiterShard struct {
	mu sync.Mutex
	// buckets maps a buyer's hash to the nanosecond after start at which
	// their bucket is full again; at or before now, it is full.
	buckets map[uint64]int64
	swept   time.Time
	// peak is the most buckets the current map has held, and rebuilds
	// counts the maps replaced by smaller ones (see sweep).
	peak, rebuilds int
}

// A zero rate never refills; this interval is long enough to say so.
const neverRefill = int64(1 << 50)

// newLimiter returns nil when perSecond is negative: no limit.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond < 0 {
		return nil
	}
	interval := neverRefill
	if perSecond > 0 {
		interval = max(int64(float64(time.Second)/perSecond), 1)
	}
	l := &limiter{interval: interval, burst: int64(max(burst, 1)), seed: maphash.MakeSeed(), now: time.Now}
	l.start = l.now()
	// The time an empty bucket takes to fill again, plus a margin.
	l.idle = time.Duration(min(l.burst*interval, int64(time.Hour))) + time.Second
	for i := range l.shards {
		l.shards[i].buckets = make(map[uint64]int64)
	}
	return l
}

// allow takes one token for key. When none is left it reports how long until
// one is, for Retry-After.
func (l *limiter) allow(key string) (bool, time.Duration) { return l.allowAt(key, l.now()) }

// allowAt is allow at the given time: the server passes the time fasthttp
// read the request at, which it has already taken, rather than read the
// clock again.
func (l *limiter) allowAt(key string, now time.Time) (bool, time.Duration) {
	at := int64(now.Sub(l.start))
	h := maphash.String(l.seed, key)
	sh := &l.shards[h%limiterShards]
	sh.mu.Lock()
	tat, ok := sh.buckets[h]
	if !ok {
		tat = at
		if now.Sub(sh.swept) > l.idle {
			sh.sweep(now, at)
		}
	}
	next := max(tat, at) + l.interval
	if over := next - at - l.burst*l.interval; over > 0 {
		sh.mu.Unlock()
		return false, time.Duration(min(over, int64(time.Hour)))
	}
	sh.buckets[h] = next
	if !ok && len(sh.buckets) > sh.peak {
		sh.peak = len(sh.buckets)
	}
	sh.mu.Unlock()
	return true, 0
}

// rebuildBelow is the smallest peak after which a sweep that leaves a
// quarter or less of it copies the survivors into a new map.
const rebuildBelow = 1024

func (sh *limiterShard) sweep(now time.Time, at int64) {
	for k, tat := range sh.buckets {
		if tat <= at {
			delete(sh.buckets, k)
		}
	}
	sh.swept = now
	// A Go map keeps the size it grew to. After a crowd of new buyers has
	// gone (every join of a million-buyer line is a new buyer), the old
	// map would hold its memory and spread the few live buckets over it.
	if n := len(sh.buckets); sh.peak >= rebuildBelow && n <= sh.peak/4 {
		fresh := make(map[uint64]int64, n)
		for k, tat := range sh.buckets {
			fresh[k] = tat
		}
		sh.buckets, sh.peak = fresh, n
		sh.rebuilds++
	}
}

// rateLimit takes one of the buyer's tokens, or answers 429. The buyer's
// identity is the key, because every client behind one load balancer shares
// an address.
func (s *Server) rateLimit(c *fiber.Ctx, user string) error {
	if s.limiter == nil {
		return nil
	}
	ok, wait := s.limiter.allowAt(user, c.Context().Time())
	if ok {
		return nil
	}
	return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited,
		detail:     "too many requests from this buyer; retry after the given seconds",
		retryAfter: max(1, int(math.Ceil(wait.Seconds())))}
}
