-- GET /api/v1/interviews, first page, with a token: repo::interviews::list,
-- the page and the caller's favorites among it in one query (a left join on
-- the through table's primary key).
-- The statements the server sends for one request, in order, one round trip
-- each (see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set lim 21
SELECT "interviews"."id", "interviews"."author_id", "interviews"."title", "interviews"."company", "interviews"."position", "interviews"."body", "interviews"."favorites_count", "interviews"."created_at", "interviews"."updated_at", "users"."id", "users"."subject", "users"."name", "users"."created_at", "favorite_interviews"."user_id" FROM (("interviews" INNER JOIN "users" ON ("interviews"."author_id" = "users"."id")) LEFT OUTER JOIN "favorite_interviews" ON (("favorite_interviews"."interview_id" = "interviews"."id") AND ("favorite_interviews"."user_id" = :uid))) ORDER BY "interviews"."created_at" DESC, "interviews"."id" DESC LIMIT :lim;
