-- Requests made with an Idempotency-Key header (bulk invitations): the key is taken in the
-- transaction that does the work, and the answer kept with it, so a retried request gets
-- the first answer and creates nothing twice. Kept a day.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_digest TEXT NOT NULL,
    response JSONB,
    created TIMESTAMPTZ NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, idempotency_key)
);
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires);
