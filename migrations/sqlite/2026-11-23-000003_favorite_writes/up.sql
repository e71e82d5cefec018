-- Nothing to do on SQLite: PostgreSQL's migration of this name adds the
-- favorite writes as server-side functions to save client round trips;
-- SQLite runs in-process, where the repository's own transaction
-- (src/repo/favorites.rs) costs no round trips. Kept so that both backends'
-- migrations have the same names.
SELECT 1;
