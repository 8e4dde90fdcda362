package redis

import (
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"

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
	for _, key := range []string{k.line, k.decisions, k.passes} {
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
