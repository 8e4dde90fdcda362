package redis

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

func mustJoin(t *testing.T, l *Line, dropID, user string, wantPos int64, wantCreated bool) {
	t.Helper()
	st, created, err := l.Join(t.Context(), dropID, user)
	if err != nil {
		t.Fatalf("Join(%s): %v", user, err)
	}
	if st.Status != waitline.Waiting || st.Position != wantPos || created != wantCreated {
		t.Fatalf("Join(%s) = %+v created %v, want waiting at %d created %v", user, st, created, wantPos, wantCreated)
	}
}

func mustStand(t *testing.T, l *Line, dropID, user string, want waitline.Standing) {
	t.Helper()
	st, err := l.Standing(t.Context(), dropID, user)
	if err != nil {
		t.Fatalf("Standing(%s): %v", user, err)
	}
	if st.Status != want.Status || st.Position != want.Position || st.Decision.UserID != want.Decision.UserID ||
		st.Decision.Status != want.Decision.Status || st.Decision.IssuanceID != want.Decision.IssuanceID ||
		st.Decision.Pass.Token != want.Decision.Pass.Token || !st.Decision.Pass.ExpiresAt.Equal(want.Decision.Pass.ExpiresAt) {
		t.Fatalf("Standing(%s) = %+v, want %+v", user, st, want)
	}
}

func TestLineJoinKeepsTheFirstPlace(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newDropID(t, c)
	a, b, x := newID("u"), newID("u"), newID("u")
	mustJoin(t, l, id, a, 1, true)
	mustJoin(t, l, id, b, 2, true)
	mustJoin(t, l, id, a, 1, false)
	mustStand(t, l, id, b, waitline.Standing{Status: waitline.Waiting, Position: 2})
	if _, err := l.Standing(t.Context(), id, x); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("Standing of a stranger: err = %v, want ErrNotInLine", err)
	}
	if err := l.Leave(t.Context(), id, a); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if err := l.Leave(t.Context(), id, a); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("second Leave: err = %v, want ErrNotInLine", err)
	}
	mustStand(t, l, id, b, waitline.Standing{Status: waitline.Waiting, Position: 1})
	// Leaving and joining again goes to the back, behind everyone since.
	mustJoin(t, l, id, x, 2, true)
	mustJoin(t, l, id, a, 3, true)
}

func TestLineDecide(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newDropID(t, c)
	ctx := t.Context()
	us := []string{newID("u"), newID("u"), newID("u"), newID("u")}
	for i, u := range us {
		mustJoin(t, l, id, u, int64(i+1), true)
	}
	head, err := l.Peek(ctx, id, 3)
	if err != nil || !slices.Equal(head, us[:3]) {
		t.Fatalf("Peek = %v, %v; want %v", head, err, us[:3])
	}
	now := time.Now().UTC()
	pass := waitline.Pass{Token: "tok", ExpiresAt: now.Add(time.Minute)}
	ds := []waitline.Decision{
		{UserID: us[0], Status: waitline.Issued, IssuanceID: "iss-1"},
		{UserID: us[1], Status: waitline.Admitted, Pass: pass},
	}
	if err := l.Decide(ctx, id, ds); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	mustStand(t, l, id, us[0], waitline.Standing{Status: waitline.Issued, Decision: ds[0]})
	mustStand(t, l, id, us[1], waitline.Standing{Status: waitline.Admitted, Decision: ds[1]})
	mustStand(t, l, id, us[3], waitline.Standing{Status: waitline.Waiting, Position: 2})
	st, created, err := l.Join(ctx, id, us[0])
	if err != nil || created || st.Status != waitline.Issued || st.Decision.IssuanceID != "iss-1" {
		t.Fatalf("Join of a decided buyer = %+v %v %v, want the decision", st, created, err)
	}
	// Deciding again overwrites without counting the buyer twice.
	if err := l.Decide(ctx, id, []waitline.Decision{{UserID: us[1], Status: waitline.Expired, Pass: pass}}); err != nil {
		t.Fatalf("Decide again: %v", err)
	}
	for name, got := range map[string]func() (int64, error){
		"Admitted": func() (int64, error) { return l.Admitted(ctx, id) },
		"Length":   func() (int64, error) { return l.Length(ctx, id) },
	} {
		if n, err := got(); err != nil || n != 2 {
			t.Errorf("%s = %d, %v; want 2", name, n, err)
		}
	}
	if n, err := l.ActivePasses(ctx, id, now); err != nil || n != 0 {
		t.Fatalf("ActivePasses after Expired = %d, %v; want 0", n, err)
	}
	if err := l.Decide(ctx, id, []waitline.Decision{{Status: waitline.Issued}}); err == nil {
		t.Fatalf("Decide without a user succeeded")
	}
}

func TestLinePasses(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newDropID(t, c)
	ctx := t.Context()
	base := time.Now().UTC().Truncate(time.Second)
	var ds []waitline.Decision
	for i := range 5 {
		u := newID("u")
		mustJoin(t, l, id, u, 1, true)
		ds = append(ds, waitline.Decision{UserID: u, Status: waitline.Admitted,
			Pass: waitline.Pass{Token: "t" + strconv.Itoa(i), ExpiresAt: base.Add(time.Duration(i) * time.Second)}})
		if err := l.Decide(ctx, id, ds[i:i+1]); err != nil {
			t.Fatalf("Decide: %v", err)
		}
	}
	if n, err := l.ActivePasses(ctx, id, base.Add(2*time.Second)); err != nil || n != 3 {
		t.Fatalf("ActivePasses = %d, %v; want 3 (expiring at now counts)", n, err)
	}
	lapsed, err := l.Lapsed(ctx, id, base.Add(3*time.Second), 10)
	if err != nil || len(lapsed) != 3 {
		t.Fatalf("Lapsed = %v, %v; want the first 3", lapsed, err)
	}
	for i, d := range lapsed {
		if d.UserID != ds[i].UserID || d.Status != waitline.Admitted || !d.Pass.ExpiresAt.Equal(ds[i].Pass.ExpiresAt) || d.Pass.Token != ds[i].Pass.Token {
			t.Errorf("Lapsed[%d] = %+v, want %+v", i, d, ds[i])
		}
	}
	if two, err := l.Lapsed(ctx, id, base.Add(3*time.Second), 2); err != nil || len(two) != 2 {
		t.Fatalf("Lapsed limited to 2 = %v, %v", two, err)
	}
	if err := l.Decide(ctx, id, []waitline.Decision{{UserID: ds[0].UserID, Status: waitline.Expired, Pass: ds[0].Pass}}); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if lapsed, err := l.Lapsed(ctx, id, base.Add(3*time.Second), 10); err != nil || len(lapsed) != 2 {
		t.Fatalf("Lapsed after expiring one = %v, %v; want 2", lapsed, err)
	}
}

func TestLineClose(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newDropID(t, c)
	ctx := t.Context()
	waiting, decided, late := newID("u"), newID("u"), newID("u")
	mustJoin(t, l, id, waiting, 1, true)
	mustJoin(t, l, id, decided, 2, true)
	issued := waitline.Decision{UserID: decided, Status: waitline.Issued, IssuanceID: "i"}
	if err := l.Decide(ctx, id, []waitline.Decision{issued}); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if ok, err := l.Closed(ctx, id); err != nil || ok {
		t.Fatalf("Closed before Close = %v, %v", ok, err)
	}
	if err := l.Close(ctx, id); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ok, err := l.Closed(ctx, id); err != nil || !ok {
		t.Fatalf("Closed after Close = %v, %v", ok, err)
	}
	soldOut := func(u string) waitline.Standing {
		return waitline.Standing{Status: waitline.SoldOut, Decision: waitline.Decision{UserID: u, Status: waitline.SoldOut}}
	}
	mustStand(t, l, id, waiting, soldOut(waiting))
	mustStand(t, l, id, decided, waitline.Standing{Status: waitline.Issued, Decision: issued})
	st, created, err := l.Join(ctx, id, late)
	if err != nil || created || st.Status != waitline.SoldOut {
		t.Fatalf("Join after Close = %+v %v %v, want sold out", st, created, err)
	}
	if _, err := l.Standing(ctx, id, late); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("Standing of a late joiner: err = %v, want ErrNotInLine (never queued)", err)
	}
}

// TestLineConcurrentJoins checks that concurrent joins get distinct
// positions 1..n and that the queue's order is the order of those positions.
func TestLineConcurrentJoins(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newDropID(t, c)
	const n = 2000
	us := make([]string, n)
	pos := make([]int64, n)
	for i := range us {
		us[i] = newID("u")
	}
	parallel(n, 32, func(i int) {
		st, created, err := l.Join(t.Context(), id, us[i])
		if err != nil || !created {
			t.Errorf("Join = %v, %v", created, err)
		}
		pos[i] = st.Position
	})
	byPos := make([]string, n)
	for i, p := range pos {
		if p < 1 || p > n || byPos[p-1] != "" {
			t.Fatalf("position %d given twice or out of range", p)
		}
		byPos[p-1] = us[i]
	}
	head, err := l.Peek(t.Context(), id, n)
	if err != nil || !slices.Equal(head, byPos) {
		t.Fatalf("Peek order differs from the positions joins were told")
	}
}

func TestLineUnavailable(t *testing.T) {
	closed := testClient(t)
	closed.Close()
	_, _, err := NewLine(closed).Join(t.Context(), "d", "u")
	if !errors.Is(err, waitline.ErrUnavailable) {
		t.Fatalf("Join on a closed client: err = %v, want ErrUnavailable", err)
	}
}

// TestLineMemoryPerWaitingBuyer measures what one waiting buyer costs in
// Redis: MEMORY USAGE of the queue over its members, with ids as long as
// clock.RandomIDs makes. The bound is the design's "close to a bare
// sorted-set member" (about 105 bytes for such a member).
func TestLineMemoryPerWaitingBuyer(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newDropID(t, c)
	const n = 100_000
	parallel(n, 64, func(int) {
		if _, _, err := l.Join(t.Context(), id, ids.NewID()); err != nil {
			t.Errorf("Join: %v", err)
		}
	})
	k := waitlineKeys(id)
	usage, err := c.Do(t.Context(), c.B().MemoryUsage().Key(k.queue).Samples(0).Build()).AsInt64()
	if err != nil {
		t.Fatalf("MEMORY USAGE: %v", err)
	}
	others := int64(0)
	for _, key := range []string{k.line, k.decisions, k.passes, k.preQueue, k.preQueueLeft, k.gone} {
		u, err := c.Do(t.Context(), c.B().MemoryUsage().Key(key).Samples(0).Build()).AsInt64()
		if err != nil && !isNil(err) {
			t.Fatalf("MEMORY USAGE %s: %v", key, err)
		}
		others += u
	}
	per := float64(usage) / n
	t.Logf("queue of %d buyers: %d bytes, %.1f bytes per waiting buyer; other line keys: %d bytes", n, usage, per, others)
	if per > 130 {
		t.Fatalf("%.1f bytes per waiting buyer, want at most 130", per)
	}
}

// newLineDrop is newDropID whose pre-queue and gap keys, which the shared
// cleanup does not know, are deleted too when tb ends.
func newLineDrop(tb testing.TB, c rueidis.Client) string {
	tb.Helper()
	id := newDropID(tb, c)
	tb.Cleanup(func() {
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if err := c.Do(ctx, c.B().Del().Key(waitlineKeys(id).all()...).Build()).Error(); err != nil {
			tb.Errorf("cleanup of line %s: %v", id, err)
		}
	})
	return id
}

func mustSnapshot(t *testing.T, l *Line, dropID string) waitline.Snapshot {
	t.Helper()
	s, err := l.Snapshot(t.Context(), dropID)
	if err != nil {
		t.Fatalf("Snapshot: %v", err)
	}
	return s
}

// snapshotAgrees fails t unless the snapshot gives every buyer in waiting
// the position Standing gives, every buyer in gone (user -> the sequence it
// had) no position, and accounts for exactly the buyers waiting.
func snapshotAgrees(t *testing.T, l *Line, dropID string, waiting []string, gone map[string]int64, step int) {
	t.Helper()
	snap := mustSnapshot(t, l, dropID)
	if !snap.Ready {
		t.Fatalf("step %d: snapshot not ready", step)
	}
	if got := snap.Tail - snap.Head + 1 - int64(len(snap.Gone)); got != int64(len(waiting)) {
		t.Fatalf("step %d: snapshot %+v accounts for %d waiting, want %d", step, snap, got, len(waiting))
	}
	for _, u := range waiting {
		st := standing(t, l, dropID, u)
		if st.Status != waitline.Waiting || st.Epoch != snap.Epoch {
			t.Fatalf("step %d: Standing(%s) = %+v, want waiting in epoch %q", step, u, st, snap.Epoch)
		}
		if pos, ok := snap.Position(st.Seq); !ok || pos != st.Position {
			t.Fatalf("step %d: snapshot %+v puts seq %d at %d (%v), Standing at %d", step, snap, st.Seq, pos, ok, st.Position)
		}
	}
	for u, seq := range gone {
		if pos, ok := snap.Position(seq); ok {
			t.Fatalf("step %d: snapshot puts %s (seq %d), who left, at %d", step, u, seq, pos)
		}
	}
}

func standing(t *testing.T, l *Line, dropID, user string) waitline.Standing {
	t.Helper()
	st, err := l.Standing(t.Context(), dropID, user)
	if err != nil {
		t.Fatalf("Standing(%s): %v", user, err)
	}
	return st
}

// TestLineSnapshotAgreesWithStanding runs random joins, leaves from anywhere
// and decisions from the head, and after each step checks that the snapshot
// computes the position Standing reads for every waiting buyer.
func TestLineSnapshotAgreesWithStanding(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	if s := mustSnapshot(t, l, id); s.Tail != 0 || s.Head != 1 || !s.Ready || s.Epoch != "" || len(s.Gone) != 0 {
		t.Fatalf("snapshot of a line nobody joined = %+v", s)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var waiting []string
	seqs := map[string]int64{}
	gone := map[string]int64{}
	for step := range 300 {
		switch r := rng.IntN(10); {
		case r < 5 || len(waiting) == 0:
			u := newID("u")
			st, created, err := l.Join(ctx, id, u)
			if err != nil || !created || st.Status != waitline.Waiting || st.Position != int64(len(waiting)+1) {
				t.Fatalf("step %d: Join = %+v %v %v, want waiting at %d", step, st, created, err, len(waiting)+1)
			}
			seqs[u] = st.Seq
			waiting = append(waiting, u)
		case r < 8:
			i := rng.IntN(len(waiting))
			if err := l.Leave(ctx, id, waiting[i]); err != nil {
				t.Fatalf("step %d: Leave: %v", step, err)
			}
			gone[waiting[i]] = seqs[waiting[i]]
			waiting = slices.Delete(waiting, i, i+1)
		default:
			n := 1 + rng.IntN(min(3, len(waiting)))
			head, err := l.Peek(ctx, id, n)
			if err != nil || !slices.Equal(head, waiting[:n]) {
				t.Fatalf("step %d: Peek = %v, %v; want %v", step, head, err, waiting[:n])
			}
			ds := make([]waitline.Decision, n)
			for i, u := range head {
				ds[i] = waitline.Decision{UserID: u, Status: waitline.Issued, IssuanceID: "i-" + u}
			}
			if err := l.Decide(ctx, id, ds); err != nil {
				t.Fatalf("step %d: Decide: %v", step, err)
			}
			for _, u := range waiting[:n] {
				gone[u] = seqs[u]
			}
			waiting = slices.Delete(waiting, 0, n)
		}
		snapshotAgrees(t, l, id, waiting, gone, step)
	}
	// Gaps are forgotten once the head passes them: gone holds no sequence
	// below the head.
	snap := mustSnapshot(t, l, id)
	n, err := c.Do(ctx, c.B().Zcount().Key(waitlineKeys(id).gone).Min("-inf").Max("("+strconv.FormatInt(snap.Head, 10)).Build()).AsInt64()
	if err != nil || n != 0 {
		t.Fatalf("gone holds %d sequences below the head %d (%v)", n, snap.Head, err)
	}
}

// TestLineEpoch checks that a line keeps its epoch, and that a line lost
// with Redis and built again numbers from 1 under another epoch.
func TestLineEpoch(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	a, b := newID("u"), newID("u")
	st1, _, err := l.Join(ctx, id, a)
	if err != nil || st1.Epoch == "" || st1.Seq != 1 {
		t.Fatalf("Join = %+v, %v; want seq 1 with an epoch", st1, err)
	}
	st2, _, err := l.Join(ctx, id, b)
	if err != nil || st2.Epoch != st1.Epoch || st2.Seq != 2 {
		t.Fatalf("second Join = %+v, %v; want seq 2 in epoch %q", st2, err, st1.Epoch)
	}
	if st := standing(t, l, id, a); st.Epoch != st1.Epoch || st.Seq != 1 {
		t.Fatalf("Standing = %+v, want seq 1 in epoch %q", st, st1.Epoch)
	}
	if err := c.Do(ctx, c.B().Del().Key(waitlineKeys(id).all()...).Build()).Error(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	st3, _, err := l.Join(ctx, id, b)
	if err != nil || st3.Seq != 1 || st3.Epoch == "" || st3.Epoch == st1.Epoch {
		t.Fatalf("Join after the line was lost = %+v, %v; want seq 1 in an epoch other than %q", st3, err, st1.Epoch)
	}
	if s := mustSnapshot(t, l, id); s.Epoch != st3.Epoch {
		t.Fatalf("Snapshot epoch %q, want %q", s.Epoch, st3.Epoch)
	}
}

// TestLinePreQueue walks a pre-queue through its life: members join it, a
// line join freezes it and stands behind them all, two instances place it
// in chunks across a simulated crash, and the leavers become holes.
func TestLinePreQueue(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	members := make([]string, 7)
	for i := range members {
		members[i] = newID("pq")
		st, created, err := l.JoinPreQueue(ctx, id, members[i])
		if err != nil || !created || st.Status != waitline.PreQueue {
			t.Fatalf("JoinPreQueue = %+v %v %v, want pre_queue created", st, created, err)
		}
	}
	for _, join := range []func(context.Context, string, string) (waitline.Standing, bool, error){l.JoinPreQueue, l.Join} {
		if st, created, err := join(ctx, id, members[0]); err != nil || created || st.Status != waitline.PreQueue {
			t.Fatalf("joining again = %+v %v %v, want pre_queue not created", st, created, err)
		}
	}
	if st := standing(t, l, id, members[1]); st.Status != waitline.PreQueue {
		t.Fatalf("Standing of a member = %+v, want pre_queue", st)
	}
	if n, err := l.PreQueueLength(ctx, id); err != nil || n != 7 {
		t.Fatalf("PreQueueLength = %d, %v; want 7", n, err)
	}
	if s := mustSnapshot(t, l, id); s.Ready {
		t.Fatalf("snapshot ready while the pre-queue is open: %+v", s)
	}
	// One leaves before the freeze, one after: both slots become holes.
	if err := l.Leave(ctx, id, members[2]); err != nil {
		t.Fatalf("Leave of a member: %v", err)
	}

	// A line join freezes the pre-queue and stands behind all 6 members.
	late := newID("late")
	st, created, err := l.Join(ctx, id, late)
	if err != nil || !created || st.Status != waitline.Waiting || st.Position != 7 || st.Seq != 8 {
		t.Fatalf("line Join = %+v %v %v, want waiting at 7 with seq 8", st, created, err)
	}
	lateSeq := st.Seq
	// The pre-queue is frozen: a pre-queue join now joins the line.
	later := newID("later")
	if st, created, err := l.JoinPreQueue(ctx, id, later); err != nil || !created || st.Status != waitline.Waiting || st.Position != 8 {
		t.Fatalf("JoinPreQueue after the freeze = %+v %v %v, want waiting at 8", st, created, err)
	}
	if err := l.Leave(ctx, id, members[5]); err != nil {
		t.Fatalf("Leave of a member: %v", err)
	}
	if st := standing(t, l, id, late); st.Position != 6 {
		t.Fatalf("Standing of the line joiner = %+v, want 6 (5 members ahead)", st)
	}

	key := []byte("first key")
	plan, err := l.FreezePreQueue(ctx, id, key)
	if err != nil || !plan.Frozen || plan.Placed || plan.Base != 0 || plan.Slots != 7 || string(plan.Key) != string(key) {
		t.Fatalf("FreezePreQueue = %+v, %v; want frozen at base 0 with 7 slots and the first key", plan, err)
	}
	again, err := l.FreezePreQueue(ctx, id, []byte("second key"))
	if err != nil || again.Base != plan.Base || again.Slots != plan.Slots || string(again.Key) != string(key) {
		t.Fatalf("FreezePreQueue again = %+v, %v; want the stored plan %+v", again, err, plan)
	}

	// Each slot owns a sequence in the reserved range, in a shuffled order.
	rng := rand.New(rand.NewPCG(3, 4))
	order := rng.Perm(int(plan.Slots))
	seqOf := func(slot int64) int64 { return plan.Base + 1 + int64(order[slot-1]) }
	placements := func(ms []waitline.PreQueueMember) []waitline.Placement {
		ps := make([]waitline.Placement, len(ms))
		for i, m := range ms {
			ps[i] = waitline.Placement{UserID: m.UserID, Seq: seqOf(m.Slot)}
		}
		return ps
	}
	if err := l.Place(ctx, id, []waitline.Placement{{UserID: members[0], Seq: plan.Base + plan.Slots + 1}}); !errors.Is(err, errBadPlacement) {
		t.Fatalf("Place outside the reserved range: err = %v, want errBadPlacement", err)
	}

	// Instance one places the first chunk of three, then crashes.
	first, err := l.PreQueueMembers(ctx, id, 0, 3)
	if err != nil || len(first) != 3 || first[0].Slot != 1 || first[1].Slot != 2 || first[2].Slot != 4 {
		t.Fatalf("PreQueueMembers = %+v, %v; want slots 1, 2, 4", first, err)
	}
	if err := l.Place(ctx, id, placements(first)); err != nil {
		t.Fatalf("Place: %v", err)
	}
	if err := l.FinishPreQueue(ctx, id, nil); !errors.Is(err, waitline.ErrPreQueueBusy) {
		t.Fatalf("FinishPreQueue with members unplaced: err = %v, want ErrPreQueueBusy", err)
	}
	if st := standing(t, l, id, late); st.Position != 6 {
		t.Fatalf("Standing of the line joiner mid-placement = %+v, want 6", st)
	}
	// Instance two resumes from the stored plan: it replays the chunk it
	// cannot know was placed, then places the rest.
	plan2, err := l.FreezePreQueue(ctx, id, []byte("another key"))
	if err != nil || plan2.Base != plan.Base || plan2.Slots != plan.Slots || string(plan2.Key) != string(key) {
		t.Fatalf("FreezePreQueue on resuming = %+v, %v", plan2, err)
	}
	rest, err := l.PreQueueMembers(ctx, id, 0, 100)
	if err != nil || len(rest) != 2 || rest[0].Slot != 5 || rest[1].Slot != 7 {
		t.Fatalf("PreQueueMembers after the first chunk = %+v, %v; want slots 5, 7", rest, err)
	}
	if tail, err := l.PreQueueMembers(ctx, id, 6, 100); err != nil || len(tail) != 1 || tail[0].Slot != 7 {
		t.Fatalf("PreQueueMembers after slot 6 = %+v, %v", tail, err)
	}
	if err := l.Place(ctx, id, append(placements(first), placements(rest)...)); err != nil {
		t.Fatalf("Place of the rest: %v", err)
	}
	if n, err := l.PreQueueLength(ctx, id); err != nil || n != 0 {
		t.Fatalf("PreQueueLength after placing = %d, %v", n, err)
	}
	if n, err := l.Length(ctx, id); err != nil || n != 7 {
		t.Fatalf("Length = %d, %v; want the 5 placed and 2 line joiners", n, err)
	}
	for _, m := range append(first, rest...) {
		st := standing(t, l, id, m.UserID)
		if st.Status != waitline.Waiting || st.Seq != seqOf(m.Slot) {
			t.Fatalf("placed %s (slot %d) stands %+v, want seq %d", m.UserID, m.Slot, st, seqOf(m.Slot))
		}
	}
	if s := mustSnapshot(t, l, id); s.Ready {
		t.Fatalf("snapshot ready before FinishPreQueue: %+v", s)
	}

	left, err := l.PreQueueLeft(ctx, id)
	if err != nil || !slices.Equal(left, []int64{3, 6}) {
		t.Fatalf("PreQueueLeft = %v, %v; want [3 6]", left, err)
	}
	holes := []int64{seqOf(3), seqOf(6)}
	if err := l.FinishPreQueue(ctx, id, holes[:1]); !errors.Is(err, waitline.ErrPreQueueBusy) {
		t.Fatalf("FinishPreQueue with a stale list of holes: err = %v, want ErrPreQueueBusy", err)
	}
	if err := l.FinishPreQueue(ctx, id, []int64{seqOf(1), seqOf(3)}); !errors.Is(err, errBadPlacement) {
		t.Fatalf("FinishPreQueue with a held sequence as a hole: err = %v, want errBadPlacement", err)
	}
	if err := l.FinishPreQueue(ctx, id, holes); err != nil {
		t.Fatalf("FinishPreQueue: %v", err)
	}
	if err := l.FinishPreQueue(ctx, id, nil); err != nil {
		t.Fatalf("FinishPreQueue again: %v", err)
	}
	if plan, err := l.FreezePreQueue(ctx, id, nil); err != nil || !plan.Placed {
		t.Fatalf("FreezePreQueue after finishing = %+v, %v; want placed", plan, err)
	}
	if st := standing(t, l, id, late); st.Position != 6 || st.Seq != lateSeq {
		t.Fatalf("Standing of the line joiner after placing = %+v, want 6", st)
	}
	waiting, err := l.Peek(ctx, id, 100)
	if err != nil || len(waiting) != 7 {
		t.Fatalf("Peek = %v, %v", waiting, err)
	}
	snapshotAgrees(t, l, id, waiting, nil, 0)
	if s := mustSnapshot(t, l, id); !slices.Equal(s.Gone, sortedCopy(holes)) {
		t.Fatalf("snapshot gaps %v, want the holes %v", s.Gone, sortedCopy(holes))
	}
	// Deciding from the head now runs through the shuffled members first.
	for i := range 5 {
		if err := l.Decide(ctx, id, []waitline.Decision{{UserID: waiting[i], Status: waitline.Issued}}); err != nil {
			t.Fatalf("Decide: %v", err)
		}
	}
	snapshotAgrees(t, l, id, waiting[5:], nil, 1)
	if !slices.Equal(waiting[5:], []string{late, later}) {
		t.Fatalf("after the members the line holds %v, want the line joiners", waiting[5:])
	}
}

func sortedCopy(s []int64) []int64 {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// TestLinePreQueueClosedAndDecided checks that a closed line answers its
// pre-queue members SoldOut and that deciding them leaves their slots as
// holes.
func TestLinePreQueueClosedAndDecided(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	a, b := newID("pq"), newID("pq")
	for _, u := range []string{a, b} {
		if _, _, err := l.JoinPreQueue(ctx, id, u); err != nil {
			t.Fatalf("JoinPreQueue: %v", err)
		}
	}
	if err := l.Close(ctx, id); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := standing(t, l, id, a); st.Status != waitline.SoldOut {
		t.Fatalf("Standing of a member of a closed line = %+v, want sold out", st)
	}
	if st, created, err := l.JoinPreQueue(ctx, id, newID("pq")); err != nil || created || st.Status != waitline.SoldOut {
		t.Fatalf("JoinPreQueue on a closed line = %+v %v %v, want sold out", st, created, err)
	}
	if err := l.Decide(ctx, id, []waitline.Decision{{UserID: a, Status: waitline.SoldOut}}); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if n, err := l.PreQueueLength(ctx, id); err != nil || n != 1 {
		t.Fatalf("PreQueueLength = %d, %v; want 1", n, err)
	}
	if left, err := l.PreQueueLeft(ctx, id); err != nil || !slices.Equal(left, []int64{1}) {
		t.Fatalf("PreQueueLeft = %v, %v; want [1]", left, err)
	}
}

// TestLineLeaveGivesBackAPass checks that leaving with an armed pass frees
// its place among the active passes at once.
func TestLineLeaveGivesBackAPass(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	u := newID("u")
	mustJoin(t, l, id, u, 1, true)
	now := time.Now().UTC()
	d := waitline.Decision{UserID: u, Status: waitline.Admitted, Pass: waitline.Pass{Token: "tok", ExpiresAt: now.Add(time.Minute)}}
	if err := l.Decide(ctx, id, []waitline.Decision{d}); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if n, err := l.ActivePasses(ctx, id, now); err != nil || n != 1 {
		t.Fatalf("ActivePasses = %d, %v; want 1", n, err)
	}
	if err := l.Leave(ctx, id, u); err != nil {
		t.Fatalf("Leave with a pass: %v", err)
	}
	if n, err := l.ActivePasses(ctx, id, now); err != nil || n != 0 {
		t.Fatalf("ActivePasses after giving the pass back = %d, %v; want 0", n, err)
	}
	want := d
	want.Status = waitline.Expired
	mustStand(t, l, id, u, waitline.Standing{Status: waitline.Expired, Decision: want})
	if err := l.Leave(ctx, id, u); !errors.Is(err, waitline.ErrNotInLine) {
		t.Fatalf("Leave again: err = %v, want ErrNotInLine", err)
	}
	if lapsed, err := l.Lapsed(ctx, id, now.Add(time.Hour), 10); err != nil || len(lapsed) != 0 {
		t.Fatalf("Lapsed = %v, %v; want none", lapsed, err)
	}
}

// TestLineKeepPass checks that a decision with KeepPass keeps the pass armed
// and counted, round-trips, and is given back like an admitted one.
func TestLineKeepPass(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	u, v := newID("u"), newID("u")
	mustJoin(t, l, id, u, 1, true)
	mustJoin(t, l, id, v, 2, true)
	now := time.Now().UTC()
	pass := waitline.Pass{Token: "tok", ExpiresAt: now.Add(time.Minute)}
	ds := []waitline.Decision{
		{UserID: u, Status: waitline.Issued, IssuanceID: "iss", Pass: pass, KeepPass: true},
		{UserID: v, Status: waitline.Issued, IssuanceID: "iss2", Pass: pass},
	}
	if err := l.Decide(ctx, id, ds); err != nil {
		t.Fatalf("Decide: %v", err)
	}
	if n, err := l.ActivePasses(ctx, id, now); err != nil || n != 1 {
		t.Fatalf("ActivePasses = %d, %v; want 1 (the kept pass)", n, err)
	}
	if st := standing(t, l, id, u); st.Status != waitline.Issued || !st.Decision.KeepPass || st.Decision.IssuanceID != "iss" {
		t.Fatalf("Standing = %+v, want issued with the pass kept", st)
	}
	if st := standing(t, l, id, v); st.Decision.KeepPass {
		t.Fatalf("Standing = %+v, want no pass kept", st)
	}
	lapsed, err := l.Lapsed(ctx, id, now.Add(time.Hour), 10)
	if err != nil || len(lapsed) != 1 || lapsed[0].UserID != u || !lapsed[0].KeepPass {
		t.Fatalf("Lapsed = %+v, %v; want the kept pass", lapsed, err)
	}
	if err := l.Leave(ctx, id, u); err != nil {
		t.Fatalf("Leave: %v", err)
	}
	if st := standing(t, l, id, u); st.Status != waitline.Expired || st.Decision.KeepPass || st.Decision.IssuanceID != "iss" {
		t.Fatalf("Standing after giving the pass back = %+v, want expired without a kept pass", st)
	}
	if n, err := l.ActivePasses(ctx, id, now); err != nil || n != 0 {
		t.Fatalf("ActivePasses = %d, %v; want 0", n, err)
	}
}

// TestLineKeys checks that the line's keys, built in one piece, are the
// drop's keys under its hash tag.
func TestLineKeys(t *testing.T) {
	k := waitlineKeys("d1")
	want := []string{"{drop:d1}:q", "{drop:d1}:ln", "{drop:d1}:dec", "{drop:d1}:pass", "{drop:d1}:pq", "{drop:d1}:pqleft", "{drop:d1}:gone"}
	if !slices.Equal(k.all(), want) {
		t.Fatalf("waitlineKeys = %q, want %q", k.all(), want)
	}
}

// TestLinePreQueueRacesTheFirstLineJoin joins the pre-queue and the line at
// once: whoever wins, every line joiner stands behind every sequence
// reserved for the pre-queue, and every member got a slot.
func TestLinePreQueueRacesTheFirstLineJoin(t *testing.T) {
	c := testClient(t)
	l := NewLine(c)
	id := newLineDrop(t, c)
	ctx := t.Context()
	// One member first, so that the first line join must freeze.
	if _, _, err := l.JoinPreQueue(ctx, id, newID("pq")); err != nil {
		t.Fatalf("JoinPreQueue: %v", err)
	}
	const n = 400
	sts := make([]waitline.Standing, n)
	parallel(n, 32, func(i int) {
		join := l.Join
		if i%2 == 0 {
			join = l.JoinPreQueue
		}
		st, created, err := join(ctx, id, "user-"+strconv.Itoa(i))
		if err != nil || !created {
			t.Errorf("join %d = %+v %v %v", i, st, created, err)
		}
		sts[i] = st
	})
	plan, err := l.FreezePreQueue(ctx, id, []byte("k"))
	if err != nil {
		t.Fatalf("FreezePreQueue: %v", err)
	}
	members, err := l.PreQueueLength(ctx, id)
	if err != nil || members != plan.Slots {
		t.Fatalf("PreQueueLength = %d, %v; want the %d slots", members, err, plan.Slots)
	}
	inLine := int64(0)
	for i, st := range sts {
		switch st.Status {
		case waitline.Waiting:
			inLine++
			if st.Seq <= plan.Base+plan.Slots || st.Position <= members {
				t.Fatalf("join %d waits at %d with seq %d, not behind the %d slots after %d", i, st.Position, st.Seq, plan.Slots, plan.Base)
			}
		case waitline.PreQueue:
			if i%2 != 0 {
				t.Fatalf("line join %d landed in the pre-queue", i)
			}
		default:
			t.Fatalf("join %d = %+v", i, st)
		}
	}
	if inLine+members != n+1 {
		t.Fatalf("%d in line and %d in the pre-queue, want %d in all", inLine, members, n+1)
	}
}
