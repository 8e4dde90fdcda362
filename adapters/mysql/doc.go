// Package mysql stores drops, issuances and (for the `mysql` inventory
// strategy) the units of a drop in MySQL/MariaDB through bun.
//
// Row structs here are the only types with bun tags; they are rebuilt into
// domain values through drop.New, so a row that no longer validates is an
// error rather than a silently broken aggregate. Driver errors are translated
// at this boundary: duplicate keys become the domain's ErrExists/ErrDuplicate,
// missing rows ErrNotFound, and anything that means "the server could not be
// reached" the port's ErrUnavailable.
//
// Times are stored as DATETIME(6) in UTC, so they come back truncated to the
// microsecond.
package mysql
