-- GET /api/v1/interviews/{id} with a token: repo::interviews::find_for_viewer,
-- one query with a left join on the caller's favorite.
-- The statements the server sends for one request, in order, one round trip
-- each (see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set one 1
\set plus 1
\set minus -1
\set iid random(1, :interviews)
SELECT "interviews"."id", "interviews"."author_id", "interviews"."title", "interviews"."company", "interviews"."position", "interviews"."body", "interviews"."favorites_count", "interviews"."created_at", "interviews"."updated_at", "users"."id", "users"."subject", "users"."name", "users"."created_at", "favorite_interviews"."user_id" FROM (("interviews" INNER JOIN "users" ON ("interviews"."author_id" = "users"."id")) LEFT OUTER JOIN "favorite_interviews" ON (("favorite_interviews"."interview_id" = "interviews"."id") AND ("favorite_interviews"."user_id" = :uid))) WHERE ("interviews"."id" = :iid) LIMIT :one;
