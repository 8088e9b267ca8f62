-- PostgreSQL tells every node of each session row changed (its 0019). An embedded SQLite
-- file is served by one akin, which sees every write itself; the migrations stay numbered
-- alike on both databases.
SELECT 1;
