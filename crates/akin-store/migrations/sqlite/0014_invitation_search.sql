-- Searching invitations by name (`?search=`, any part of it, any case) through a trigram
-- index instead of reading every name: FTS5's trigram tokenizer answers a substring of
-- three characters or more from the index.
--
-- The index is keyed by `search_rowid`, a number given once to each invitation and never
-- changed: SQLite's own rowid may change when the file is vacuumed, which would point the
-- index at the wrong rows.
ALTER TABLE invitations ADD COLUMN search_rowid INTEGER;
UPDATE invitations SET search_rowid = rowid;
CREATE UNIQUE INDEX invitations_search_rowid_idx ON invitations (search_rowid);

CREATE VIRTUAL TABLE invitations_search USING fts5(
    name,
    content = 'invitations',
    content_rowid = 'search_rowid',
    tokenize = 'trigram'
);
INSERT INTO invitations_search (invitations_search) VALUES ('rebuild');

CREATE TRIGGER invitations_search_insert AFTER INSERT ON invitations BEGIN
    UPDATE invitations
        SET search_rowid = (SELECT COALESCE(MAX(search_rowid), 0) + 1 FROM invitations)
        WHERE rowid = new.rowid;
    INSERT INTO invitations_search (rowid, name)
        SELECT search_rowid, name FROM invitations WHERE rowid = new.rowid;
END;
CREATE TRIGGER invitations_search_delete AFTER DELETE ON invitations BEGIN
    INSERT INTO invitations_search (invitations_search, rowid, name)
        VALUES ('delete', old.search_rowid, old.name);
END;
CREATE TRIGGER invitations_search_rename AFTER UPDATE OF name ON invitations BEGIN
    INSERT INTO invitations_search (invitations_search, rowid, name)
        VALUES ('delete', old.search_rowid, old.name);
    INSERT INTO invitations_search (rowid, name) VALUES (new.search_rowid, new.name);
END;
