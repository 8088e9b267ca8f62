-- Groups an invitation's account joins, and whose email it must have ('' anyone's,
-- 'jane@example.com', or '@example.com').
ALTER TABLE invitations ADD COLUMN groups TEXT NOT NULL DEFAULT '[]';
ALTER TABLE invitations ADD COLUMN allowed_email TEXT NOT NULL DEFAULT '';
-- Each account written with an invitation, recorded by the claim that wrote it. The
-- username is kept as it was, so the list still says who once the account is deleted.
CREATE TABLE invitation_uses (
    invite_uuid TEXT NOT NULL REFERENCES invitations (invite_uuid) ON DELETE CASCADE,
    user_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    username TEXT NOT NULL,
    used TEXT NOT NULL,
    client_ip TEXT
);
CREATE INDEX invitation_uses_invite_idx ON invitation_uses (invite_uuid, used);
