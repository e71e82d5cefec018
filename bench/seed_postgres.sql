-- Seeds the benchmark dataset into a freshly migrated PostgreSQL database.
-- Run by bench/run.sh through psql with these variables:
--   users, interviews, favorites  sizes (default 10,000 / 100,000 / 1,000,000)
--   tokens, stride                the users the load uses are 1 + stride * k, k < tokens
--   delete_pairs                  favorites guaranteed per such user, for the DELETE scenarios
--
-- Skew (power law by id: floor(N * random() ^ k)): user 1 is the most active
-- (~1 % of all favorites), interview 1 the most popular (~1 % of all favorite
-- attempts, capped by the number of users), low ids are prolific authors.
-- Every timestamp is distinct to the microsecond, like real traffic.

\set ON_ERROR_STOP on
SET client_min_messages = warning;
-- The rows are consistent by construction: skip the per-row foreign-key
-- triggers when the role may (a superuser, as the local `postgres` is).
DO $$
BEGIN
    SET session_replication_role = replica;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE WARNING 'not a superuser: seeding with foreign-key checks (slower)';
END $$;
SELECT setseed(0.5);
SELECT set_config('bench.favorites', :'favorites', false),
       set_config('bench.users', :'users', false),
       set_config('bench.interviews', :'interviews', false);

-- Secondary indexes are rebuilt once at the end instead of maintained per row.
CREATE TEMP TABLE bench_indexes AS
SELECT indexname, indexdef FROM pg_indexes
WHERE schemaname = 'public'
  AND tablename IN ('interviews', 'favorite_interviews')
  AND indexname NOT IN (SELECT conname FROM pg_constraint);
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexname FROM bench_indexes LOOP
        EXECUTE format('DROP INDEX %I', r.indexname);
    END LOOP;
END $$;

INSERT INTO users (id, subject, name, created_at)
SELECT g, 'bench-user-' || g, 'Bench User ' || g,
       timestamp '2023-01-01' + g * (interval '365 days' / :users) + random() * interval '1 second'
FROM generate_series(1, :users) g;
SELECT setval(pg_get_serial_sequence('users', 'id'), :users);

INSERT INTO interviews (id, author_id, title, company, position, body, favorites_count, created_at, updated_at)
SELECT g,
       1 + floor(:users * random() ^ 2)::bigint,
       (ARRAY['Backend engineer onsite', 'Frontend take-home', 'SRE phone screen',
              'Data engineer loop', 'Mobile developer panel'])[1 + g % 5] || ' #' || g,
       (ARRAY['Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark Industries', 'Wayne Enterprises'])[1 + g % 7],
       (ARRAY['Junior', 'Mid-level', 'Senior', 'Staff', 'Principal'])[1 + g % 5],
       left(repeat('Four rounds: a phone screen, live coding on a shared editor, system design '
                   'of a rate limiter, and a behavioural chat about a past incident. ', 12),
            200 + (random() * 1300)::int),
       0, at, at
FROM (SELECT g, timestamp '2024-01-01' + g * (interval '365 days' / :interviews)
                + random() * interval '1 second' AS at
      FROM generate_series(1, :interviews) g) s;
SELECT setval(pg_get_serial_sequence('interviews', 'id'), :interviews);

-- The pairs the DELETE scenarios remove: for each user the load uses,
-- `delete_pairs` interviews computed the same way by the wrk and pgbench
-- scripts (the first half for wrk, the second for pgbench).
INSERT INTO favorite_interviews (user_id, interview_id, created_at)
SELECT u, 1 + ((u * 7919 + j * 104729) % :interviews),
       timestamp '2025-01-01' + random() * interval '365 days'
FROM (SELECT 1 + :stride * k AS u FROM generate_series(0, :tokens - 1) k) token_users,
     generate_series(0, :delete_pairs - 1) j
ON CONFLICT DO NOTHING;

-- The skewed rest, in rounds until the target is met exactly: each round
-- inserts at most the missing number of rows; duplicates are skipped.
DO $$
DECLARE
    target bigint := current_setting('bench.favorites')::bigint;
    n_users bigint := current_setting('bench.users')::bigint;
    n_interviews bigint := current_setting('bench.interviews')::bigint;
    have bigint;
    added bigint;
    rounds int := 0;
BEGIN
    SELECT count(*) INTO have FROM favorite_interviews;
    WHILE have < target AND rounds < 100 LOOP
        INSERT INTO favorite_interviews (user_id, interview_id, created_at)
        SELECT DISTINCT ON (u, i) u, i, at FROM (
            SELECT 1 + floor(n_users * random() ^ 2)::bigint AS u,
                   1 + floor(n_interviews * random() ^ 2.5)::bigint AS i,
                   timestamp '2025-01-01' + random() * interval '365 days' AS at
            FROM generate_series(1, target - have)) pairs
        ORDER BY u, i
        ON CONFLICT DO NOTHING;
        GET DIAGNOSTICS added = ROW_COUNT;
        have := have + added;
        rounds := rounds + 1;
    END LOOP;
    RAISE WARNING 'favorites: % rows in % rounds', have, rounds;
END $$;

UPDATE interviews SET favorites_count = counts.n
FROM (SELECT interview_id, count(*) AS n FROM favorite_interviews GROUP BY interview_id) counts
WHERE interviews.id = counts.interview_id;

SET maintenance_work_mem = '256MB';
DO $$
DECLARE r record;
BEGIN
    FOR r IN SELECT indexdef FROM bench_indexes LOOP
        EXECUTE r.indexdef;
    END LOOP;
END $$;

RESET session_replication_role;
VACUUM (ANALYZE) users, interviews, favorite_interviews;
