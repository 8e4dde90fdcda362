package redis

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/fastdeal/fastdeal/domain/issuance"
)

// sep joins the fields of holder records and decisions, as SEP does in lib.lua.
const sep = '\x1f'

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// record is a holder record as the scripts store it (see lib.lua).
type record struct {
	iss issuance.Issuance
	seq int64
}

// encodeRecord builds a holder record for restore.lua, which stamps the
// sequence itself; durable issuances carry no idempotency key.
func encodeRecord(iss issuance.Issuance) string {
	return strings.Join([]string{
		iss.ID, iss.UserID, iss.Seat, strconv.Itoa(iss.N), iss.Code, formatTime(iss.IssuedAt), "", "0",
	}, string(sep))
}

func decodeRecord(dropID, rec string) (record, error) {
	f := strings.Split(rec, string(sep))
	if len(f) != 8 {
		return record{}, fmt.Errorf("redis: malformed holder record %q", rec)
	}
	n, err := strconv.Atoi(f[3])
	if err != nil {
		return record{}, fmt.Errorf("redis: holder record %q: n: %w", rec, err)
	}
	at, err := parseTime(f[5])
	if err != nil {
		return record{}, fmt.Errorf("redis: holder record %q: issued_at: %w", rec, err)
	}
	seq, err := strconv.ParseInt(f[7], 10, 64)
	if err != nil {
		return record{}, fmt.Errorf("redis: holder record %q: seq: %w", rec, err)
	}
	return record{iss: issuance.Issuance{
		ID: f[0], DropID: dropID, UserID: f[1], Seat: f[2], N: n, Code: f[4], IssuedAt: at,
	}, seq: seq}, nil
}
