-- POST /api/v1/favorites/{id}/toggle by a random user on a random interview:
-- repo::favorites::toggle_favorite.
-- On PostgreSQL the repository sends one statement, the call of the
-- migration's server-side function (lock, change, count in one round trip;
-- see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set iid random(1, :interviews)
SELECT * FROM "favorite_toggle"(:uid, :iid, LOCALTIMESTAMP);
