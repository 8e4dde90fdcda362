ALTER TABLE drops
  DROP COLUMN max_active,
  DROP COLUMN shuffle_at_open,
  DROP COLUMN queue_opens_at
