ALTER TABLE issuances
  ADD UNIQUE KEY issuances_drop_user_n (drop_id, user_id, n),
  ADD KEY issuances_user_issued (user_id, issued_at),
  ADD KEY issuances_drop_issued (drop_id, issued_at),
  DROP INDEX issuances_user_drop_n
