-- The outbox: every message akin sends, written in the transaction that caused it and
-- delivered by a worker (see akin-domain's `email`).
CREATE TABLE outbox (
    message_uuid TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    sender TEXT NOT NULL,
    to_addresses TEXT NOT NULL DEFAULT '[]',
    cc_addresses TEXT NOT NULL DEFAULT '[]',
    recipients TEXT NOT NULL DEFAULT '[]',
    raw TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT NOT NULL,
    claimed_until TEXT,
    last_response TEXT NOT NULL DEFAULT '',
    sent TEXT,
    related TEXT NOT NULL DEFAULT '{}'
);
-- What a worker looks for: the next message due.
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt);
CREATE INDEX outbox_created_idx ON outbox (created);
