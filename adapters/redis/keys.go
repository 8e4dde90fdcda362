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

type lineKeys struct{ queue, line, decisions, passes string }

func waitlineKeys(dropID string) lineKeys {
	return lineKeys{
		queue:     dropKey(dropID, "q"),
		line:      dropKey(dropID, "ln"),
		decisions: dropKey(dropID, "dec"),
		passes:    dropKey(dropID, "pass"),
	}
}

func lockKey(dropID, seat string) string {
	if seat == "" {
		return dropKey(dropID, "lock")
	}
	return dropKey(dropID, "lock:"+seat)
}

func leaseKey(name string) string { return "lease:" + name }
