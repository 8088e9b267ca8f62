-- Searching invitations by name (`?search=`, any part of it, any case) through a trigram
-- index instead of reading every name: the list's `LOWER(name) LIKE '%…%'` uses it for a
-- substring of three characters or more. pg_trgm ships with PostgreSQL and is a trusted
-- extension (13+): the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX invitations_name_trgm_idx ON invitations USING gin (LOWER(name) gin_trgm_ops);
