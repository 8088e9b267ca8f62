-- The email stage whose own SMTP settings deliver a message (NULL: the global settings),
-- read again at each attempt, so a corrected setting applies to what is still queued.
ALTER TABLE outbox ADD COLUMN transport_stage TEXT;
