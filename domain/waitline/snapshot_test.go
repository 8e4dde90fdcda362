package waitline_test

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

// TestSnapshotPositionMatchesACount checks the arithmetic against the
// definition: the position of a waiting sequence is how many sequences from
// the lowest one up to it still wait.
func TestSnapshotPositionMatchesACount(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		tail := int64(1 + rng.IntN(300))
		waiting := make([]bool, tail+1)
		for s := int64(1); s <= tail; s++ {
			waiting[s] = rng.IntN(3) > 0
		}
		head := tail + 1
		for s := int64(1); s <= tail; s++ {
			if waiting[s] {
				head = s
				break
			}
		}
		snap := waitline.Snapshot{Head: head, Tail: tail, Ready: true}
		// Gaps below the head may linger in a snapshot; they must not count.
		for s := int64(1); s <= tail; s++ {
			if !waiting[s] && (s >= head || rng.IntN(2) == 0) {
				snap.Gone = append(snap.Gone, s)
			}
		}
		slices.Sort(snap.Gone)
		count := int64(0)
		for s := int64(1); s <= tail+2; s++ {
			if s <= tail && waiting[s] {
				count++
			}
			pos, ok := snap.Position(s)
			wantOK := s <= tail && waiting[s]
			if ok != wantOK || (ok && pos != count) {
				t.Fatalf("trial %d seq %d: position %d ok=%v, want %d ok=%v", trial, s, pos, ok, count, wantOK)
			}
		}
	}
	if _, ok := (waitline.Snapshot{Head: 1, Tail: 5}).Position(3); ok {
		t.Fatal("a snapshot that is not ready gave a position")
	}
}

// TestPlacementOrderIsUniform: 48,000 shuffles of four (24 orders, 2,000
// expected each), keyed 0..47,999, so the result is the same on every run;
// chi-square with 23 degrees of freedom stays under 49.7 (its 0.001
// quantile) for a uniform shuffle.
func TestPlacementOrderIsUniform(t *testing.T) {
	const trials = 48_000
	counts := map[[4]int32]int{}
	key := make([]byte, 8)
	for i := range trials {
		for j := range key {
			key[j] = byte(i >> (8 * j))
		}
		counts[[4]int32(waitline.PlacementOrder(key, 4, true))]++
	}
	if len(counts) != 24 {
		t.Fatalf("%d orders seen, want 24", len(counts))
	}
	exp := float64(trials) / 24
	chi := 0.0
	for _, c := range counts {
		chi += (float64(c) - exp) * (float64(c) - exp) / exp
	}
	if chi > 49.7 {
		t.Fatalf("chi-square %.1f: not uniform", chi)
	}
	if got := waitline.PlacementOrder([]byte("k"), 5, false); !slices.Equal(got, []int32{0, 1, 2, 3, 4}) {
		t.Fatalf("without shuffle: %v, want arrival order", got)
	}
	a, b := waitline.PlacementOrder([]byte("same"), 1000, true), waitline.PlacementOrder([]byte("same"), 1000, true)
	if !slices.Equal(a, b) {
		t.Fatal("one key gave two orders: a resumed placement would differ")
	}
}
