package redis

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

var _ waitline.WaitingLine = (*Line)(nil)

// Line is the Redis WaitingLine. A waiting buyer costs one sorted-set member
// and nothing else; only decided buyers get a field in the decisions hash.
// Join and Standing are one script each, so one round trip. The sequences
// that left ahead of the tail (the gaps a Snapshot carries) are kept in a
// set that every removal prunes below the head, so it holds only the gaps
// that still matter, not one entry per buyer who ever left.
type Line struct {
	client rueidis.Client
}

// NewLine returns a Line on client.
func NewLine(client rueidis.Client) *Line {
	return &Line{client: client}
}

func lineErr(err error, op, dropID string) error {
	return classify(err, waitline.ErrUnavailable, op+" "+dropID)
}

// Join puts userID at the back of dropID's line, or returns its place, its
// decision, or SoldOut once the line is closed.
func (l *Line) Join(ctx context.Context, dropID, userID string) (waitline.Standing, bool, error) {
	return l.join(ctx, dropID, userID, "q", "join")
}

// JoinPreQueue puts userID in dropID's pre-queue until it is frozen; after
// that, and for a buyer already waiting or decided, it answers as Join does.
func (l *Line) JoinPreQueue(ctx context.Context, dropID, userID string) (waitline.Standing, bool, error) {
	return l.join(ctx, dropID, userID, "p", "join pre-queue")
}

func (l *Line) join(ctx context.Context, dropID, userID, mode, op string) (waitline.Standing, bool, error) {
	k := waitlineKeys(dropID)
	arr, err := joinScript.Exec(ctx, l.client, []string{k.queue, k.line, k.decisions, k.preQueue},
		[]string{userID, newEpoch(), mode}).ToArray()
	if err != nil {
		return waitline.Standing{}, false, lineErr(err, op, dropID)
	}
	st, created, err := parseStanding(userID, arr)
	if err != nil {
		return waitline.Standing{}, false, fmt.Errorf("redis %s %s: %w", op, dropID, err)
	}
	return st, created, nil
}

// newEpoch is a candidate epoch for a line's incarnation; only the first
// join of the incarnation stores it. 64 random bits keep two incarnations
// of one drop's line apart; math/rand/v2 is enough (an epoch is no secret)
// and costs nothing on the hot path.
func newEpoch() string {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// Standing returns userID's place or decision; waiting buyers of a closed
// line stand SoldOut. Returns ErrNotInLine.
func (l *Line) Standing(ctx context.Context, dropID, userID string) (waitline.Standing, error) {
	k := waitlineKeys(dropID)
	arr, err := standingScript.Exec(ctx, l.client, []string{k.queue, k.line, k.decisions, k.preQueue}, []string{userID}).ToArray()
	if err != nil {
		return waitline.Standing{}, lineErr(err, "standing", dropID)
	}
	if code, err := replyCode(arr); err == nil && code == 0 {
		return waitline.Standing{}, fmt.Errorf("redis standing %s: %w", dropID, waitline.ErrNotInLine)
	}
	st, _, err := parseStanding(userID, arr)
	if err != nil {
		return waitline.Standing{}, fmt.Errorf("redis standing %s: %w", dropID, err)
	}
	return st, nil
}

// parseStanding reads the replies of join.lua and standing.lua.
func parseStanding(userID string, arr []rueidis.RedisMessage) (waitline.Standing, bool, error) {
	code, err := replyCode(arr)
	if err != nil {
		return waitline.Standing{}, false, err
	}
	switch code {
	case 1:
		if len(arr) != 5 {
			return waitline.Standing{}, false, fmt.Errorf("waiting reply of %d elements", len(arr))
		}
		pos, err := arr[1].AsInt64()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		created, err := arr[2].AsInt64()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		seq, err := arr[3].AsInt64()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		epoch, err := arr[4].ToString()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		return waitline.Standing{Status: waitline.Waiting, Position: pos, Seq: seq, Epoch: epoch}, created == 1, nil
	case 2:
		enc, err := arr[1].ToString()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		d, err := decodeDecision(userID, enc)
		if err != nil {
			return waitline.Standing{}, false, err
		}
		return waitline.Standing{Status: d.Status, Decision: d}, false, nil
	case 3:
		return waitline.Standing{
			Status:   waitline.SoldOut,
			Decision: waitline.Decision{UserID: userID, Status: waitline.SoldOut},
		}, false, nil
	case 4:
		if len(arr) != 2 {
			return waitline.Standing{}, false, fmt.Errorf("pre-queue reply of %d elements", len(arr))
		}
		created, err := arr[1].AsInt64()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		return waitline.Standing{Status: waitline.PreQueue}, created == 1, nil
	}
	return waitline.Standing{}, false, fmt.Errorf("unexpected reply code %d", code)
}

// keepPassField marks a decision stored with KeepPass, as an optional fifth
// field, so decisions stored before it existed still decode.
const keepPassField = "k"

func encodeDecision(d waitline.Decision) string {
	f := []string{string(d.Status), d.IssuanceID, d.Pass.Token, formatTime(d.Pass.ExpiresAt)}
	if d.KeepPass {
		f = append(f, keepPassField)
	}
	return strings.Join(f, string(sep))
}

func decodeDecision(userID, enc string) (waitline.Decision, error) {
	f := strings.Split(enc, string(sep))
	if len(f) != 4 && (len(f) != 5 || f[4] != keepPassField) {
		return waitline.Decision{}, fmt.Errorf("malformed decision %q", enc)
	}
	exp, err := parseTime(f[3])
	if err != nil {
		return waitline.Decision{}, fmt.Errorf("decision %q: expires_at: %w", enc, err)
	}
	return waitline.Decision{
		UserID: userID, Status: waitline.Status(f[0]), IssuanceID: f[1],
		Pass: waitline.Pass{Token: f[2], ExpiresAt: exp}, KeepPass: len(f) == 5,
	}, nil
}

// passScore is a pass expiry in unix microseconds: exact in a float64 score
// (nanoseconds would not be), and fine enough for passes that last minutes.
func passScore(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// Peek returns up to n waiting buyers, oldest first.
func (l *Line) Peek(ctx context.Context, dropID string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	users, err := l.client.Do(ctx, l.client.B().Zrange().Key(waitlineKeys(dropID).queue).Min("0").Max(strconv.Itoa(n-1)).Build()).AsStrSlice()
	if err != nil {
		return nil, lineErr(err, "peek", dropID)
	}
	return users, nil
}

// Decide records ds and takes those buyers out of the line in one script,
// so a crash never leaves a buyer both waiting and decided. The whole batch
// is one atomic step; the dispatcher's batches (the admit rate per tick)
// keep it short.
func (l *Line) Decide(ctx context.Context, dropID string, ds []waitline.Decision) error {
	if len(ds) == 0 {
		return nil
	}
	args := make([]string, 0, 3*len(ds))
	for _, d := range ds {
		if d.UserID == "" {
			return fmt.Errorf("redis decide %s: decision without a user", dropID)
		}
		if err := checkNoSeparator(string(d.Status), d.IssuanceID, d.Pass.Token); err != nil {
			return err
		}
		exp := ""
		if d.Status == waitline.Admitted || d.KeepPass {
			exp = passScore(d.Pass.ExpiresAt)
		}
		args = append(args, d.UserID, encodeDecision(d), exp)
	}
	k := waitlineKeys(dropID)
	err := decideScript.Exec(ctx, l.client, []string{k.queue, k.decisions, k.passes, k.line, k.preQueue, k.preQueueLeft, k.gone}, args).Error()
	return lineErr(err, "decide", dropID)
}

// Leave takes a waiting buyer out of the line or the pre-queue, or ends an
// armed pass at once (its decision reads Expired). Returns ErrNotInLine if
// userID is none of those.
func (l *Line) Leave(ctx context.Context, dropID, userID string) error {
	k := waitlineKeys(dropID)
	n, err := leaveScript.Exec(ctx, l.client,
		[]string{k.queue, k.line, k.preQueue, k.preQueueLeft, k.gone, k.passes, k.decisions}, []string{userID}).AsInt64()
	if err != nil {
		return lineErr(err, "leave", dropID)
	}
	if n == 0 {
		return fmt.Errorf("redis leave %s: %w", dropID, waitline.ErrNotInLine)
	}
	return nil
}

// Length is how many buyers are in the queue, closed or not.
func (l *Line) Length(ctx context.Context, dropID string) (int64, error) {
	n, err := l.client.Do(ctx, l.client.B().Zcard().Key(waitlineKeys(dropID).queue).Build()).AsInt64()
	if err != nil {
		return 0, lineErr(err, "length", dropID)
	}
	return n, nil
}

// Admitted counts the buyers Decide took out of the queue.
func (l *Line) Admitted(ctx context.Context, dropID string) (int64, error) {
	n, err := l.client.Do(ctx, l.client.B().Hget().Key(waitlineKeys(dropID).line).Field("admitted").Build()).AsInt64()
	if rueidis.IsRedisNil(err) {
		return 0, nil
	}
	if err != nil {
		return 0, lineErr(err, "admitted", dropID)
	}
	return n, nil
}

// ActivePasses counts passes expiring at or after now (microsecond precision).
func (l *Line) ActivePasses(ctx context.Context, dropID string, now time.Time) (int64, error) {
	n, err := l.client.Do(ctx, l.client.B().Zcount().Key(waitlineKeys(dropID).passes).Min(passScore(now)).Max("+inf").Build()).AsInt64()
	if err != nil {
		return 0, lineErr(err, "active passes", dropID)
	}
	return n, nil
}

// Lapsed returns up to n admitted buyers whose passes expired before now,
// earliest expiry first, with their decisions as recorded. They stay armed
// until Decide records what became of them.
func (l *Line) Lapsed(ctx context.Context, dropID string, now time.Time, n int) ([]waitline.Decision, error) {
	if n <= 0 {
		return nil, nil
	}
	k := waitlineKeys(dropID)
	flat, err := lapsedScript.Exec(ctx, l.client, []string{k.passes, k.decisions}, []string{passScore(now), strconv.Itoa(n)}).AsStrSlice()
	if err != nil {
		return nil, lineErr(err, "lapsed", dropID)
	}
	out := make([]waitline.Decision, 0, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		d, err := decodeDecision(flat[i], flat[i+1])
		if err != nil {
			return nil, fmt.Errorf("redis lapsed %s: %w", dropID, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// Close ends dropID's line: waiting buyers and later joiners stand SoldOut.
// Waiting buyers stay in the queue, so Standing still finds them.
func (l *Line) Close(ctx context.Context, dropID string) error {
	err := l.client.Do(ctx, l.client.B().Hset().Key(waitlineKeys(dropID).line).FieldValue().FieldValue("closed", "1").Build()).Error()
	return lineErr(err, "close", dropID)
}

// Closed reports whether Close was called for dropID.
func (l *Line) Closed(ctx context.Context, dropID string) (bool, error) {
	ok, err := l.client.Do(ctx, l.client.B().Hexists().Key(waitlineKeys(dropID).line).Field("closed").Build()).AsBool()
	if err != nil {
		return false, lineErr(err, "closed", dropID)
	}
	return ok, nil
}

// Snapshot reads dropID's epoch, head, tail and the gaps ahead of the tail
// in one read-only script: O(log n + g) for g gaps, whatever the length n.
func (l *Line) Snapshot(ctx context.Context, dropID string) (waitline.Snapshot, error) {
	k := waitlineKeys(dropID)
	arr, err := snapshotScript.Exec(ctx, l.client, []string{k.queue, k.line, k.gone}, nil).ToArray()
	if err != nil {
		return waitline.Snapshot{}, lineErr(err, "snapshot", dropID)
	}
	snap, err := parseSnapshot(arr)
	if err != nil {
		return waitline.Snapshot{}, fmt.Errorf("redis snapshot %s: %w", dropID, err)
	}
	return snap, nil
}

func parseSnapshot(arr []rueidis.RedisMessage) (waitline.Snapshot, error) {
	if len(arr) != 6 {
		return waitline.Snapshot{}, fmt.Errorf("reply of %d elements", len(arr))
	}
	var s waitline.Snapshot
	var err error
	if s.Epoch, err = arr[0].ToString(); err != nil {
		return s, err
	}
	var nums [4]int64
	for i := range nums {
		if nums[i], err = arr[1+i].AsInt64(); err != nil {
			return s, err
		}
	}
	s.Head, s.Tail, s.Closed, s.Ready = nums[0], nums[1], nums[2] == 1, nums[3] == 1
	gone, err := arr[5].ToArray()
	if err != nil {
		return s, err
	}
	if len(gone) > 0 {
		s.Gone = make([]int64, len(gone))
		for i := range gone {
			if s.Gone[i], err = gone[i].AsInt64(); err != nil {
				return s, fmt.Errorf("gone: %w", err)
			}
		}
	}
	return s, nil
}

// PreQueueLength is how many buyers wait in dropID's pre-queue, unplaced.
func (l *Line) PreQueueLength(ctx context.Context, dropID string) (int64, error) {
	n, err := l.client.Do(ctx, l.client.B().Zcard().Key(waitlineKeys(dropID).preQueue).Build()).AsInt64()
	if err != nil {
		return 0, lineErr(err, "pre-queue length", dropID)
	}
	return n, nil
}

// FreezePreQueue freezes dropID's pre-queue once and returns its plan; key is
// stored only if none is (a join may have frozen it without one).
func (l *Line) FreezePreQueue(ctx context.Context, dropID string, key []byte) (waitline.PreQueuePlan, error) {
	arr, err := freezeScript.Exec(ctx, l.client, []string{waitlineKeys(dropID).line}, []string{hex.EncodeToString(key)}).ToArray()
	if err != nil {
		return waitline.PreQueuePlan{}, lineErr(err, "freeze pre-queue", dropID)
	}
	plan, err := parsePlan(arr)
	if err != nil {
		return waitline.PreQueuePlan{}, fmt.Errorf("redis freeze pre-queue %s: %w", dropID, err)
	}
	return plan, nil
}

func parsePlan(arr []rueidis.RedisMessage) (waitline.PreQueuePlan, error) {
	if len(arr) != 4 {
		return waitline.PreQueuePlan{}, fmt.Errorf("reply of %d elements", len(arr))
	}
	placed, err := arr[0].AsInt64()
	if err != nil {
		return waitline.PreQueuePlan{}, err
	}
	hexKey, err := arr[1].ToString()
	if err != nil {
		return waitline.PreQueuePlan{}, err
	}
	key, err := hex.DecodeString(hexKey)
	if err != nil {
		return waitline.PreQueuePlan{}, fmt.Errorf("stored key: %w", err)
	}
	base, err := arr[2].AsInt64()
	if err != nil {
		return waitline.PreQueuePlan{}, err
	}
	slots, err := arr[3].AsInt64()
	if err != nil {
		return waitline.PreQueuePlan{}, err
	}
	return waitline.PreQueuePlan{Frozen: true, Placed: placed == 1, Key: key, Base: base, Slots: slots}, nil
}

// PreQueueMembers returns up to n unplaced members of dropID's pre-queue
// with a slot above after, in slot order.
func (l *Line) PreQueueMembers(ctx context.Context, dropID string, after int64, n int) ([]waitline.PreQueueMember, error) {
	if n <= 0 {
		return nil, nil
	}
	cmd := l.client.B().Zrange().Key(waitlineKeys(dropID).preQueue).
		Min("("+strconv.FormatInt(after, 10)).Max("+inf").Byscore().Limit(0, int64(n)).Withscores().Build()
	zs, err := l.client.Do(ctx, cmd).AsZScores()
	if err != nil {
		return nil, lineErr(err, "pre-queue members", dropID)
	}
	out := make([]waitline.PreQueueMember, len(zs))
	for i, z := range zs {
		out[i] = waitline.PreQueueMember{UserID: z.Member, Slot: int64(z.Score)}
	}
	return out, nil
}

// errBadPlacement: a placement or hole outside the reserved sequences, or on
// one someone already holds; a bug in the caller, never retried.
var errBadPlacement = errors.New("sequence not reserved for the pre-queue or already taken")

// Place moves the members still in dropID's pre-queue to their sequences in
// one script, all or none: a replay after a crash skips those placed before.
func (l *Line) Place(ctx context.Context, dropID string, ps []waitline.Placement) error {
	if len(ps) == 0 {
		return nil
	}
	args := make([]string, 0, 2*len(ps))
	for _, p := range ps {
		args = append(args, p.UserID, strconv.FormatInt(p.Seq, 10))
	}
	k := waitlineKeys(dropID)
	arr, err := placeScript.Exec(ctx, l.client, []string{k.preQueue, k.queue, k.line}, args).ToArray()
	if err != nil {
		return lineErr(err, "place", dropID)
	}
	if code, err := replyCode(arr); err != nil || code != 1 {
		if err == nil && len(arr) == 3 {
			user, _ := arr[1].ToString()
			seq, _ := arr[2].ToString()
			err = fmt.Errorf("%s at %s: %w", user, seq, errBadPlacement)
		} else if err == nil {
			err = fmt.Errorf("unexpected reply code %d", code)
		}
		return fmt.Errorf("redis place %s: %w", dropID, err)
	}
	return nil
}

// PreQueueLeft returns the arrival slots of buyers who left dropID's
// pre-queue unplaced, in slot order.
func (l *Line) PreQueueLeft(ctx context.Context, dropID string) ([]int64, error) {
	ss, err := l.client.Do(ctx, l.client.B().Zrange().Key(waitlineKeys(dropID).preQueueLeft).Min("0").Max("-1").Build()).AsStrSlice()
	if err != nil {
		return nil, lineErr(err, "pre-queue left", dropID)
	}
	if len(ss) == 0 {
		return nil, nil
	}
	out := make([]int64, len(ss))
	for i, s := range ss {
		if out[i], err = strconv.ParseInt(s, 10, 64); err != nil {
			return nil, fmt.Errorf("redis pre-queue left %s: slot %q: %w", dropID, s, err)
		}
	}
	return out, nil
}

// FinishPreQueue records holes (the reserved sequences that stay empty) as
// gaps and marks dropID's line ready; ErrPreQueueBusy while members are
// unplaced or holes is stale.
func (l *Line) FinishPreQueue(ctx context.Context, dropID string, holes []int64) error {
	args := make([]string, len(holes))
	for i, h := range holes {
		args[i] = strconv.FormatInt(h, 10)
	}
	k := waitlineKeys(dropID)
	arr, err := finishScript.Exec(ctx, l.client, []string{k.line, k.preQueue, k.preQueueLeft, k.gone, k.queue}, args).ToArray()
	if err != nil {
		return lineErr(err, "finish pre-queue", dropID)
	}
	code, err := replyCode(arr)
	switch {
	case err != nil:
		return fmt.Errorf("redis finish pre-queue %s: %w", dropID, err)
	case code == 1:
		return nil
	case code == 0:
		return fmt.Errorf("redis finish pre-queue %s: %w", dropID, waitline.ErrPreQueueBusy)
	case code == -1 && len(arr) == 2:
		hole, _ := arr[1].ToString()
		return fmt.Errorf("redis finish pre-queue %s: hole %s: %w", dropID, hole, errBadPlacement)
	}
	return fmt.Errorf("redis finish pre-queue %s: unexpected reply code %d", dropID, code)
}
