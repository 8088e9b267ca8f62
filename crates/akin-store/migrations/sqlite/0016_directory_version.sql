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
CREATE TRIGGER users_insert_directory AFTER INSERT ON users BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER users_update_directory AFTER UPDATE ON users BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER users_delete_directory AFTER DELETE ON users BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER groups_insert_directory AFTER INSERT ON groups BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER groups_update_directory AFTER UPDATE ON groups BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER groups_delete_directory AFTER DELETE ON groups BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER group_parents_insert_directory AFTER INSERT ON group_parents BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER group_parents_update_directory AFTER UPDATE ON group_parents BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER group_parents_delete_directory AFTER DELETE ON group_parents BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER group_members_insert_directory AFTER INSERT ON group_members BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER group_members_update_directory AFTER UPDATE ON group_members BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER group_members_delete_directory AFTER DELETE ON group_members BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER tokens_insert_directory AFTER INSERT ON tokens BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER tokens_update_directory AFTER UPDATE ON tokens BEGIN
    UPDATE directory_version SET version = version + 1;
END;
CREATE TRIGGER tokens_delete_directory AFTER DELETE ON tokens BEGIN
    UPDATE directory_version SET version = version + 1;
END;
