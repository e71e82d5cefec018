-- PUT /api/v1/favorites/{hot} by a random user, every client on the same
-- interview: repo::favorites::add_favorite.
-- On PostgreSQL the repository sends one statement, the call of the
-- migration's server-side function (lock, change, count in one round trip;
-- see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set iid :hot
SELECT * FROM "favorite_add"(:uid, :iid, LOCALTIMESTAMP);
