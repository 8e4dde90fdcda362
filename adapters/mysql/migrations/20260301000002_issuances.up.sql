-- seat is NULL for general drops: a UNIQUE key ignores NULLs, so
-- issuances_drop_seat only constrains seated drops.
CREATE TABLE IF NOT EXISTS issuances (
  id        VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  drop_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  user_id   VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  seat      VARCHAR(32) CHARACTER SET ascii COLLATE ascii_bin NULL,
  n         INT         NOT NULL,
  code      VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  issued_at DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY issuances_drop_user_n (drop_id, user_id, n),
  UNIQUE KEY issuances_drop_seat (drop_id, seat),
  KEY issuances_user_issued (user_id, issued_at),
  KEY issuances_drop_issued (drop_id, issued_at)
) ENGINE=InnoDB DEFAULT CHARSET=ascii COLLATE=ascii_bin
