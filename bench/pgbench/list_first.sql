-- GET /api/v1/favorites, first page, by a random user:
-- repo::favorites::list_favorites (the caller's own list needs no flags query).
-- The statements the server sends for one request, in order, one round trip
-- each (see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set k random(0, :ntokens - 1)
\set uid 1 + :k * :stride
\set one 1
\set plus 1
\set minus -1
\set lim 21
SELECT "favorite_interviews"."created_at", "interviews"."id", "interviews"."author_id", "interviews"."title", "interviews"."company", "interviews"."position", "interviews"."body", "interviews"."favorites_count", "interviews"."created_at", "interviews"."updated_at", "users"."id", "users"."subject", "users"."name", "users"."created_at" FROM ("favorite_interviews" INNER JOIN ("interviews" INNER JOIN "users" ON ("interviews"."author_id" = "users"."id")) ON ("favorite_interviews"."interview_id" = "interviews"."id")) WHERE ("favorite_interviews"."user_id" = :uid) ORDER BY "favorite_interviews"."created_at" DESC, "favorite_interviews"."interview_id" DESC LIMIT :lim;
