package waitline

import "sort"

// Snapshot is what a waiting buyer's position is computed from, so that a
// poll need not touch the store: every buyer who joins the line gets the
// next sequence (1, 2, ...), and the position of a waiting buyer with
// sequence s is the number of sequences from Head to s that still wait.
// Sequences below Head have all left; Gone lists the ones at or above Head
// that have left too (a buyer who left, one decided out of order, a
// pre-queue slot whose buyer left before being placed). Every sequence in
// [Head, Tail] is either waiting or in Gone once the line is Ready.
type Snapshot struct {
	// Epoch names this incarnation of the line: a line lost with its store
	// and built again numbers from 1 again, under another epoch.
	Epoch string
	// Head is the lowest sequence still waiting; Tail+1 when nobody waits.
	Head int64
	// Tail is the highest sequence handed out (reserved pre-queue slots
	// included).
	Tail int64
	// Gone holds the sequences in [Head, Tail] that no longer wait, sorted.
	Gone []int64
	// Closed: the line is over; everyone still waiting stands SoldOut.
	Closed bool
	// Ready is false while a frozen pre-queue is not yet placed: reserved
	// sequences are neither waiting nor gone, so no position is exact.
	Ready bool
}

// Position reports where the buyer with sequence seq stands: its position
// (1 is next) when it still waits, or ok false when it has left the line
// (decided, left) or the snapshot cannot tell (not ready, seq unknown).
func (s Snapshot) Position(seq int64) (pos int64, ok bool) {
	if !s.Ready || seq < s.Head || seq > s.Tail || seq < 1 {
		return 0, false
	}
	// Gone is sorted: the gaps in [Head, seq] are one run of it.
	lo := sort.Search(len(s.Gone), func(i int) bool { return s.Gone[i] >= s.Head })
	hi := sort.Search(len(s.Gone), func(i int) bool { return s.Gone[i] > seq })
	if hi > lo && s.Gone[hi-1] == seq {
		return 0, false
	}
	return seq - s.Head + 1 - int64(hi-lo), true
}
