package memory

import (
	"math/rand/v2"
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
