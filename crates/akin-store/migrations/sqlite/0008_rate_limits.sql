-- Uses of rate-limited actions (an email stage's links to one address), shared by every
-- node. The subject (an address) is kept only as its SHA-256; rows go once they expire.
CREATE TABLE rate_limit_hits (
    hit_uuid TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    subject_digest TEXT NOT NULL,
    at TEXT NOT NULL,
    expires TEXT NOT NULL
);
CREATE INDEX rate_limit_hits_subject_idx ON rate_limit_hits (bucket, subject_digest, at);
CREATE INDEX rate_limit_hits_expires_idx ON rate_limit_hits (expires);
