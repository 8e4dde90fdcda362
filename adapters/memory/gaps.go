package memory

import "slices"

// gaps holds the sequences at or above a line's head that no longer wait,
// for Snapshot. Leaves land anywhere in the line, so inserting each into a
// sorted slice would move half of it; they are collected unsorted and merged
// in one pass when a snapshot is read or enough have piled up.
type gaps struct {
	sorted  []int64
	pending []int64
}

func (g *gaps) add(seq int64) { g.pending = append(g.pending, seq) }

// advance drops the gaps below head, which only moves up. Sequences below
// the head have all left: they need no entry.
func (g *gaps) advance(head int64) {
	i, _ := slices.BinarySearch(g.sorted, head)
	if i > 0 {
		// Copy rather than reslice once most of the backing array is dead,
		// so a long sale does not keep every gap it ever had.
		if i > len(g.sorted)/2 {
			g.sorted = append(make([]int64, 0, len(g.sorted)-i), g.sorted[i:]...)
		} else {
			g.sorted = g.sorted[i:]
		}
	}
	if len(g.pending) > max(1024, len(g.sorted)) {
		g.merge(head)
	}
}

// merge folds the pending gaps into sorted, dropping those below head and
// any repeat, in O(len(sorted) + p log p).
func (g *gaps) merge(head int64) {
	if len(g.pending) == 0 {
		return
	}
	p := g.pending
	slices.Sort(p)
	out := make([]int64, 0, len(g.sorted)+len(p))
	i, j := 0, 0
	for i < len(g.sorted) || j < len(p) {
		var v int64
		if j == len(p) || (i < len(g.sorted) && g.sorted[i] <= p[j]) {
			v = g.sorted[i]
			i++
		} else {
			v = p[j]
			j++
		}
		if v >= head && (len(out) == 0 || out[len(out)-1] != v) {
			out = append(out, v)
		}
	}
	g.sorted = out
	g.pending = p[:0]
}

// list returns a copy of the gaps at or above head, sorted.
func (g *gaps) list(head int64) []int64 {
	g.merge(head)
	g.advance(head)
	return slices.Clone(g.sorted)
}
