package redis

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/drop"
	"github.com/fastdeal/fastdeal/domain/inventory"
	"github.com/fastdeal/fastdeal/domain/issuance"
)

var _ inventory.Inventory = (*Inventory)(nil)

// scanCount is the HSCAN page size: a 100k-seat drop is read in about a
// hundred round trips, and no page blocks Redis noticeably.
const scanCount = 1000

// writeBatch bounds the seat labels or records one script writes, so loading
// or restoring a 100k-seat drop never blocks Redis for long.
const writeBatch = 1000

// Inventory is the Redis Inventory: each operation is one Lua script, so a
// claim's checks and its write are atomic across every app instance.
//
// On ErrUnavailable after a request was sent (a timeout, a dropped
// connection) Redis may still have run the claim; its holder record then
// stays, a retry with the same key or issuance id gets it back as Duplicate,
// and the reconciler persists it.
type Inventory struct {
	client rueidis.Client
}

// NewInventory returns an Inventory on client.
func NewInventory(client rueidis.Client) *Inventory {
	return &Inventory{client: client}
}

func invErr(err error, op, dropID string) error {
	return classify(err, inventory.ErrUnavailable, op+" "+dropID)
}

// Load makes d claimable. It never changes a drop that is already loaded.
// A seated drop's labels are written first, in batches, and the drop is
// marked loaded last, so no claim sees half its seats.
func (v *Inventory) Load(ctx context.Context, d *drop.Drop) error {
	if err := v.writeSeats(ctx, d); err != nil {
		return err
	}
	k := inventoryKeys(d.ID())
	err := loadScript.Exec(ctx, v.client, []string{k.meta}, []string{kindCode(d), strconv.Itoa(d.Stock())}).Error()
	return invErr(err, "load", d.ID())
}

// writeSeats adds d's seats as free unless d is loaded already.
func (v *Inventory) writeSeats(ctx context.Context, d *drop.Drop) error {
	seats := d.Seats()
	k := inventoryKeys(d.ID())
	for start := 0; start < len(seats); start += writeBatch {
		batch := seats[start:min(start+writeBatch, len(seats))]
		wrote, err := seatsScript.Exec(ctx, v.client, []string{k.meta, k.seats}, batch).AsInt64()
		if err != nil {
			return invErr(err, "load seats", d.ID())
		}
		if wrote == 0 {
			return nil
		}
	}
	return nil
}

func kindCode(d *drop.Drop) string {
	if d.Seated() {
		return "s"
	}
	return "g"
}

// Claim takes one unit for req.Issuance in one round trip, deciding in the
// order the memory Inventory does: a replay (same key, same issuance id, or
// a seat the buyer already holds) is Duplicate with the earlier issuance;
// then a buyer at req.Limit gets LimitReached; then SoldOut, SeatTaken or
// Claimed. A claimed issuance gets the smallest N the buyer does not hold. A
// Limit below 1 counts as 1. Returns ErrNotLoaded, ErrUnavailable, an error
// wrapping drop.ErrSeatRequired, drop.ErrSeatNotAllowed or
// drop.ErrUnknownSeat for a seat that does not fit the drop, or an error if
// the issuance id is held by another buyer.
func (v *Inventory) Claim(ctx context.Context, req inventory.Request) (inventory.Result, error) {
	iss := req.Issuance
	if iss.ID == "" {
		return inventory.Result{}, fmt.Errorf("redis claim %s: issuance has no id", iss.DropID)
	}
	if err := checkNoSeparator(iss.ID, iss.UserID, iss.Seat, iss.Code, req.Key); err != nil {
		return inventory.Result{}, err
	}
	k := inventoryKeys(iss.DropID)
	arr, err := claimScript.Exec(ctx, v.client,
		[]string{k.meta, k.hold, k.users, k.seats, k.idem},
		[]string{iss.ID, iss.UserID, iss.Seat, iss.Code, formatTime(iss.IssuedAt), req.Key, strconv.Itoa(max(req.Limit, 1))},
	).ToArray()
	if err != nil {
		return inventory.Result{}, invErr(err, "claim", iss.DropID)
	}
	code, err := replyCode(arr)
	if err != nil {
		return inventory.Result{}, fmt.Errorf("redis claim %s: %w", iss.DropID, err)
	}
	fail := func(err error) (inventory.Result, error) {
		return inventory.Result{}, fmt.Errorf("redis claim %s seat %q: %w", iss.DropID, iss.Seat, err)
	}
	switch code {
	case 0:
		return fail(inventory.ErrNotLoaded)
	case 1:
		n, err := arr[1].AsInt64()
		if err != nil {
			return fail(err)
		}
		iss.N = int(n)
		return inventory.Result{Outcome: inventory.Claimed, Issuance: iss}, nil
	case 2:
		rec, err := arr[1].ToString()
		if err != nil {
			return fail(err)
		}
		prev, err := decodeRecord(iss.DropID, rec)
		if err != nil {
			return fail(err)
		}
		return inventory.Result{Outcome: inventory.Duplicate, Issuance: prev.iss}, nil
	case 3:
		return inventory.Result{Outcome: inventory.SoldOut}, nil
	case 4:
		return inventory.Result{Outcome: inventory.SeatTaken}, nil
	case 5:
		return inventory.Result{Outcome: inventory.LimitReached}, nil
	case 6:
		return fail(drop.ErrSeatRequired)
	case 7:
		return fail(drop.ErrSeatNotAllowed)
	case 8:
		return fail(fmt.Errorf("issuance id %s belongs to another buyer", iss.ID))
	case 9:
		return fail(drop.ErrUnknownSeat)
	}
	return fail(fmt.Errorf("unexpected reply code %d", code))
}

func replyCode(arr []rueidis.RedisMessage) (int64, error) {
	if len(arr) == 0 {
		return 0, fmt.Errorf("empty script reply")
	}
	return arr[0].AsInt64()
}

// Release gives back the unit iss holds, with its seat and the idempotency
// key that claimed it (remembered with the unit, so key may be empty).
// Returns ErrNotHeld if no unit is held by iss's id and buyer, and
// ErrNotLoaded if the drop is absent.
func (v *Inventory) Release(ctx context.Context, iss issuance.Issuance, _ string) error {
	k := inventoryKeys(iss.DropID)
	code, err := releaseScript.Exec(ctx, v.client,
		[]string{k.meta, k.hold, k.users, k.seats, k.idem}, []string{iss.ID, iss.UserID}).AsInt64()
	if err != nil {
		return invErr(err, "release", iss.DropID)
	}
	switch code {
	case 0:
		return fmt.Errorf("redis release %s in %s: %w", iss.ID, iss.DropID, inventory.ErrNotLoaded)
	case -1:
		return fmt.Errorf("redis release %s in %s: %w", iss.ID, iss.DropID, inventory.ErrNotHeld)
	}
	return nil
}

// Remaining returns the units left. Returns ErrNotLoaded.
func (v *Inventory) Remaining(ctx context.Context, dropID string) (int64, error) {
	k := inventoryKeys(dropID)
	arr, err := remainingScript.Exec(ctx, v.client, []string{k.meta, k.hold}, nil).ToArray()
	if err != nil {
		return 0, invErr(err, "remaining", dropID)
	}
	code, err := replyCode(arr)
	if err != nil {
		return 0, fmt.Errorf("redis remaining %s: %w", dropID, err)
	}
	if code == 0 {
		return 0, fmt.Errorf("redis remaining %s: %w", dropID, inventory.ErrNotLoaded)
	}
	return arr[1].AsInt64()
}

// Holdings returns what userID holds in dropID, oldest IssuedAt first (claim
// order among equals), in one round trip. Returns ErrNotLoaded.
func (v *Inventory) Holdings(ctx context.Context, dropID, userID string) ([]issuance.Issuance, error) {
	k := inventoryKeys(dropID)
	arr, err := holdingsScript.Exec(ctx, v.client, []string{k.meta, k.users, k.hold}, []string{userID}).ToArray()
	if err != nil {
		return nil, invErr(err, "holdings", dropID)
	}
	code, err := replyCode(arr)
	if err != nil {
		return nil, fmt.Errorf("redis holdings %s: %w", dropID, err)
	}
	if code == 0 {
		return nil, fmt.Errorf("redis holdings %s: %w", dropID, inventory.ErrNotLoaded)
	}
	recs := make([]string, 0, len(arr)-1)
	for _, m := range arr[1:] {
		rec, err := m.ToString()
		if err != nil {
			return nil, fmt.Errorf("redis holdings %s: %w", dropID, err)
		}
		recs = append(recs, rec)
	}
	return decodeRecords(dropID, recs)
}

// Taken returns the labels of the held seats (empty for general drops).
// Returns ErrNotLoaded. It pages with HSCAN, so seats claimed or released
// during the call may or may not show.
func (v *Inventory) Taken(ctx context.Context, dropID string) (map[string]bool, error) {
	taken := make(map[string]bool)
	err := v.scanLoaded(ctx, dropID, inventoryKeys(dropID).seats, func(seat, holder string) {
		if holder != "" {
			taken[seat] = true
		}
	})
	if err != nil {
		return nil, fmt.Errorf("redis taken %s: %w", dropID, err)
	}
	return taken, nil
}

// Snapshot returns every holder record of the drop, oldest IssuedAt first.
// Returns ErrNotLoaded. Like Taken it pages with HSCAN: a record held for
// the whole call is always returned, which is what the reconciler needs.
func (v *Inventory) Snapshot(ctx context.Context, dropID string) ([]issuance.Issuance, error) {
	var recs []string
	err := v.scanLoaded(ctx, dropID, inventoryKeys(dropID).hold, func(_, rec string) {
		recs = append(recs, rec)
	})
	if err != nil {
		return nil, fmt.Errorf("redis snapshot %s: %w", dropID, err)
	}
	return decodeRecords(dropID, recs)
}

// scanLoaded calls fn once for each field of a hash of a loaded drop.
func (v *Inventory) scanLoaded(ctx context.Context, dropID, key string, fn func(field, value string)) error {
	n, err := v.client.Do(ctx, v.client.B().Exists().Key(inventoryKeys(dropID).meta).Build()).AsInt64()
	if err != nil {
		return classify(err, inventory.ErrUnavailable, "exists")
	}
	if n == 0 {
		return inventory.ErrNotLoaded
	}
	var cursor uint64
	// HSCAN may return a field twice when the hash is resized mid-scan.
	seen := make(map[string]struct{})
	for {
		e, err := v.client.Do(ctx, v.client.B().Hscan().Key(key).Cursor(cursor).Count(scanCount).Build()).AsScanEntry()
		if err != nil {
			return classify(err, inventory.ErrUnavailable, "hscan")
		}
		for i := 0; i+1 < len(e.Elements); i += 2 {
			if _, dup := seen[e.Elements[i]]; !dup {
				seen[e.Elements[i]] = struct{}{}
				fn(e.Elements[i], e.Elements[i+1])
			}
		}
		if e.Cursor == 0 {
			return nil
		}
		cursor = e.Cursor
	}
}

func decodeRecords(dropID string, recs []string) ([]issuance.Issuance, error) {
	rs := make([]record, 0, len(recs))
	for _, rec := range recs {
		r, err := decodeRecord(dropID, rec)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b record) int {
		return cmp.Or(a.iss.IssuedAt.Compare(b.iss.IssuedAt), cmp.Compare(a.seq, b.seq))
	})
	out := make([]issuance.Issuance, len(rs))
	for i, r := range rs {
		out[i] = r.iss
	}
	return out, nil
}

// Restore rebuilds d's state from the durable issuances held: it loads d if
// absent, then adds each record missing by id. A durable record wins over a
// record it conflicts with (the same seat, or the same buyer and N, under
// another id), which is dropped: it belonged to a claim that can no longer
// be recorded. Other records are kept. Units left and per-buyer counts
// follow from the records, so they need no separate fixing. Held is written
// in batches, each atomic, so claims may interleave between batches. Returns
// how many records it added. Idempotency keys are not restored: MySQL does
// not keep them.
func (v *Inventory) Restore(ctx context.Context, d *drop.Drop, held []issuance.Issuance) (int, error) {
	args := make([]string, 0, len(held))
	for _, iss := range held {
		if iss.DropID != d.ID() {
			return 0, fmt.Errorf("redis restore %s: issuance %s is of drop %s", d.ID(), iss.ID, iss.DropID)
		}
		if iss.ID == "" {
			return 0, fmt.Errorf("redis restore %s: issuance has no id", d.ID())
		}
		if err := checkNoSeparator(iss.ID, iss.UserID, iss.Seat, iss.Code); err != nil {
			return 0, err
		}
		args = append(args, encodeRecord(iss))
	}
	if err := v.writeSeats(ctx, d); err != nil {
		return 0, err
	}
	k := inventoryKeys(d.ID())
	keys := []string{k.meta, k.hold, k.users, k.seats, k.idem}
	head := []string{kindCode(d), strconv.Itoa(d.Stock())}
	added := 0
	// The last batch marks the drop loaded, so it runs even when held is empty.
	for start := 0; start == 0 || start < len(args); start += writeBatch {
		end := min(start+writeBatch, len(args))
		final := "0"
		if end == len(args) {
			final = "1"
		}
		batch := append(append(slices.Clip(head), final, strconv.Itoa(len(args))), args[start:end]...)
		n, err := restoreScript.Exec(ctx, v.client, keys, batch).AsInt64()
		if err != nil {
			return added, invErr(err, "restore", d.ID())
		}
		if n < 0 {
			return added, fmt.Errorf("redis restore %s: records vanished while restoring (Redis restarted?): %w", d.ID(), inventory.ErrUnavailable)
		}
		added += int(n)
	}
	return added, nil
}
