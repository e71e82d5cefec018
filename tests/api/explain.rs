//! Query plans of every list query the repository issues, on a seeded
//! database: no list may read a big table sequentially or sort the rows of a
//! through table, or its cost would grow with the data instead of the page.
//!
//! The SQL is not copied by hand: the repository functions run for real on
//! an instrumented connection, which records each statement diesel sends
//! (with its `$n` placeholders and its binds). On PostgreSQL each one is then
//! `PREPARE`d and `EXPLAIN … EXECUTE`d with its own binds, once with a custom
//! and once with a generic plan (a pooled connection switches to the generic
//! plan of a prepared statement after five executions). On SQLite each one
//! goes through `EXPLAIN QUERY PLAN`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::r2d2::ManageConnection;
use diesel::sql_types::{BigInt, Text};
use diesel::{PgConnection, sql_query};
use favorites::db::{self, Backend, Conn, DbConn};
use favorites::repo::teams::Memberships;
use favorites::repo::{
    Cursor, Page, PageRequest, favorites as favorites_repo, interviews, teams, users,
};
use serde_json::Value;

use crate::harness::TestDatabase;

/// Tables seeded with enough rows that reading one whole is a real cost.
const BIG_TABLES: [&str; 5] = [
    "users",
    "interviews",
    "favorite_interviews",
    "teams",
    "team_memberships",
];

/// One statement diesel sent: its SQL and its `Debug` rendering, which ends
/// with `-- binds: [...]`.
#[derive(Debug, Clone)]
struct Statement {
    sql: String,
    debug: String,
}

/// Every statement an instrumented connection starts, in order, and the SQL
/// of every statement it prepared and cached.
#[derive(Clone, Default)]
struct Recorder {
    started: Arc<Mutex<Vec<Statement>>>,
    cached: Arc<Mutex<HashSet<String>>>,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Recorder {
    fn instrument(&self) -> impl FnMut(InstrumentationEvent<'_>) + Send + 'static {
        let started = self.started.clone();
        let cached = self.cached.clone();
        move |event| match event {
            InstrumentationEvent::StartQuery { query, .. } => lock(&started).push(Statement {
                sql: query.to_string(),
                debug: format!("{query:?}"),
            }),
            InstrumentationEvent::CacheQuery { sql, .. } => {
                lock(&cached).insert(sql.to_owned());
            }
            _ => {}
        }
    }

    fn take(&self) -> Vec<Statement> {
        std::mem::take(&mut *lock(&self.started))
    }

    /// The list queries whose statements diesel did not keep as prepared
    /// statements: those are parsed and planned again on every request (a
    /// `dsl::sql` fragment, an `IN (…)` list or an upsert does that).
    fn uncached(&self, queries: &[ListQuery]) -> Vec<String> {
        let cached = lock(&self.cached);
        queries
            .iter()
            .flat_map(|query| {
                query
                    .statements
                    .iter()
                    .filter(|statement| !cached.contains(statement.sql_text()))
                    .map(|statement| format!("{}: {}", query.name, statement.sql_text()))
            })
            .collect()
    }
}

impl Statement {
    /// The SQL alone: `Display` appends the binds as a comment.
    fn sql_text(&self) -> &str {
        match self.sql.rsplit_once(" -- binds: [") {
            Some((sql, _)) => sql,
            None => &self.sql,
        }
    }
}

/// A list query the repository issued, under a name for failure messages.
struct ListQuery {
    name: String,
    statements: Vec<Statement>,
}

/// Runs one repository call on the instrumented connection and keeps the
/// statements it sent.
fn capture<T>(
    conn: &mut Conn,
    recorder: &Recorder,
    queries: &mut Vec<ListQuery>,
    name: impl Into<String>,
    call: impl FnOnce(&mut Conn) -> QueryResult<T>,
) -> T {
    let name = name.into();
    recorder.take();
    let result = call(conn).unwrap_or_else(|error| panic!("{name}: {error}"));
    let statements = recorder.take();
    assert!(!statements.is_empty(), "{name}: no statement was recorded");
    queries.push(ListQuery { name, statements });
    result
}

/// Pages of the API's default size; a typical (short) list gets short pages
/// so that it too has a second page to reach through a cursor.
fn first_page(limit: i64) -> PageRequest {
    PageRequest { limit, after: None }
}

fn after(limit: i64, next: Option<Cursor>, name: &str) -> PageRequest {
    PageRequest {
        limit,
        after: Some(next.unwrap_or_else(|| panic!("{name}: the seeded list has a second page"))),
    }
}

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The ids the list queries are asked about: the heaviest of each kind (the
/// longest lists) and a typical one.
struct Subjects {
    active_user: i64,
    typical_user: i64,
    popular_interview: i64,
    typical_interview: i64,
    prolific_author: i64,
    big_team: i64,
    joiner: i64,
    inviter: i64,
}

fn top_id(conn: &mut Conn, sql: &str) -> i64 {
    let query = sql_query(sql);
    let row: Id = match conn {
        Conn::Pg(c) => query.get_result(c),
        Conn::Sqlite(c) => query.get_result(c),
    }
    .unwrap_or_else(|error| panic!("{sql}: {error}"));
    row.id
}

fn subjects(conn: &mut Conn) -> Subjects {
    let most = |column: &str, table: &str| {
        format!(
            "SELECT {column} AS id FROM {table} WHERE {column} IS NOT NULL \
             GROUP BY {column} ORDER BY count(*) DESC, {column} LIMIT 1"
        )
    };
    let median = |column: &str, table: &str| {
        format!(
            "SELECT id FROM (SELECT {column} AS id, count(*) AS n FROM {table} GROUP BY {column}) counts \
             ORDER BY n, id LIMIT 1 OFFSET (SELECT count(DISTINCT {column}) / 2 FROM {table})"
        )
    };
    Subjects {
        active_user: top_id(conn, &most("user_id", "favorite_interviews")),
        typical_user: top_id(conn, &median("user_id", "favorite_interviews")),
        popular_interview: top_id(conn, &most("interview_id", "favorite_interviews")),
        typical_interview: top_id(conn, &median("interview_id", "favorite_interviews")),
        prolific_author: top_id(conn, &most("author_id", "interviews")),
        big_team: top_id(conn, &most("team_id", "team_memberships")),
        joiner: top_id(conn, &most("user_id", "team_memberships")),
        inviter: top_id(conn, &most("inviter_id", "team_memberships")),
    }
}

/// Calls every list function of the repository, first page and a page after
/// a real cursor, and returns the statements each one sent.
fn list_queries(conn: &mut Conn, recorder: &Recorder) -> Vec<ListQuery> {
    let s = subjects(conn);
    let mut queries = Vec::new();
    let q = &mut queries;

    let limit = 20;
    for (label, author, viewer) in [
        ("all, anonymous", None, None),
        ("all, as the most active user", None, Some(s.active_user)),
        (
            "by author, as a typical user",
            Some(s.prolific_author),
            Some(s.typical_user),
        ),
    ] {
        let name = format!("list_interviews({label})");
        let page = capture(conn, recorder, q, format!("{name} first page"), |c| {
            interviews::list(c, author, viewer, &first_page(limit))
        });
        capture(conn, recorder, q, format!("{name} after a cursor"), |c| {
            interviews::list(c, author, viewer, &after(limit, page.next, &name))
        });
    }

    for (label, user, limit) in [
        ("most active", s.active_user, 20),
        ("typical", s.typical_user, 3),
    ] {
        let name = format!("list_favorites({label} user {user})");
        let page = capture(conn, recorder, q, format!("{name} first page"), |c| {
            favorites_repo::list_favorites(c, user, &first_page(limit))
        });
        capture(conn, recorder, q, format!("{name} after a cursor"), |c| {
            favorites_repo::list_favorites(c, user, &after(limit, page.next, &name))
        });
        let ids: Vec<i64> = page
            .rows
            .iter()
            .map(|(_, interview, _)| interview.id)
            .collect();
        capture(
            conn,
            recorder,
            q,
            format!("favorited_among({label} user {user}, a page)"),
            |c| interviews::favorited_among(c, user, &ids),
        );
    }

    for (label, interview, limit) in [
        ("most popular", s.popular_interview, 20),
        ("typical", s.typical_interview, 3),
    ] {
        let name = format!("list_favorited_by({label} interview {interview})");
        let page = capture(conn, recorder, q, format!("{name} first page"), |c| {
            favorites_repo::list_favorited_by(c, interview, &first_page(limit))
        });
        capture(conn, recorder, q, format!("{name} after a cursor"), |c| {
            favorites_repo::list_favorited_by(c, interview, &after(limit, page.next, &name))
        });
    }

    let name = "list_teams";
    let page: Page<_> = capture(conn, recorder, q, format!("{name} first page"), |c| {
        teams::list_teams(c, &first_page(limit))
    });
    capture(conn, recorder, q, format!("{name} after a cursor"), |c| {
        teams::list_teams(c, &after(limit, page.next, name))
    });

    for which in [
        Memberships::OfTeam(s.big_team),
        Memberships::OfUser(s.joiner),
        Memberships::InvitedBy(s.inviter),
    ] {
        let name = format!("list_memberships({which:?})");
        let page = capture(conn, recorder, q, format!("{name} first page"), |c| {
            teams::list_memberships(c, which, &first_page(limit))
        });
        capture(conn, recorder, q, format!("{name} after a cursor"), |c| {
            teams::list_memberships(c, which, &after(limit, page.next, &name))
        });
    }
    queries
}

// ---------------------------------------------------------------- PostgreSQL

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

/// The binds of a recorded statement, as SQL literals for `EXECUTE`, parsed
/// from a query's `Debug` output: `Query { sql: "…", binds: [21, "x"] }`
/// (or `… -- binds: [21, "x"]`).
fn bind_literals(statement: &Statement) -> Vec<String> {
    let Some((_, binds)) = statement.debug.rsplit_once("binds: [") else {
        panic!("no binds in {:?}", statement.debug);
    };
    let binds = binds.trim_end();
    let binds = binds.strip_suffix('}').unwrap_or(binds).trim_end();
    let binds = binds
        .strip_suffix(']')
        .unwrap_or_else(|| panic!("unterminated binds in {:?}", statement.debug));
    // Split at the top-level commas: not inside quotes or brackets.
    let mut values = Vec::new();
    let (mut current, mut depth, mut quoted, mut escaped) = (String::new(), 0, false, false);
    for ch in binds.chars() {
        match ch {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '[' if !quoted => depth += 1,
            ']' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                values.push(std::mem::take(&mut current).trim().to_owned());
                continue;
            }
            _ => {}
        }
        current.push(ch);
    }
    if !current.trim().is_empty() {
        values.push(current.trim().to_owned());
    }
    values
        .into_iter()
        .map(|value| {
            // Nullable binds print as `None` / `Some(…)`.
            if value == "None" {
                return "NULL".to_owned();
            }
            let value = match value.strip_prefix("Some(") {
                Some(inner) => inner.strip_suffix(')').expect("a closed Some").to_owned(),
                None => value,
            };
            let text = if let Some(string) = value.strip_prefix('"') {
                let string = string.strip_suffix('"').expect("a closed string bind");
                string.replace("\\\"", "\"").replace("\\\\", "\\")
            } else if let Some(list) = value.strip_prefix('[') {
                let list = list.strip_suffix(']').expect("a closed list bind");
                format!("{{{}}}", list.replace(' ', ""))
            } else {
                value
            };
            format!("'{}'", text.replace('\'', "''"))
        })
        .collect()
}

#[derive(QueryableByName)]
struct PlanRow {
    #[diesel(sql_type = Text)]
    #[diesel(column_name = "QUERY PLAN")]
    plan: String,
}

/// The big tables a plan node reads, itself or below it.
fn big_tables_under(node: &Value, tables: &mut Vec<String>) {
    if let Some(relation) = node["Relation Name"].as_str()
        && BIG_TABLES.contains(&relation)
        && !tables.iter().any(|t| t == relation)
    {
        tables.push(relation.to_owned());
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        big_tables_under(child, tables);
    }
}

/// The problems of a plan: a sequential scan of a big table, or a sort of
/// rows read from a big table (the list's order must come from an index).
fn plan_problems(node: &Value, problems: &mut Vec<String>) {
    let kind = node["Node Type"].as_str().unwrap_or("");
    let relation = node["Relation Name"].as_str().unwrap_or("");
    if kind == "Seq Scan" && BIG_TABLES.contains(&relation) {
        problems.push(format!("Seq Scan on {relation}"));
    }
    if kind.starts_with("Gather") {
        problems.push(format!("{kind}: parallel workers for one page"));
    }
    if kind.ends_with("Sort") {
        let mut tables = Vec::new();
        big_tables_under(node, &mut tables);
        if !tables.is_empty() {
            problems.push(format!(
                "{kind} by {} over rows of {}",
                node["Sort Key"],
                tables.join(", ")
            ));
        }
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        plan_problems(child, problems);
    }
}

/// A connection opened the way the server's pool opens one
/// ([`db::Manager`]: on PostgreSQL with `PG_SESSION_SETTINGS`), migrated.
fn connect(url: &str) -> DbConn {
    let mut conn = db::Manager::new(url).connect().expect("connect");
    db::run_migrations(&mut conn).expect("migrate");
    conn
}

/// [`connect`], recording what the connection sends into `recorder`.
fn connect_instrumented(url: &str, recorder: &Recorder) -> DbConn {
    let mut conn = connect(url);
    conn.set_instrumentation(recorder.instrument());
    conn
}

fn pg_execute(conn: &mut PgConnection, sql: &str) {
    sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Seeds a fresh PostgreSQL database, runs every list query through the
/// repository, and EXPLAINs each statement it sent under `plan_cache_mode`
/// `mode`; returns the plans with problems, described.
fn explain_postgres(mode: &str) -> Vec<String> {
    let database = TestDatabase::create(Backend::Postgres);
    let mut setup = connect(&database.url);
    let Conn::Pg(setup) = &mut *setup else {
        unreachable!()
    };
    // Foreign-key checks are the slowest part of seeding; skip them when the
    // role may (a superuser): the rows are consistent by construction.
    let _ = setup.batch_execute("SET session_replication_role = replica");
    setup.batch_execute(PG_SEED).expect("seed");

    let recorder = Recorder::default();
    let mut conn = connect_instrumented(&database.url, &recorder);
    let queries = list_queries(&mut conn, &recorder);
    let Conn::Pg(pg) = &mut *conn else {
        unreachable!()
    };
    let mut failures: Vec<String> = recorder
        .uncached(&queries)
        .into_iter()
        .map(|query| format!("not kept as a prepared statement: {query}"))
        .collect();

    // The connection has the server's session settings; then the plan mode
    // under test.
    pg_execute(pg, &format!("SET plan_cache_mode = {mode}"));
    let mut explained = 0;
    for (n, query) in queries.iter().enumerate() {
        for (m, statement) in query.statements.iter().enumerate() {
            let sql = statement.sql_text();
            let name = format!("explain_{n}_{m}");
            pg_execute(pg, &format!("PREPARE {name} AS {sql}"));
            let binds = bind_literals(statement);
            let execute = if binds.is_empty() {
                format!("EXECUTE {name}")
            } else {
                format!("EXECUTE {name}({})", binds.join(", "))
            };
            let row: PlanRow = sql_query(format!("EXPLAIN (FORMAT JSON) {execute}"))
                .get_result(pg)
                .unwrap_or_else(|error| panic!("{}: {execute}: {error}", query.name));
            pg_execute(pg, &format!("DEALLOCATE {name}"));
            explained += 1;
            let plan: Value = serde_json::from_str(&row.plan).expect("a JSON plan");
            let mut problems = Vec::new();
            plan_problems(&plan[0]["Plan"], &mut problems);
            if !problems.is_empty() {
                failures.push(format!(
                    "{} ({mode}): {}\n  SQL: {sql}\n  {execute}\n  plan: {}",
                    query.name,
                    problems.join("; "),
                    serde_json::to_string_pretty(&plan[0]["Plan"]).unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        explained >= 22,
        "only {explained} statements were explained"
    );
    failures
}

/// The plans a statement would get planned for its actual binds (what
/// PostgreSQL's default `plan_cache_mode` does for the first five
/// executions; the server forces generic plans, see `PG_SESSION_SETTINGS`).
#[test]
fn explain_list_queries_postgres() {
    let failures = explain_postgres("force_custom_plan");
    assert!(
        failures.is_empty(),
        "{} list query plans scan or sort big tables:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// The plans the server's connections use (`force_generic_plan`): planned
/// once without the binds, from average row counts. The keyset predicate is a row-value
/// comparison so that these, too, are ordered index range scans (with
/// `a < x OR (a = x AND b < y)` the membership lists after a cursor became a
/// bitmap scan of all the user's rows plus a sort).
#[test]
fn explain_list_queries_postgres_generic_plans() {
    let failures = explain_postgres("force_generic_plan");
    assert!(
        failures.is_empty(),
        "{} generic list query plans scan or sort big tables:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// -------------------------------------------------------------------- SQLite

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

#[derive(QueryableByName)]
struct QueryPlanRow {
    #[diesel(sql_type = Text)]
    detail: String,
}

/// A step of an SQLite plan that reads a through table whole (`SCAN`, with
/// or without an index) or sorts rows (`USE TEMP B-TREE FOR ORDER BY`).
fn sqlite_problem(detail: &str) -> bool {
    let through_scan = ["favorite_interviews", "team_memberships"]
        .iter()
        .any(|table| {
            detail.starts_with(&format!("SCAN {table}"))
                || detail.contains(&format!(" AS {table}")) && detail.starts_with("SCAN ")
        });
    let big_full_scan = BIG_TABLES
        .iter()
        .any(|table| detail == format!("SCAN {table}"));
    through_scan || big_full_scan || detail.contains("USE TEMP B-TREE FOR ORDER BY")
}

#[test]
fn explain_list_queries_sqlite() {
    let database = TestDatabase::create(Backend::Sqlite);
    let mut setup = connect(&database.url);
    let Conn::Sqlite(setup) = &mut *setup else {
        unreachable!()
    };
    setup.batch_execute(SQLITE_SEED).expect("seed");

    let recorder = Recorder::default();
    let mut conn = connect_instrumented(&database.url, &recorder);
    let queries = list_queries(&mut conn, &recorder);
    let Conn::Sqlite(sqlite) = &mut *conn else {
        unreachable!()
    };

    // `favorited_among` is `IN (?, …)` with one placeholder per id on SQLite
    // (`= ANY($1)` with one array on PostgreSQL): its text varies with the
    // page, so diesel prepares it per call, an in-process parse without a
    // round trip. Every other list statement must be cached.
    let mut failures: Vec<String> = recorder
        .uncached(&queries)
        .into_iter()
        .filter(|query| !query.starts_with("favorited_among("))
        .map(|query| format!("not kept as a prepared statement: {query}"))
        .collect();
    for query in &queries {
        for statement in &query.statements {
            // Unbound parameters are NULL; SQLite's plan does not depend on them.
            let steps: Vec<QueryPlanRow> =
                sql_query(format!("EXPLAIN QUERY PLAN {}", statement.sql))
                    .load(sqlite)
                    .unwrap_or_else(|error| panic!("{}: {error}", query.name));
            let details: Vec<&str> = steps.iter().map(|step| step.detail.as_str()).collect();
            let problems: Vec<&&str> = details
                .iter()
                .filter(|detail| sqlite_problem(detail))
                .collect();
            if !problems.is_empty() {
                failures.push(format!(
                    "{}: {problems:?}\n  SQL: {}\n  plan: {details:#?}",
                    query.name, statement.sql
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} list query plans scan or sort big tables:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------- writes

/// Runs add, remove and toggle (each both ways) on an instrumented
/// connection and returns the statements diesel did not keep prepared,
/// transaction control aside: a favorite write must not make the database
/// parse and plan anything again.
fn uncached_favorite_writes(url: &str) -> Vec<String> {
    let mut setup = connect(url);
    let recorder = &Recorder::default();
    let mut instrumented = connect_instrumented(url, recorder);
    let now = favorites::repo::now();
    let author = users::ensure(&mut setup, "explain-author", "Author", now).expect("user");
    let fan = users::ensure(&mut setup, "explain-fan", "Fan", now).expect("user");
    let new = interviews::NewInterview {
        title: "Title".to_owned(),
        company: "Company".to_owned(),
        position: "Position".to_owned(),
        body: "Body".to_owned(),
    };
    let (interview, _) = interviews::create(&mut setup, author.id, &new, now).expect("interview");

    let conn = &mut instrumented;
    let mut queries = Vec::new();
    let q = &mut queries;
    let (user, id) = (fan.id, interview.id);
    capture(conn, recorder, q, "add_favorite (new)", |c| {
        favorites_repo::add_favorite(c, user, id, now)
    });
    capture(conn, recorder, q, "add_favorite (again)", |c| {
        favorites_repo::add_favorite(c, user, id, now)
    });
    capture(conn, recorder, q, "remove_favorite (present)", |c| {
        favorites_repo::remove_favorite(c, user, id)
    });
    capture(conn, recorder, q, "remove_favorite (absent)", |c| {
        favorites_repo::remove_favorite(c, user, id)
    });
    capture(conn, recorder, q, "toggle_favorite (on)", |c| {
        favorites_repo::toggle_favorite(c, user, id, now)
    });
    capture(conn, recorder, q, "toggle_favorite (off)", |c| {
        favorites_repo::toggle_favorite(c, user, id, now)
    });
    for query in &mut queries {
        query.statements.retain(|statement| {
            !matches!(
                statement.sql_text().trim(),
                "BEGIN" | "BEGIN IMMEDIATE" | "COMMIT" | "ROLLBACK"
            )
        });
    }
    recorder.uncached(&queries)
}

/// Checks the favorite writes on a fresh database of `backend`.
fn assert_favorite_writes_prepared(backend: Backend) {
    let database = TestDatabase::create(backend);
    let uncached = uncached_favorite_writes(&database.url);
    assert!(
        uncached.is_empty(),
        "not prepared statements:\n{}",
        uncached.join("\n")
    );
}

#[test]
fn favorite_writes_are_prepared_statements_postgres() {
    assert_favorite_writes_prepared(Backend::Postgres);
}

#[test]
fn favorite_writes_are_prepared_statements_sqlite() {
    assert_favorite_writes_prepared(Backend::Sqlite);
}
