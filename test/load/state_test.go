package load

import (
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rushState is everything coupon-rush keeps per user, built by the same
// constructors Run uses, with every user waiting at once: one follow-up in the
// heap and a line ticket each.
type rushState struct {
	ids      []string
	hs       []header
	sale     *sale
	users    []rushUser
	arrivals []time.Duration
	heap     followHeap
}

// ticketBytes is a line ticket's size as a server might make it (buyer, drop,
// sequence and an HMAC, base64url): docs/openapi.yaml allows up to 200.
const ticketBytes = 96

func newRushState(t testing.TB, n int, prefix, secret string) *rushState {
	ids, hs, err := prefixedIdentities(prefix, n, secret, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	st := &rushState{ids: ids, hs: hs, sale: newLineSale(n), users: make([]rushUser, n),
		arrivals: rampArrivals(n, time.Minute, rand.New(rand.NewPCG(1, 2)))}
	for u := range st.users {
		// Each ticket is its own allocation, as one decoded from an answer is.
		st.users[u].ticket = strings.Clone(strings.Repeat("t", ticketBytes-8) + ids[u])
		st.heap.push(followUp{at: int64(u), user: int32(u), op: opPoll})
	}
	return st
}

func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// bytesPerUser measures the heap that n users' state takes; prefix is a
// drop's user prefix in a multi-drop run ("" for one drop).
func bytesPerUser(t testing.TB, n int, prefix, secret string) float64 {
	before := heapBytes()
	st := newRushState(t, n, prefix, secret)
	after := heapBytes()
	runtime.KeepAlive(st)
	return float64(after-before) / float64(n)
}

// TestBytesPerUser: a million simulated users must fit beside the server, so
// each may cost a few hundred bytes at most, a line ticket included.
func TestBytesPerUser(t *testing.T) {
	const n = 100_000
	per := bytesPerUser(t, n, "", "")
	t.Logf("%.0f bytes per simulated user (X-User-ID, %d-byte ticket, waiting in the heap), %.0f MB for 1,000,000",
		per, ticketBytes, per*1e6/1e6)
	if per > 400 {
		t.Fatalf("%.0f bytes per simulated user, want at most 400", per)
	}
	// A JWT per user adds the token itself; fewer users keep the minting quick.
	const m = 20_000
	perJWT := bytesPerUser(t, m, "", "s3cret")
	t.Logf("%.0f bytes per simulated user with a JWT each", perJWT)
	if perJWT > 700 {
		t.Fatalf("%.0f bytes per simulated user with JWTs, want at most 700", perJWT)
	}
	// A drop of a multi-drop run (--drops) keeps the same state for each of its
	// users, under a longer id ("d07-u0000001"); the schedule is shared.
	perDrop := bytesPerUser(t, n, "d07-", "")
	t.Logf("%.0f bytes per simulated user of one drop of many", perDrop)
	if perDrop > 400 {
		t.Fatalf("%.0f bytes per simulated user of one drop of many, want at most 400", perDrop)
	}
}
