-- POST /api/v1/favorites/{hot}/toggle by a random user, every client on the
-- same interview: repo::favorites::toggle_favorite.
-- The statements the server sends for one request, in order, one round trip
-- each (see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set one 1
\set plus 1
\set minus -1
\set iid :hot
\set del 0
BEGIN;
SELECT "interviews"."favorites_count" FROM "interviews" WHERE ("interviews"."id" = :iid) LIMIT :one FOR NO KEY UPDATE;
DELETE FROM "favorite_interviews" WHERE (("favorite_interviews"."user_id" = :uid) AND ("favorite_interviews"."interview_id" = :iid)) RETURNING 1 AS del \aset
\if :del
UPDATE "interviews" SET "favorites_count" = "favorites_count" + :minus WHERE "id" = :iid RETURNING "favorites_count";
\else
INSERT INTO "favorite_interviews" ("user_id", "interview_id", "created_at") VALUES (:uid, :iid, LOCALTIMESTAMP) ON CONFLICT DO NOTHING;
UPDATE "interviews" SET "favorites_count" = "favorites_count" + :plus WHERE "id" = :iid RETURNING "favorites_count";
\endif
COMMIT;
