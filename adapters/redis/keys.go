package redis

// dropKey names one of a drop's keys. The {drop:ID} hash tag keeps all of a
// drop's keys in one Cluster slot, which multi-key scripts require.
func dropKey(dropID, suffix string) string {
	return "{drop:" + dropID + "}:" + suffix
}

type invKeys struct{ meta, hold, users, seats, idem string }

func inventoryKeys(dropID string) invKeys {
	return invKeys{
		meta:  dropKey(dropID, "inv"),
		hold:  dropKey(dropID, "hold"),
		users: dropKey(dropID, "user"),
		seats: dropKey(dropID, "seat"),
		idem:  dropKey(dropID, "idem"),
	}
}

func (k invKeys) all() []string { return []string{k.meta, k.hold, k.users, k.seats, k.idem} }

// lineKeys are one drop's line: the queue (sorted set, score the line
// sequence), the line hash (counters and pre-queue state, see linelib.lua),
// decisions, armed passes, the pre-queue (score the arrival slot), the slots
// left unplaced (member and score the slot), and the sequences at or above
// the head that no longer wait (member and score the sequence).
type lineKeys struct{ queue, line, decisions, passes, preQueue, preQueueLeft, gone string }

func waitlineKeys(dropID string) lineKeys {
	return lineKeys{
		queue:        dropKey(dropID, "q"),
		line:         dropKey(dropID, "ln"),
		decisions:    dropKey(dropID, "dec"),
		passes:       dropKey(dropID, "pass"),
		preQueue:     dropKey(dropID, "pq"),
		preQueueLeft: dropKey(dropID, "pqleft"),
		gone:         dropKey(dropID, "gone"),
	}
}

func (k lineKeys) all() []string {
	return []string{k.queue, k.line, k.decisions, k.passes, k.preQueue, k.preQueueLeft, k.gone}
}

func lockKey(dropID, seat string) string {
	if seat == "" {
		return dropKey(dropID, "lock")
	}
	return dropKey(dropID, "lock:"+seat)
}

func leaseKey(name string) string { return "lease:" + name }
