-- An invitation's lifecycle beyond use and expiry: withdrawn by an administrator (when and
-- by whom), or replaced by a reissued one. Either refuses its link; the row stays as history.
ALTER TABLE invitations ADD COLUMN revoked TEXT;
ALTER TABLE invitations ADD COLUMN revoked_by INTEGER REFERENCES users (id) ON DELETE SET NULL;
ALTER TABLE invitations ADD COLUMN replaced_by TEXT;
