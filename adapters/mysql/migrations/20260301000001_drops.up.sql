-- Seats are a JSON array on the drop row: the list is fixed at creation and
-- always read whole (drop.New needs every label), so one row read serves Get.
-- Per-seat rows exist only where a seat must be locked: inventory_seats.
-- Identifiers are ascii_bin because ids are case-sensitive ("a" != "A").
CREATE TABLE IF NOT EXISTS drops (
  id             VARCHAR(64)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  name           VARCHAR(200) NOT NULL,
  kind           VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  region         VARCHAR(100) NOT NULL DEFAULT '',
  venue          VARCHAR(100) NOT NULL DEFAULT '',
  stock          INT          NOT NULL,
  seats          MEDIUMTEXT   CHARACTER SET ascii COLLATE ascii_bin NULL,
  opens_at       DATETIME(6)  NULL,
  closes_at      DATETIME(6)  NULL,
  per_user_limit INT          NOT NULL,
  admission      VARCHAR(16)  CHARACTER SET ascii COLLATE ascii_bin NOT NULL,
  admit_rate     INT          NOT NULL,
  pass_ttl_ms    BIGINT       NOT NULL,
  paused         TINYINT(1)   NOT NULL DEFAULT 0,
  issued_count   BIGINT       NOT NULL DEFAULT 0,
  created_at     DATETIME(6)  NOT NULL,
  PRIMARY KEY (id),
  KEY drops_region_created (region, created_at),
  KEY drops_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin
