-- Sign-in reputation per identifier and client address (authentik's Reputation): failed
-- sign-ins lower the score, successful ones raise it; reputation policies sum it. A row
-- lives a day from its first change (then the sweep removes it, or the next change starts
-- it over).
CREATE TABLE reputations (
    reputation_uuid UUID PRIMARY KEY,
    identifier TEXT NOT NULL,
    ip TEXT NOT NULL,
    score BIGINT NOT NULL,
    expires TIMESTAMPTZ NOT NULL,
    updated TIMESTAMPTZ NOT NULL,
    UNIQUE (identifier, ip)
);
CREATE INDEX reputations_ip_idx ON reputations (ip);
CREATE INDEX reputations_expires_idx ON reputations (expires);
