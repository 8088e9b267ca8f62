-- authentik's FlowToken: a flow plan parked behind a one-time key (an email stage's link),
-- continued by whichever browser opens the link. Found by the key's SHA-256, never the key.
CREATE TABLE flow_tokens (
    key_digest TEXT PRIMARY KEY,
    flow_slug TEXT NOT NULL,
    plan TEXT NOT NULL,
    user_id INTEGER REFERENCES users (id) ON DELETE CASCADE,
    expires TEXT NOT NULL
);
CREATE INDEX flow_tokens_expires_idx ON flow_tokens (expires);
