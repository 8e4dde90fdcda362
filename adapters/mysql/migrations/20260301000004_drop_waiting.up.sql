-- Waiting at scale: a pre-queue before opens_at and a cap on active passes.
-- One ALTER, so a failure leaves the table as it was and the migration
-- pending. The defaults give existing drops what they had: no pre-queue
-- (NULL), shuffled if one is ever set (docs/openapi.yaml's default), no cap (0).
ALTER TABLE drops
  ADD COLUMN queue_opens_at  DATETIME(6) NULL AFTER closes_at,
  ADD COLUMN shuffle_at_open BOOL        NOT NULL DEFAULT TRUE AFTER queue_opens_at,
  ADD COLUMN max_active      INT         NOT NULL DEFAULT 0 AFTER pass_ttl_ms
