-- GET /api/v1/favorites?cursor=…, a page deep in an active user's list:
-- repo::favorites::list_favorites after the cursor. A template: run.sh makes
-- one script per deep user, filling in the user id, the cursor's interview
-- id and the number N of the -D variable deep_at_N holding its time.
-- The statements the server sends for one request, in order, one round trip
-- each (see bench/README.md, "pgbench scripts"). The user's row comes from
-- the server's user cache, so there is no lookup by subject.
\set uid @UID@
\set cid @CID@
\set one 1
\set lim 21
SELECT "favorite_interviews"."created_at", "interviews"."id", "interviews"."author_id", "interviews"."title", "interviews"."company", "interviews"."position", "interviews"."body", "interviews"."favorites_count", "interviews"."created_at", "interviews"."updated_at", "users"."id", "users"."subject", "users"."name", "users"."created_at" FROM ("favorite_interviews" INNER JOIN ("interviews" INNER JOIN "users" ON ("interviews"."author_id" = "users"."id")) ON ("favorite_interviews"."interview_id" = "interviews"."id")) WHERE ((("favorite_interviews"."user_id" = :uid) AND ("favorite_interviews"."created_at" <= :deep_at_@N@)) AND ("favorite_interviews"."created_at", "favorite_interviews"."interview_id") < (:deep_at_@N@, :cid)) ORDER BY "favorite_interviews"."created_at" DESC, "favorite_interviews"."interview_id" DESC LIMIT :lim;
