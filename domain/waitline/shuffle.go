package waitline

import (
	"crypto/sha256"
	"math/rand/v2"
)

// PlacementOrder says where each pre-queue arrival slot goes in the line:
// slot i (1-based) gets the sequence Base + order[i-1] + 1. With shuffle it
// is a uniformly random permutation drawn from a ChaCha8 stream keyed by key
// (a cryptographically strong generator), so that every instance that
// resumes a placement after a crash computes the same order from the stored
// key; without shuffle it is arrival order.
func PlacementOrder(key []byte, slots int64, shuffle bool) []int32 {
	order := make([]int32, slots)
	for i := range order {
		order[i] = int32(i)
	}
	if !shuffle || slots < 2 {
		return order
	}
	r := rand.New(rand.NewChaCha8(sha256.Sum256(key)))
	// Fisher-Yates: each of the n! orders is equally likely.
	for i := len(order) - 1; i > 0; i-- {
		j := r.IntN(i + 1)
		order[i], order[j] = order[j], order[i]
	}
	return order
}
