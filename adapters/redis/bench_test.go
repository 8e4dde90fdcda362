package redis

import (
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/fastdeal/fastdeal/domain/inventory"
)

// The benchmarks run in parallel, as requests do: rueidis pipelines the
// concurrent calls on shared connections, which is where its throughput
// comes from. Raise -cpu or GOMAXPROCS to add client goroutines.

func BenchmarkJoin(b *testing.B) {
	c := testClient(b)
	l := NewLine(c)
	id := newDropID(b, c)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := "user-" + strconv.FormatInt(n.Add(1), 10)
			if _, _, err := l.Join(b.Context(), id, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkStanding(b *testing.B) {
	c := testClient(b)
	l := NewLine(c)
	id := newDropID(b, c)
	const waiting = 100_000
	parallel(waiting, 64, func(i int) {
		if _, _, err := l.Join(b.Context(), id, "user-"+strconv.Itoa(i)); err != nil {
			b.Error(err)
		}
	})
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			u := "user-" + strconv.FormatInt(n.Add(7919)%waiting, 10)
			if _, err := l.Standing(b.Context(), id, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkSnapshot reads the snapshot of a line of 100,000 waiting buyers,
// 100 of whom left from the middle (the gaps a snapshot carries), as each
// instance does a few times a second for every busy line.
func BenchmarkSnapshot(b *testing.B) {
	c := testClient(b)
	l := NewLine(c)
	id := newDropID(b, c)
	b.Cleanup(func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		_ = c.Do(ctx, c.B().Del().Key(waitlineKeys(id).gone).Build()).Error()
	})
	const waiting, left = 100_000, 100
	parallel(waiting, 64, func(i int) {
		if _, _, err := l.Join(b.Context(), id, "user-"+strconv.Itoa(i)); err != nil {
			b.Error(err)
		}
	})
	for i := range left {
		if err := l.Leave(b.Context(), id, "user-"+strconv.Itoa(waiting/2+i*7)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			s, err := l.Snapshot(b.Context(), id)
			if err != nil || len(s.Gone) != left {
				b.Errorf("Snapshot = %d gaps, %v; want %d", len(s.Gone), err, left)
				return
			}
		}
	})
}

func BenchmarkClaim(b *testing.B) {
	c := testClient(b)
	inv := NewInventory(c)
	d := generalDrop(b, c, 10_000_000, 1)
	if err := inv.Load(b.Context(), d); err != nil {
		b.Fatal(err)
	}
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			iss := candidate(d, "user-"+strconv.FormatInt(n.Add(1), 10), "")
			res, err := inv.Claim(b.Context(), inventory.Request{Issuance: iss, Key: iss.ID, Limit: 1})
			if err != nil || res.Outcome != inventory.Claimed {
				b.Errorf("Claim = %v, %v", res.Outcome, err)
				return
			}
		}
	})
}
