// Package redis holds the Redis adapters of fastdeal, built on rueidis: the
// Inventory that enforces "no oversell" in one Lua script per operation, the
// WaitingLine of queued drops, the Lease that elects one dispatcher per drop,
// and LockedInventory, the "redislock" strategy that serialises another
// Inventory behind a Redis lock.
//
// # Key layout
//
// Every key of one drop carries the hash tag {drop:ID}, so a script touching
// several of them runs on one Redis Cluster slot:
//
//	{drop:ID}:inv   hash   kind (g|s), stock, seq (claim counter); its
//	                       existence means "loaded"
//	{drop:ID}:hold  hash   issuance id -> holder record (id, user, seat, n,
//	                       code, issued_at, key, seq separated by \x1f);
//	                       the reconciler persists these to MySQL
//	{drop:ID}:user  hash   user id -> comma-separated ids of the units held
//	{drop:ID}:seat  hash   seat label -> issuance id of its holder, "" when
//	                       free (seated drops; an absent label is unknown)
//	{drop:ID}:idem  hash   user id \x1f idempotency key -> issuance id
//	{drop:ID}:q     zset   waiting buyers scored by arrival sequence
//	{drop:ID}:ln    hash   seq (arrival counter), admitted, closed
//	{drop:ID}:dec   hash   user id -> decision (status, issuance id, pass)
//	{drop:ID}:pass  zset   users holding a pass, scored by expiry (unix µs)
//	{drop:ID}:lock  string LockedInventory's lock (":lock:SEAT" per seat)
//	lease:NAME      string Lease holder, with the lease's TTL
//
// Units left and per-buyer counts are not stored as counters: they are
// derived from the length of the hold hash and the buyer lists, so no crash
// or partial restore can leave a counter out of step.
//
// A waiting buyer costs one member of {drop:ID}:q and nothing else, about
// 120 bytes with 24-character user ids (104 with 8-character ones), the same
// as a bare sorted-set member.
package redis
