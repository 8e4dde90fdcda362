package redis

import (
	"errors"
	"fmt"
	"strings"

	"github.com/redis/rueidis"
)

// errSeparator: a value would corrupt the \x1f-separated records.
var errSeparator = errors.New("value contains the reserved byte 0x1f")

// unavailablePrefixes are Redis error replies that mean "try again later"
// rather than "this request is wrong": a loading or busy server, a replica
// left read-only by a Sentinel failover, a cluster in flux.
var unavailablePrefixes = []string{
	"LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS", "OOM",
}

// classify wraps err with unavailable when it means the store could not be
// reached (network, closed client, cancelled context, a server not ready);
// other Redis error replies are bugs in a script or in the data and are
// returned with context only.
func classify(err error, unavailable error, op string) error {
	if err == nil {
		return nil
	}
	if re, ok := rueidis.IsRedisErr(err); ok {
		msg := re.Error()
		for _, p := range unavailablePrefixes {
			if strings.HasPrefix(msg, p) {
				return fmt.Errorf("redis %s: %w: %w", op, unavailable, err)
			}
		}
		return fmt.Errorf("redis %s: %w", op, err)
	}
	return fmt.Errorf("redis %s: %w: %w", op, unavailable, err)
}

func checkNoSeparator(values ...string) error {
	for _, v := range values {
		if strings.IndexByte(v, sep) >= 0 {
			return fmt.Errorf("redis: %q: %w", v, errSeparator)
		}
	}
	return nil
}
