-- A number raised by every change to what an API token stands for (the token, its user,
-- the user's groups and what makes a group superuser), in the transaction that makes the
-- change. Each node keeps tokens and their users in memory and looks at this number to
-- know when to read them again (see `repo/directory.rs`): a change made anywhere (another
-- node, the CLI) is seen by every node within a tenth of a second.
CREATE TABLE directory_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);
-- Once per transaction, however many rows it changed: updating one row many times in one
-- transaction costs quadratic time in PostgreSQL.
CREATE FUNCTION directory_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('akin.directory_changed', true) IS DISTINCT FROM 'yes' THEN
        UPDATE directory_version SET version = version + 1;
        PERFORM set_config('akin.directory_changed', 'yes', true);
    END IF;
    RETURN NULL;
END $$;
-- Deferred to the commit: the row is locked last and only while the transaction commits,
-- so concurrent transactions wait on it briefly and never in a cycle with another lock.
CREATE CONSTRAINT TRIGGER users_directory AFTER INSERT OR UPDATE OR DELETE ON users
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed();
CREATE CONSTRAINT TRIGGER groups_directory AFTER INSERT OR UPDATE OR DELETE ON groups
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed();
CREATE CONSTRAINT TRIGGER group_parents_directory AFTER INSERT OR UPDATE OR DELETE ON group_parents
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed();
CREATE CONSTRAINT TRIGGER group_members_directory AFTER INSERT OR UPDATE OR DELETE ON group_members
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed();
CREATE CONSTRAINT TRIGGER tokens_directory AFTER INSERT OR UPDATE OR DELETE ON tokens
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION directory_changed();
