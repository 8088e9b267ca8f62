-- Pages of the invitation list by cursor (`?after=`) seek where the previous page ended.
-- SQLite seeks in the list order index (migration 0015) for both parts of the order,
-- never-expiring and expiring: `(expires IS NULL) = …` binds its first column and
-- `expires IS NULL` its second. PostgreSQL needs an index of its own for the first part
-- (its 0017); the migrations stay numbered alike on both databases.
SELECT 1;
