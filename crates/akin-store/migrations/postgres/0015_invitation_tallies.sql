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
    SET sent = counted.n
    FROM (SELECT invitation_uuid, COUNT(*) AS n FROM outbox
          WHERE invitation_uuid IS NOT NULL GROUP BY invitation_uuid) AS counted
    WHERE invitations.invite_uuid = counted.invitation_uuid;
CREATE FUNCTION outbox_counts_sent() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE invitations SET sent = sent + 1 WHERE invite_uuid = NEW.invitation_uuid;
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_counts_sent AFTER INSERT ON outbox
    FOR EACH ROW WHEN (NEW.invitation_uuid IS NOT NULL) EXECUTE FUNCTION outbox_counts_sent();

CREATE TABLE invitation_tallies (
    -- The invitation's flow; the nil UUID for none (a key cannot be NULL).
    flow_uuid UUID NOT NULL,
    -- The UTC hour the invitations expire in, as 'YYYY-MM-DDTHH' (so it sorts as time
    -- does); '' for never.
    expiry_hour TEXT COLLATE "C" NOT NULL,
    invitations BIGINT NOT NULL DEFAULT 0,
    -- Neither revoked, replaced nor used up.
    open BIGINT NOT NULL DEFAULT 0,
    opened BIGINT NOT NULL DEFAULT 0,
    started BIGINT NOT NULL DEFAULT 0,
    uses BIGINT NOT NULL DEFAULT 0,
    sent BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (flow_uuid, expiry_hour)
);

CREATE FUNCTION invitation_tally_key(inv invitations) RETURNS TABLE (flow_uuid UUID, expiry_hour TEXT)
    LANGUAGE sql STABLE AS $$
    SELECT COALESCE(inv.flow_uuid, '00000000-0000-0000-0000-000000000000'::uuid),
           COALESCE(to_char(inv.expires AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24'), '')
$$;

CREATE FUNCTION invitation_is_open(inv invitations) RETURNS BIGINT LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN inv.revoked IS NULL AND inv.replaced_by IS NULL
                 AND (inv.max_uses IS NULL OR inv.uses < inv.max_uses) THEN 1 ELSE 0 END
$$;

-- Changes are appended to `invitation_tally_deltas` rather than applied to the tallies:
-- updating one row many times in one transaction (a bulk import) costs quadratic time in
-- PostgreSQL (each update walks the row's earlier versions), and concurrent transactions
-- would queue on the row. Readers sum both tables (`invitation_tallies_now`); every node
-- folds the deltas into the tallies every few seconds (`fold_invitation_tallies`).
CREATE TABLE invitation_tally_deltas (
    flow_uuid UUID NOT NULL,
    expiry_hour TEXT COLLATE "C" NOT NULL,
    invitations BIGINT NOT NULL,
    open BIGINT NOT NULL,
    opened BIGINT NOT NULL,
    started BIGINT NOT NULL,
    uses BIGINT NOT NULL,
    sent BIGINT NOT NULL
);

CREATE VIEW invitation_tallies_now AS
    SELECT flow_uuid, expiry_hour, invitations, open, opened, started, uses, sent
        FROM invitation_tallies
    UNION ALL
    SELECT flow_uuid, expiry_hour, invitations, open, opened, started, uses, sent
        FROM invitation_tally_deltas;

-- Adds `sign` times the invitation's part.
CREATE FUNCTION invitation_tally_add(inv invitations, sign BIGINT) RETURNS void LANGUAGE sql AS $$
    INSERT INTO invitation_tally_deltas
        SELECT k.flow_uuid, k.expiry_hour, sign, sign * invitation_is_open(inv),
               sign * inv.opened, sign * inv.started, sign * inv.uses, sign * inv.sent
        FROM invitation_tally_key(inv) AS k
$$;

-- Moves the deltas into the tallies. Concurrent calls each move a delta at most once: a
-- row another call deleted first is skipped.
CREATE FUNCTION fold_invitation_tallies() RETURNS void LANGUAGE sql AS $$
    WITH moved AS (DELETE FROM invitation_tally_deltas RETURNING *)
    INSERT INTO invitation_tallies AS t
        SELECT flow_uuid, expiry_hour, SUM(invitations), SUM(open), SUM(opened),
               SUM(started), SUM(uses), SUM(sent)
        FROM moved GROUP BY flow_uuid, expiry_hour
    ON CONFLICT (flow_uuid, expiry_hour) DO UPDATE SET
        invitations = t.invitations + excluded.invitations,
        open = t.open + excluded.open,
        opened = t.opened + excluded.opened,
        started = t.started + excluded.started,
        uses = t.uses + excluded.uses,
        sent = t.sent + excluded.sent
$$;

-- An update takes the invitation's old part away and adds its new one. A flow's deletion
-- sets `flow_uuid` to NULL through the foreign key, which is an update too.
CREATE FUNCTION invitation_tallies_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        PERFORM invitation_tally_add(OLD, -1);
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') THEN
        PERFORM invitation_tally_add(NEW, 1);
    END IF;
    RETURN NULL;
END $$;

INSERT INTO invitation_tallies
    SELECT k.flow_uuid, k.expiry_hour, COUNT(*), SUM(invitation_is_open(i)),
           SUM(i.opened), SUM(i.started), SUM(i.uses), SUM(i.sent)
    FROM invitations i, LATERAL invitation_tally_key(i) AS k
    GROUP BY 1, 2;

CREATE TRIGGER invitation_tallies_insert_delete AFTER INSERT OR DELETE ON invitations
    FOR EACH ROW EXECUTE FUNCTION invitation_tallies_follow();
CREATE TRIGGER invitation_tallies_update
    AFTER UPDATE OF flow_uuid, expires, revoked, replaced_by, uses, max_uses, opened, started, sent
    ON invitations
    FOR EACH ROW EXECUTE FUNCTION invitation_tallies_follow();

-- The list's default order with what an invitation's status is computed from, so a page
-- far down (OFFSET) skips the invitations before it in the index (an index-only scan
-- where the visibility map allows).
DROP INDEX invitations_list_order_idx;
CREATE INDEX invitations_list_order_idx
    ON invitations ((expires IS NULL) DESC, expires DESC, created DESC, invite_uuid ASC)
    INCLUDE (revoked, replaced_by, max_uses, uses);
