package redis

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/fastdeal/fastdeal/domain/lease"
)

var _ lease.Lease = (*Lease)(nil)

// ErrLeaseUnavailable wraps the errors of Lease when Redis cannot be reached;
// the lease port has no sentinel of its own.
var ErrLeaseUnavailable = errors.New("lease store unavailable")

// Lease grants leases as Redis keys that expire by themselves, so a holder
// that dies loses its lease after ttl without anyone cleaning up.
type Lease struct {
	client rueidis.Client
}

// NewLease returns a Lease on client.
func NewLease(client rueidis.Client) *Lease {
	return &Lease{client: client}
}

// Acquire takes name for holder (SET NX PX) or, if holder already has it,
// extends it to ttl from now, in one script. ttl is rounded down to whole
// milliseconds and must be at least one.
func (l *Lease) Acquire(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if ttl < time.Millisecond {
		return false, fmt.Errorf("redis lease %s: ttl %v below 1ms", name, ttl)
	}
	n, err := acquireScript.Exec(ctx, l.client, []string{leaseKey(name)},
		[]string{holder, strconv.FormatInt(ttl.Milliseconds(), 10)}).AsInt64()
	if err != nil {
		return false, classify(err, ErrLeaseUnavailable, "lease acquire "+name)
	}
	return n == 1, nil
}

// Release deletes name if holder has it; otherwise it does nothing.
func (l *Lease) Release(ctx context.Context, name, holder string) error {
	err := unlockScript.Exec(ctx, l.client, []string{leaseKey(name)}, []string{holder}).Error()
	return classify(err, ErrLeaseUnavailable, "lease release "+name)
}

// Holder returns who holds name now, or "".
func (l *Lease) Holder(ctx context.Context, name string) (string, error) {
	h, err := l.client.Do(ctx, l.client.B().Get().Key(leaseKey(name)).Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return "", nil
	}
	if err != nil {
		return "", classify(err, ErrLeaseUnavailable, "lease holder "+name)
	}
	return h, nil
}
