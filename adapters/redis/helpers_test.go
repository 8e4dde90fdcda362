package redis

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/clock"
	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/issuance"
	"github.com/fastdeal/fastdeal/test/testenv"
)

var ids clock.RandomIDs

// testAddr is the Redis the tests use. They fail, not skip, when it cannot be
// reached: a silently skipped adapter suite proves nothing. Setting
// FASTDEAL_TEST_REDIS_ADDR=off is the explicit way to leave them out.
func testAddr(tb testing.TB) string {
	tb.Helper()
	addr := os.Getenv("FASTDEAL_TEST_REDIS_ADDR")
	switch addr {
	case "off":
		tb.Skip("FASTDEAL_TEST_REDIS_ADDR=off: Redis tests disabled")
	case "":
		addr = "127.0.0.1:6379"
	}
	return addr
}

func testClient(tb testing.TB) rueidis.Client {
	tb.Helper()
	addr := testAddr(tb)
	c, err := NewClient(ClientOptions{Addr: addr, DialTimeout: 2 * time.Second})
	if err != nil {
		tb.Fatalf("Redis at %s is unreachable (start it, point FASTDEAL_TEST_REDIS_ADDR elsewhere, or set it to off): %v", addr, err)
	}
	tb.Cleanup(c.Close)
	return c
}

func newID(prefix string) string { return prefix + "-" + ids.NewID() }

// newDropID returns a fresh drop id whose keys are deleted when tb ends, so
// tests never need FLUSHALL and can share a Redis with anything else.
func newDropID(tb testing.TB, c rueidis.Client) string {
	tb.Helper()
	id := newID("drop")
	tb.Cleanup(func() {
		k, l := inventoryKeys(id), waitlineKeys(id)
		keys := append(k.all(), l.queue, l.line, l.decisions, l.passes, lockKey(id, ""))
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if err := c.Do(ctx, c.B().Del().Key(keys...).Build()).Error(); err != nil {
			tb.Errorf("cleanup of drop %s: %v", id, err)
		}
	})
	return id
}

func generalDrop(tb testing.TB, c rueidis.Client, stock, limit int) *drop.Drop {
	tb.Helper()
	return mustDrop(tb, drop.Params{ID: newDropID(tb, c), Name: "general", Kind: drop.KindGeneral, Stock: stock, PerUserLimit: limit})
}

func seatedDrop(tb testing.TB, c rueidis.Client, seats, limit int) *drop.Drop {
	tb.Helper()
	labels := make([]string, seats)
	for i := range labels {
		labels[i] = "S" + strconv.Itoa(i+1)
	}
	return mustDrop(tb, drop.Params{ID: newDropID(tb, c), Name: "seated", Kind: drop.KindSeated, Seats: labels, PerUserLimit: limit})
}

func mustDrop(tb testing.TB, p drop.Params) *drop.Drop {
	tb.Helper()
	d, err := drop.New(p)
	if err != nil {
		tb.Fatalf("drop.New: %v", err)
	}
	return d
}

// candidate is an issuance with a nanosecond timestamp, so tests see whether
// IssuedAt survives the round trip through Redis exactly.
func candidate(d *drop.Drop, user, seat string) issuance.Issuance {
	return issuance.Issuance{
		ID: newID("iss"), DropID: d.ID(), UserID: user, Seat: seat,
		Code: ids.NewCode(), IssuedAt: time.Now().UTC(),
	}
}

func sameIssuance(tb testing.TB, got, want issuance.Issuance) {
	tb.Helper()
	if got.ID != want.ID || got.DropID != want.DropID || got.UserID != want.UserID ||
		got.Seat != want.Seat || got.N != want.N || got.Code != want.Code || !got.IssuedAt.Equal(want.IssuedAt) {
		tb.Errorf("issuance = %+v, want %+v", got, want)
	}
}

func contextWithTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 5*time.Second)
}

func isNil(err error) bool { return rueidis.IsRedisNil(err) }

// TestMain checks that closing a client stops every goroutine it started.
func TestMain(m *testing.M) { testenv.VerifyTestMain(m) }
