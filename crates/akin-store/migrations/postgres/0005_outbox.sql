-- The outbox: every message akin sends, written in the transaction that caused it and
-- delivered by a worker (see akin-domain's `email`).
CREATE TABLE outbox (
    message_uuid UUID PRIMARY KEY,
    created TIMESTAMPTZ NOT NULL,
    message_id TEXT NOT NULL,
    subject TEXT NOT NULL,
    sender TEXT NOT NULL,
    to_addresses JSONB NOT NULL DEFAULT '[]',
    cc_addresses JSONB NOT NULL DEFAULT '[]',
    recipients JSONB NOT NULL DEFAULT '[]',
    raw TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    attempts BIGINT NOT NULL DEFAULT 0,
    next_attempt TIMESTAMPTZ NOT NULL,
    claimed_until TIMESTAMPTZ,
    last_response TEXT NOT NULL DEFAULT '',
    sent TIMESTAMPTZ,
    related JSONB NOT NULL DEFAULT '{}'
);
-- What a worker looks for: the next message due.
CREATE INDEX outbox_due_idx ON outbox (status, next_attempt);
CREATE INDEX outbox_created_idx ON outbox (created);
