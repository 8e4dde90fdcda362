package invariants

import "go.uber.org/goleak"

// leakOptions ignores the MySQL driver's per-connection watcher, which
// lingers briefly after its pool closes.
func leakOptions() []goleak.Option {
	return []goleak.Option{
		goleak.IgnoreAnyFunction("github.com/go-sql-driver/mysql.(*mysqlConn).startWatcher.func1"),
	}
}
