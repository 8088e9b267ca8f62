-- The invitation list's default order (authentik's -expires: never-expiring first), so the
-- first page is read from the index in order instead of sorting every invitation.
CREATE INDEX invitations_list_order_idx
    ON invitations ((expires IS NULL) DESC, expires DESC, created DESC, invite_uuid ASC);
-- What an invitation's status is computed from, so counting active invitations (every
-- list page's total) reads this narrow index instead of every row.
CREATE INDEX invitations_status_idx ON invitations (expires, max_uses, uses);
