-- State of the `mysql` inventory strategy. A claim locks, in this order, the
-- buyer's inventory_users row, then the seat's inventory_seats row or the
-- drop's inventory_stock row; Release takes the same order, so claims never
-- deadlock each other.
CREATE TABLE IF NOT EXISTS inventory_stock (
  drop_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  kind      VARCHAR(16) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  stock     INT         NOT NULL,
  remaining INT         NOT NULL,
  PRIMARY KEY (drop_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin
--bun:split
CREATE TABLE IF NOT EXISTS inventory_seats (
  drop_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  label     VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  holder_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
  PRIMARY KEY (drop_id, label)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin
--bun:split
CREATE TABLE IF NOT EXISTS inventory_users (
  drop_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  held    INT         NOT NULL,
  PRIMARY KEY (drop_id, user_id)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin
--bun:split
-- One row per unit held, with the whole issuance so the reconciler can read
-- holders back. key_hash is SHA-256 of the buyer's idempotency key: any
-- length fits, comparison is exact, and NULL (no key) escapes the UNIQUE key.
CREATE TABLE IF NOT EXISTS inventory_holds (
  issuance_id VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  drop_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seat        VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  n           INT         NOT NULL,
  code        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  issued_at   DATETIME(6) NOT NULL,
  key_hash    BINARY(32)  NULL,
  PRIMARY KEY (issuance_id),
  UNIQUE KEY inventory_holds_drop_user_n (drop_id, user_id, n),
  UNIQUE KEY inventory_holds_drop_seat (drop_id, seat),
  UNIQUE KEY inventory_holds_drop_user_key (drop_id, user_id, key_hash),
  KEY inventory_holds_drop_issued (drop_id, issued_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin
