package httpapi

import (
	"hash/maphash"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"
)

const limiterShards = 64

// limiter keeps one token bucket per buyer. The map is sharded so that buyers
// on different shards never contend, and buckets that have refilled are
// dropped: a full bucket behaves exactly like a new one, so eviction changes
// no answer while a line of a million buyers does not keep a million buckets.
type limiter struct {
	rate   rate.Limit
	burst  int
	idle   time.Duration
	seed   maphash.Seed
	shards [limiterShards]limiterShard
	now    func() time.Time
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	last time.Time
}

// newLimiter returns nil when perSecond is negative: no limit.
func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond < 0 {
		return nil
	}
	l := &limiter{rate: rate.Limit(perSecond), burst: burst, seed: maphash.MakeSeed(), now: time.Now}
	// The time an empty bucket takes to fill again, plus a margin.
	l.idle = time.Duration(float64(burst)/perSecond*float64(time.Second)) + time.Second
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*bucket)
	}
	return l
}

// allow takes one token for key. When none is left it reports how long until
// one is, for Retry-After.
func (l *limiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	sh := &l.shards[maphash.String(l.seed, key)%limiterShards]
	sh.mu.Lock()
	b, ok := sh.buckets[key]
	if !ok {
		if now.Sub(sh.swept) > l.idle {
			sh.sweep(now, l.idle)
		}
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		sh.buckets[key] = b
	}
	b.last = now
	sh.mu.Unlock()
	if b.lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - b.lim.TokensAt(now)
	if l.rate <= 0 {
		return false, time.Hour
	}
	return false, time.Duration(missing / float64(l.rate) * float64(time.Second))
}

func (sh *limiterShard) sweep(now time.Time, idle time.Duration) {
	for k, b := range sh.buckets {
		if now.Sub(b.last) > idle {
			delete(sh.buckets, k)
		}
	}
	sh.swept = now
}

// rateLimit runs after buyerAuth: the buyer's identity is the key, because
// every client behind one load balancer shares an address.
func (s *Server) rateLimit(c *fiber.Ctx) error {
	if s.limiter == nil {
		return c.Next()
	}
	ok, wait := s.limiter.allow(userOf(c))
	if ok {
		return c.Next()
	}
	return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited,
		detail:     "too many requests from this buyer; retry after the given seconds",
		retryAfter: max(1, int(math.Ceil(wait.Seconds())))}
}
