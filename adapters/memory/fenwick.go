package memory

import "math/bits"

// fenwick counts present slots 1..n and answers "how many present up to i"
// and "which slot is the k-th present" in O(log n). The waiting line uses it
// over join sequence numbers, so a buyer's position costs O(log n) however
// long the line is.
type fenwick struct {
	tree []int32 // 1-based; tree[0] unused
}

func (f *fenwick) size() int { return len(f.tree) - 1 }

func (f *fenwick) add(i int, delta int32) {
	for ; i < len(f.tree); i += i & -i {
		f.tree[i] += delta
	}
}

// prefix returns how many slots in 1..i are present.
func (f *fenwick) prefix(i int) int64 {
	var s int64
	for ; i > 0; i -= i & -i {
		s += int64(f.tree[i])
	}
	return s
}

// kth returns the smallest slot i with prefix(i) >= k; k must be in
// 1..prefix(size()).
func (f *fenwick) kth(k int64) int {
	pos := 0
	for step := 1 << (bits.Len(uint(f.size())) - 1); step > 0; step >>= 1 {
		if next := pos + step; next < len(f.tree) && int64(f.tree[next]) < k {
			pos = next
			k -= int64(f.tree[next])
		}
	}
	return pos + 1
}

// rebuild resizes the tree to n slots, rebuilding it in O(n) from present.
func (f *fenwick) rebuild(n int, present func(i int) bool) {
	t := make([]int32, n+1)
	for i := 1; i <= n; i++ {
		if present(i) {
			t[i]++
		}
		if j := i + i&-i; j <= n {
			t[j] += t[i]
		}
	}
	f.tree = t
}

// ensure grows the tree to hold at least n slots, rebuilding from present.
// Doubling keeps the O(n) rebuild amortised O(1) per slot added.
func (f *fenwick) ensure(n int, present func(i int) bool) bool {
	if n <= f.size() {
		return false
	}
	f.rebuild(max(2*f.size(), n, 1024), present)
	return true
}
