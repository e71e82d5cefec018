-- DELETE /api/v1/favorites/{id} by a random user on one of its seeded
-- favorites reserved for pgbench (pairs j in delete_pairs/2 ..; wrk uses the
-- first half): repo::favorites::remove_favorite.
-- On PostgreSQL the repository sends one statement, the call of the
-- migration's server-side function (lock, change, count in one round trip;
-- see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set j random(:delete_pairs / 2, :delete_pairs - 1)
\set iid 1 + ((:uid * 7919 + :j * 104729) % :interviews)
SELECT * FROM "favorite_remove"(:uid, :iid);
