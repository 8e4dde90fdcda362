-- Fewer indexes written per issuance: each one cost MariaDB about 1.5-2 us a
-- claim (docs/benchmarks.md, "Fifth round"). The unique keys that back the
-- invariants stay: (user, drop, n) is the per-user limit's backstop in a new
-- column order, so that a buyer's own list (user_id = ?) reads its prefix,
-- and (drop, seat) keeps a seat to one buyer and serves a drop's list and
-- count (drop_id = ?) by its prefix. The lists' ORDER BY issued_at sorts
-- what the prefix found: a buyer holds a few issuances, and a drop's list
-- is read whole (audits, reconcile) in any case. One ALTER, so a failure
-- leaves the table as it was and the migration pending.
ALTER TABLE issuances
  ADD UNIQUE KEY issuances_user_drop_n (user_id, drop_id, n),
  DROP INDEX issuances_drop_user_n,
  DROP INDEX issuances_user_issued,
  DROP INDEX issuances_drop_issued
