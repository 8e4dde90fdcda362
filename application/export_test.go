package application

import "time"

// SetDropCacheClock lets a test in package application_test drive the
// cache's clock, so staleness is decided by the test and not by how long
// the machine takes to run it.
func SetDropCacheClock(c *DropCache, now func() time.Time) { c.now = now }
