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
//!
//! Here: the statement recorder and the tests; `lists` calls every list
//! query, `seed` fills a database big enough for the plans to matter,
//! `postgres` and `sqlite` judge the plans, `writes` checks that favorite
//! writes reuse prepared statements.

mod lists;
mod postgres;
mod seed;
mod sqlite;
mod writes;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use diesel::{PgConnection, SqliteConnection};
use diesel_async::AsyncConnection;
use favorites::db::{self, Backend, Conn};

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
    conn: &mut RepoConn,
    recorder: &Recorder,
    queries: &mut Vec<ListQuery>,
    name: impl Into<String>,
    call: impl for<'c> AsyncFnOnce(&mut Conn<'c>) -> QueryResult<T>,
) -> T {
    let name = name.into();
    recorder.take();
    let result = conn
        .run(call)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    let statements = recorder.take();
    assert!(!statements.is_empty(), "{name}: no statement was recorded");
    queries.push(ListQuery { name, statements });
    result
}

/// A connection for repository calls, opened the way the server's pools
/// open theirs ([`db::Connection::open`]: on PostgreSQL with
/// `PG_SESSION_SETTINGS`), on a runtime of its own that drives it.
struct RepoConn {
    runtime: actix_web::rt::Runtime,
    connection: db::Connection,
}

impl RepoConn {
    fn open(url: &str) -> RepoConn {
        let runtime = actix_web::rt::Runtime::new().expect("a runtime");
        let connection = runtime
            .block_on(db::Connection::open(url))
            .expect("connect");
        RepoConn {
            runtime,
            connection,
        }
    }

    fn run<T>(
        &mut self,
        call: impl for<'c> AsyncFnOnce(&mut Conn<'c>) -> QueryResult<T>,
    ) -> QueryResult<T> {
        let connection = &mut self.connection;
        self.runtime
            .block_on(async move { call(&mut connection.conn()).await })
    }
}

/// A plain synchronous connection, for seeding and for SQL of the test's own.
enum SqlConn {
    Pg(PgConnection),
    Sqlite(SqliteConnection),
}

/// [`SqlConn`] to the database at `url`, migrated; on PostgreSQL with the
/// server's session settings, so its plans are the server's.
fn connect(url: &str) -> SqlConn {
    db::run_migrations(url).expect("migrate");
    match Backend::of_url(url) {
        Backend::Postgres => {
            let mut conn = PgConnection::establish(url).expect("connect");
            conn.batch_execute(db::PG_SESSION_SETTINGS)
                .expect("session settings");
            SqlConn::Pg(conn)
        }
        Backend::Sqlite => SqlConn::Sqlite(SqliteConnection::establish(url).expect("connect")),
    }
}

/// A [`RepoConn`] to the migrated database at `url`, recording what it
/// sends into `recorder`.
fn connect_instrumented(url: &str, recorder: &Recorder) -> RepoConn {
    db::run_migrations(url).expect("migrate");
    let mut conn = RepoConn::open(url);
    match &mut conn.connection {
        db::Connection::Pg(c) => c.set_instrumentation(recorder.instrument()),
        db::Connection::Sqlite(c) => c.set_instrumentation(recorder.instrument()),
    }
    conn
}

/// Fails with every failure described, counted, under `what`.
#[track_caller]
fn assert_no_failures(failures: Vec<String>, what: &str) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------- PostgreSQL

/// The plans a statement would get planned for its actual binds (what
/// PostgreSQL's default `plan_cache_mode` does for the first five
/// executions; the server forces generic plans, see `PG_SESSION_SETTINGS`).
#[test]
fn explain_list_queries_postgres() {
    assert_no_failures(
        postgres::plan_failures("force_custom_plan"),
        "list query plans scan or sort big tables",
    );
}

/// The plans the server's connections use (`force_generic_plan`): planned
/// once without the binds, from average row counts. The keyset predicate is a row-value
/// comparison so that these, too, are ordered index range scans (with
/// `a < x OR (a = x AND b < y)` the membership lists after a cursor became a
/// bitmap scan of all the user's rows plus a sort).
#[test]
fn explain_list_queries_postgres_generic_plans() {
    assert_no_failures(
        postgres::plan_failures("force_generic_plan"),
        "generic list query plans scan or sort big tables",
    );
}

// -------------------------------------------------------------------- SQLite

#[test]
fn explain_list_queries_sqlite() {
    assert_no_failures(
        sqlite::plan_failures(),
        "list query plans scan or sort big tables",
    );
}

// ---------------------------------------------------------------- writes

#[test]
fn favorite_writes_are_prepared_statements_postgres() {
    writes::assert_favorite_writes_prepared(Backend::Postgres);
}

#[test]
fn favorite_writes_are_prepared_statements_sqlite() {
    writes::assert_favorite_writes_prepared(Backend::Sqlite);
}
