-- An invitation's lifecycle beyond use and expiry: withdrawn by an administrator (when and
-- by whom), or replaced by a reissued one. Either refuses its link; the row stays as history.
ALTER TABLE invitations ADD COLUMN revoked TIMESTAMPTZ;
ALTER TABLE invitations ADD COLUMN revoked_by BIGINT REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE invitations ADD COLUMN replaced_by UUID;
