-- A sign-in writes the user's `last_login` and nothing else. That says nothing about what
-- the user's API tokens stand for, yet it raised `directory_version` (migration 0016), so
-- every sign-in anywhere emptied every node's token cache. Every other column still
-- counts; a test in `akin-store` (`directory.rs`) fails when a new users column is missing
-- from this list.
DROP TRIGGER users_directory ON users;
CREATE CONSTRAINT TRIGGER users_directory AFTER INSERT OR DELETE OR UPDATE OF
    id, uuid, username, name, email, is_active, date_joined, password_change_date,
    last_updated, password, attributes, path, type
ON users DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed();
