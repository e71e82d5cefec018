//! Seeding a database big enough that a bad plan shows: skewed, and the same
//! shape of data on both backends.

use diesel::connection::SimpleConnection;
use favorites::db::Backend;

use super::{SqlConn, connect};
use crate::harness::TestDatabase;

/// Seeds skewed data with `generate_series`, deterministically: a few very
/// active users, very popular interviews, prolific authors, big teams, users
/// in many teams and busy inviters, so that the heaviest lists are hundreds
/// to thousands of rows long. Pairs are deduplicated and inserted in key
/// order, which is much faster than `ON CONFLICT` into random positions.
const PG_SEED: &str = r#"
SELECT setseed(0.42);
INSERT INTO users (id, subject, name, created_at)
SELECT g, 'explain-user-' || g, 'User ' || g, timestamp '2024-01-01' + g * interval '1 minute'
FROM generate_series(1, 2000) g;
INSERT INTO interviews (id, author_id, title, body, created_at, updated_at)
SELECT g, 1 + floor(2000 * random() ^ 2)::bigint, 'Interview ' || g, repeat('body ', 40),
       timestamp '2024-06-01' + g * interval '1 minute', timestamp '2024-06-01' + g * interval '1 minute'
FROM generate_series(1, 5000) g;
INSERT INTO favorite_interviews (user_id, interview_id, created_at)
SELECT DISTINCT ON (u, i) u, i, at FROM (
    SELECT 1 + floor(2000 * random() ^ 2)::bigint AS u, 1 + floor(5000 * random() ^ 2)::bigint AS i,
           timestamp '2025-01-01' + random() * interval '300 days' AS at
    FROM generate_series(1, 100000)) pairs
ORDER BY u, i;
UPDATE interviews SET favorites_count = counts.n
FROM (SELECT interview_id, count(*) AS n FROM favorite_interviews GROUP BY interview_id) counts
WHERE interviews.id = counts.interview_id;
INSERT INTO teams (id, name, created_by, members_count, created_at)
SELECT g, 'Team ' || g, 1 + (g * 7) % 2000, 0, timestamp '2024-01-01' + g * interval '1 hour'
FROM generate_series(1, 500) g;
INSERT INTO team_memberships (team_id, user_id, inviter_id, joined_date, reason, created_at)
SELECT DISTINCT ON (t, u) t, u, i, date '2025-01-01', '', at FROM (
    SELECT 1 + floor(500 * random() ^ 2)::bigint AS t, 1 + floor(2000 * random() ^ 3)::bigint AS u,
           CASE WHEN random() < 0.1 THEN NULL ELSE 1 + floor(2000 * random() ^ 3)::bigint END AS i,
           timestamp '2025-01-01' + random() * interval '300 days' AS at
    FROM generate_series(1, 20000)) memberships
ORDER BY t, u;
UPDATE teams SET members_count = counts.n
FROM (SELECT team_id, count(*) AS n FROM team_memberships GROUP BY team_id) counts
WHERE teams.id = counts.team_id;
ANALYZE;
"#;

/// The same shape of data for SQLite, with a recursive CTE for the series
/// and `r * r` for the skew (SQLite's `random()` is a signed 64-bit integer).
// `MATERIALIZED`: SQLite would otherwise evaluate `random()` again at every
// reference to a column of `r`, so `x * x` would multiply two draws.
const SQLITE_SEED: &str = r#"
BEGIN;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 2000)
INSERT INTO users (id, subject, name, created_at)
SELECT i, 'explain-user-' || i, 'User ' || i, datetime('2024-01-01', '+' || i || ' minutes') FROM g;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 5000),
r(i, x) AS MATERIALIZED (SELECT i, abs(random()) / 9223372036854775807.0 FROM g)
INSERT INTO interviews (id, author_id, title, body, created_at, updated_at)
SELECT i, 1 + CAST(2000 * x * x AS INTEGER) % 2000, 'Interview ' || i, 'body',
       datetime('2024-06-01', '+' || i || ' minutes'), datetime('2024-06-01', '+' || i || ' minutes')
FROM r;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 40000),
r(x, y, z) AS MATERIALIZED (SELECT abs(random()) / 9223372036854775807.0, abs(random()) / 9223372036854775807.0,
                      abs(random()) / 9223372036854775807.0 FROM g)
INSERT OR IGNORE INTO favorite_interviews (user_id, interview_id, created_at)
SELECT 1 + CAST(2000 * x * x AS INTEGER) % 2000, 1 + CAST(5000 * y * y AS INTEGER) % 5000,
       strftime('%Y-%m-%d %H:%M:%f', '2025-01-01', '+' || CAST(z * 25920000 AS INTEGER) || ' seconds')
FROM r;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 500)
INSERT INTO teams (id, name, created_by, members_count, created_at)
SELECT i, 'Team ' || i, 1 + (i * 7) % 2000, 0, datetime('2024-01-01', '+' || i || ' hours') FROM g;
WITH RECURSIVE g(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM g WHERE i < 10000),
r(x, y, z, w) AS MATERIALIZED (SELECT abs(random()) / 9223372036854775807.0, abs(random()) / 9223372036854775807.0,
                         abs(random()) / 9223372036854775807.0, abs(random()) / 9223372036854775807.0 FROM g)
INSERT OR IGNORE INTO team_memberships (team_id, user_id, inviter_id, joined_date, reason, created_at)
SELECT 1 + CAST(500 * x * x AS INTEGER) % 500, 1 + CAST(2000 * y * y * y AS INTEGER) % 2000,
       CASE WHEN w < 0.1 THEN NULL ELSE 1 + CAST(2000 * w * w * w AS INTEGER) % 2000 END,
       '2025-01-01', '', strftime('%Y-%m-%d %H:%M:%f', '2025-01-01', '+' || CAST(z * 25920000 AS INTEGER) || ' seconds')
FROM r;
COMMIT;
ANALYZE;
"#;

/// A fresh database of `backend`, migrated and seeded.
pub(super) fn seeded(backend: Backend) -> TestDatabase {
    let database = TestDatabase::create(backend);
    let mut setup = connect(&database.url);
    match &mut setup {
        SqlConn::Pg(setup) => {
            // Foreign-key checks are the slowest part of seeding; skip them when the
            // role may (a superuser): the rows are consistent by construction.
            let _ = setup.batch_execute("SET session_replication_role = replica");
            setup.batch_execute(PG_SEED).expect("seed");
        }
        SqlConn::Sqlite(setup) => setup.batch_execute(SQLITE_SEED).expect("seed"),
    }
    database
}
