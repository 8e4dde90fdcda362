package invariants

import "go.uber.org/goleak"

// leakOptions ignores the long-lived goroutines of database and Redis client
// pools, which live for the whole test binary by design.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"),
		goleak.IgnoreAnyFunction("github.com/redis/rueidis.(*pipe)._background"),
	}
}
