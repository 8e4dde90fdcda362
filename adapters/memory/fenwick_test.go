package memory

import (
	"math/rand/v2"
	"slices"
	"testing"
)

func TestFenwickAgainstCounting(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	present := make([]bool, 1500)
	var f fenwick
	f.rebuild(1024, func(i int) bool { return false })
	for round := range 5000 {
		i := r.IntN(len(present)) + 1
		if i > f.size() {
			f.rebuild(2*f.size(), func(j int) bool { return j <= len(present) && present[j-1] })
		}
		if present[i-1] {
			f.add(i, -1)
		} else {
			f.add(i, 1)
		}
		present[i-1] = !present[i-1]
		if round%97 != 0 {
			continue
		}
		var count int64
		for j := 1; j <= len(present); j++ {
			if present[j-1] {
				count++
				if got := f.kth(count); got != j {
					t.Fatalf("round %d: kth(%d) = %d, want %d", round, count, got, j)
				}
			}
			if got := f.prefix(j); got != count {
				t.Fatalf("round %d: prefix(%d) = %d, want %d", round, j, got, count)
			}
		}
	}
}

func TestGapsAgainstSet(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var g gaps
	set := map[int64]bool{}
	var head int64 = 1
	for round := range 20000 {
		switch r.IntN(4) {
		case 0, 1:
			seq := head + r.Int64N(5000)
			g.add(seq)
			set[seq] = true
		case 2:
			head += r.Int64N(20)
			for s := range set {
				if s < head {
					delete(set, s)
				}
			}
			g.advance(head)
		default:
			if round%7 != 0 {
				continue
			}
			var want []int64
			for s := range set {
				want = append(want, s)
			}
			slices.Sort(want)
			if got := g.list(head); !slices.Equal(got, want) {
				t.Fatalf("round %d: gaps = %v, want %v", round, got, want)
			}
		}
	}
}
