-- Each write of a session raises its version (the database's order of writes): a node
-- keeps the session it just wrote in memory, and a copy is only ever replaced by a later
-- write, however the writes' answers interleave.
ALTER TABLE akin_sessions ADD COLUMN version BIGINT NOT NULL DEFAULT 1;
