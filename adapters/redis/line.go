package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/waitline"
)

var _ waitline.WaitingLine = (*Line)(nil)

// Line is the Redis WaitingLine. A waiting buyer costs one sorted-set member
// and nothing else; only decided buyers get a field in the decisions hash.
// Join and Standing are one script each, so one round trip.
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
	k := waitlineKeys(dropID)
	arr, err := joinScript.Exec(ctx, l.client, []string{k.queue, k.line, k.decisions}, []string{userID}).ToArray()
	if err != nil {
		return waitline.Standing{}, false, lineErr(err, "join", dropID)
	}
	st, created, err := parseStanding(userID, arr)
	if err != nil {
		return waitline.Standing{}, false, fmt.Errorf("redis join %s: %w", dropID, err)
	}
	return st, created, nil
}

// Standing returns userID's place or decision; waiting buyers of a closed
// line stand SoldOut. Returns ErrNotInLine.
func (l *Line) Standing(ctx context.Context, dropID, userID string) (waitline.Standing, error) {
	k := waitlineKeys(dropID)
	arr, err := standingScript.Exec(ctx, l.client, []string{k.queue, k.line, k.decisions}, []string{userID}).ToArray()
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
		pos, err := arr[1].AsInt64()
		if err != nil {
			return waitline.Standing{}, false, err
		}
		created := false
		if len(arr) > 2 {
			c, err := arr[2].AsInt64()
			if err != nil {
				return waitline.Standing{}, false, err
			}
			created = c == 1
		}
		return waitline.Standing{Status: waitline.Waiting, Position: pos}, created, nil
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
	}
	return waitline.Standing{}, false, fmt.Errorf("unexpected reply code %d", code)
}

func encodeDecision(d waitline.Decision) string {
	return strings.Join([]string{string(d.Status), d.IssuanceID, d.Pass.Token, formatTime(d.Pass.ExpiresAt)}, string(sep))
}

func decodeDecision(userID, enc string) (waitline.Decision, error) {
	f := strings.Split(enc, string(sep))
	if len(f) != 4 {
		return waitline.Decision{}, fmt.Errorf("malformed decision %q", enc)
	}
	exp, err := parseTime(f[3])
	if err != nil {
		return waitline.Decision{}, fmt.Errorf("decision %q: expires_at: %w", enc, err)
	}
	return waitline.Decision{
		UserID: userID, Status: waitline.Status(f[0]), IssuanceID: f[1],
		Pass: waitline.Pass{Token: f[2], ExpiresAt: exp},
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
		if d.Status == waitline.Admitted {
			exp = passScore(d.Pass.ExpiresAt)
		}
		args = append(args, d.UserID, encodeDecision(d), exp)
	}
	k := waitlineKeys(dropID)
	err := decideScript.Exec(ctx, l.client, []string{k.queue, k.decisions, k.passes, k.line}, args).Error()
	return lineErr(err, "decide", dropID)
}

// Leave removes a waiting buyer. Returns ErrNotInLine if userID is not waiting.
func (l *Line) Leave(ctx context.Context, dropID, userID string) error {
	n, err := l.client.Do(ctx, l.client.B().Zrem().Key(waitlineKeys(dropID).queue).Member(userID).Build()).AsInt64()
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
