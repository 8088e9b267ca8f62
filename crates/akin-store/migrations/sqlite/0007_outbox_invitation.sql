-- Which invitation a message carries, so an invitation's list entry can say where it was
-- sent without reading every message.
ALTER TABLE outbox ADD COLUMN invitation_uuid TEXT;
CREATE INDEX outbox_invitation_idx ON outbox (invitation_uuid);
