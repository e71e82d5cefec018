-- GET /api/v1/interviews/{popular}/favorited-by with a token, popular being
-- ids 1 .. npopular: repo::favorites::list_favorited_by (the page has rows,
-- so the server skips its existence check, repo::interviews::author_of).
-- The statements the server sends for one request, in order, one round trip
-- each (see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set one 1
\set plus 1
\set minus -1
\set iid random(1, :npopular)
\set lim 21
SELECT "favorite_interviews"."created_at", "users"."id", "users"."subject", "users"."name", "users"."created_at" FROM ("favorite_interviews" INNER JOIN "users" ON ("favorite_interviews"."user_id" = "users"."id")) WHERE ("favorite_interviews"."interview_id" = :iid) ORDER BY "favorite_interviews"."created_at" DESC, "favorite_interviews"."user_id" DESC LIMIT :lim;
