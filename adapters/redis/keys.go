package redis

import "strings"

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

// lineSuffixes are the suffixes of a drop's line keys, in lineKeys order.
var lineSuffixes = [...]string{"q", "ln", "dec", "pass", "pq", "pqleft", "gone"}

// waitlineKeys builds every key of the line in one allocation and slices it:
// the join and the status poll are the hot path, and seven separate strings
// were most of what they allocated.
func waitlineKeys(dropID string) lineKeys {
	tagLen := len("{drop:}:") + len(dropID)
	var b strings.Builder
	b.Grow(len(lineSuffixes)*tagLen + 24)
	for _, s := range lineSuffixes {
		b.WriteString("{drop:")
		b.WriteString(dropID)
		b.WriteString("}:")
		b.WriteString(s)
	}
	all := b.String()
	var k [len(lineSuffixes)]string
	at := 0
	for i, s := range lineSuffixes {
		n := tagLen + len(s)
		k[i] = all[at : at+n]
		at += n
	}
	return lineKeys{queue: k[0], line: k[1], decisions: k[2], passes: k[3], preQueue: k[4], preQueueLeft: k[5], gone: k[6]}
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
