-- Tallies of invitations kept as they change, so the figures read on every list page and
-- every admin page (the number of active invitations, the funnel over all of them or over
-- a flow's) sum a few rows instead of reading every invitation: at a million invitations
-- an exact COUNT(*) took hundreds of milliseconds.
--
-- One row per flow and expiry hour: "active" is "open" (not revoked, replaced or used up)
-- and not expired, and whether an invitation has expired changes with the clock, not with
-- a write. Every hour after the current one is wholly active; the current hour is counted
-- exactly from the expiry index; earlier hours are wholly expired.

-- Messages sent with an invitation, counted as the outbox gains them (rows are never
-- deleted from the outbox), so the funnel's "sent" is a sum like the others.
ALTER TABLE invitations ADD COLUMN sent BIGINT NOT NULL DEFAULT 0;
UPDATE invitations
    SET sent = (SELECT COUNT(*) FROM outbox WHERE outbox.invitation_uuid = invitations.invite_uuid)
    WHERE invite_uuid IN (SELECT invitation_uuid FROM outbox);
CREATE TRIGGER outbox_counts_sent AFTER INSERT ON outbox WHEN new.invitation_uuid IS NOT NULL
BEGIN
    UPDATE invitations SET sent = sent + 1 WHERE invite_uuid = new.invitation_uuid;
END;

CREATE TABLE invitation_tallies (
    -- The invitation's flow; the nil UUID for none (a key cannot be NULL).
    flow_uuid TEXT NOT NULL,
    -- The UTC hour the invitations expire in, as 'YYYY-MM-DDTHH' (the first 13 characters
    -- of a stored time, so it sorts as time does); '' for never.
    expiry_hour TEXT NOT NULL,
    invitations BIGINT NOT NULL DEFAULT 0,
    -- Neither revoked, replaced nor used up.
    open BIGINT NOT NULL DEFAULT 0,
    opened BIGINT NOT NULL DEFAULT 0,
    started BIGINT NOT NULL DEFAULT 0,
    uses BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (flow_uuid, expiry_hour)
);
INSERT INTO invitation_tallies
    SELECT COALESCE(flow_uuid, '00000000-0000-0000-0000-000000000000'),
           COALESCE(substr(expires, 1, 13), ''),
           COUNT(*),
           SUM(revoked IS NULL AND replaced_by IS NULL AND (max_uses IS NULL OR uses < max_uses)),
           SUM(opened), SUM(started), SUM(uses), SUM(sent)
    FROM invitations
    GROUP BY 1, 2;

CREATE TRIGGER invitation_tallies_insert AFTER INSERT ON invitations BEGIN
    INSERT INTO invitation_tallies
        VALUES (COALESCE(new.flow_uuid, '00000000-0000-0000-0000-000000000000'),
                COALESCE(substr(new.expires, 1, 13), ''),
                1,
                new.revoked IS NULL AND new.replaced_by IS NULL
                    AND (new.max_uses IS NULL OR new.uses < new.max_uses),
                new.opened, new.started, new.uses, new.sent)
        ON CONFLICT (flow_uuid, expiry_hour) DO UPDATE SET
            invitations = invitations + excluded.invitations,
            open = open + excluded.open,
            opened = opened + excluded.opened,
            started = started + excluded.started,
            uses = uses + excluded.uses,
            sent = sent + excluded.sent;
END;

CREATE TRIGGER invitation_tallies_delete AFTER DELETE ON invitations BEGIN
    UPDATE invitation_tallies SET
            invitations = invitations - 1,
            open = open - (old.revoked IS NULL AND old.replaced_by IS NULL
                AND (old.max_uses IS NULL OR old.uses < old.max_uses)),
            opened = opened - old.opened,
            started = started - old.started,
            uses = uses - old.uses,
            sent = sent - old.sent
        WHERE flow_uuid = COALESCE(old.flow_uuid, '00000000-0000-0000-0000-000000000000')
          AND expiry_hour = COALESCE(substr(old.expires, 1, 13), '');
END;

-- An update moves the invitation's part from its old row to its new one (the same row
-- when neither flow nor expiry changed). A flow's deletion sets `flow_uuid` to NULL
-- through the foreign key, which is an update too.
CREATE TRIGGER invitation_tallies_update
    AFTER UPDATE OF flow_uuid, expires, revoked, replaced_by, uses, max_uses, opened, started, sent
    ON invitations
BEGIN
    UPDATE invitation_tallies SET
            invitations = invitations - 1,
            open = open - (old.revoked IS NULL AND old.replaced_by IS NULL
                AND (old.max_uses IS NULL OR old.uses < old.max_uses)),
            opened = opened - old.opened,
            started = started - old.started,
            uses = uses - old.uses,
            sent = sent - old.sent
        WHERE flow_uuid = COALESCE(old.flow_uuid, '00000000-0000-0000-0000-000000000000')
          AND expiry_hour = COALESCE(substr(old.expires, 1, 13), '');
    INSERT INTO invitation_tallies
        VALUES (COALESCE(new.flow_uuid, '00000000-0000-0000-0000-000000000000'),
                COALESCE(substr(new.expires, 1, 13), ''),
                1,
                new.revoked IS NULL AND new.replaced_by IS NULL
                    AND (new.max_uses IS NULL OR new.uses < new.max_uses),
                new.opened, new.started, new.uses, new.sent)
        ON CONFLICT (flow_uuid, expiry_hour) DO UPDATE SET
            invitations = invitations + excluded.invitations,
            open = open + excluded.open,
            opened = opened + excluded.opened,
            started = started + excluded.started,
            uses = uses + excluded.uses,
            sent = sent + excluded.sent;
END;

-- What readers sum. On PostgreSQL it adds the deltas not yet folded in; SQLite updates
-- the tallies in place (one writer at a time, and a row updated in place).
CREATE VIEW invitation_tallies_now AS SELECT * FROM invitation_tallies;

-- The list's default order with what an invitation's status is computed from, so a page
-- far down (OFFSET) skips the invitations before it in the index without reading them.
DROP INDEX invitations_list_order_idx;
CREATE INDEX invitations_list_order_idx
    ON invitations ((expires IS NULL) DESC, expires DESC, created DESC, invite_uuid ASC,
                    revoked, replaced_by, max_uses, uses);
