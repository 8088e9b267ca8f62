-- Pages of the invitation list by cursor (`?after=`) seek where the previous page ended.
-- The never-expiring invitations come first in the list's order, ordered by creation:
-- PostgreSQL matches `expires IS NULL` to the first column of the list order index and
-- then cannot seek on `created` (the second column, `expires`, is left unbound), so it
-- would read the whole never-expiring part up to the cursor. This partial index holds that
-- part in its order, with the status columns, for an index-only seek.
CREATE INDEX invitations_never_expiring_idx
    ON invitations (created DESC, invite_uuid ASC)
    INCLUDE (revoked, replaced_by, max_uses, uses)
    WHERE expires IS NULL;
