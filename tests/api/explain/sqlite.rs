//! SQLite plans: each recorded statement through `EXPLAIN QUERY PLAN`.

use diesel::prelude::*;
use diesel::sql_query;
use diesel::sql_types::Text;
use favorites::db::Backend;

use super::{BIG_TABLES, Recorder, SqlConn, connect, connect_instrumented, lists, seed};

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

/// Seeds a fresh SQLite database, runs every list query through the
/// repository, and explains each statement it sent; returns the plans with
/// problems (and the list statements not kept prepared), described.
pub(super) fn plan_failures() -> Vec<String> {
    let database = seed::seeded(Backend::Sqlite);
    let recorder = Recorder::default();
    let mut conn = connect_instrumented(&database.url, &recorder);
    let mut sql = connect(&database.url);
    let queries = lists::list_queries(&mut conn, &mut sql, &recorder);
    let SqlConn::Sqlite(sqlite) = &mut sql else {
        unreachable!()
    };

    // Another viewer's flags for a page of favorites are `IN (?, …)` with
    // one placeholder per id on SQLite (`= ANY($1)` with one array on
    // PostgreSQL): the text varies with the page, so diesel prepares it per
    // call, an in-process parse without a round trip. Every other list
    // statement must be cached.
    let mut failures: Vec<String> = recorder
        .uncached(&queries)
        .into_iter()
        .filter(|query| !query.contains("`interview_id` IN ("))
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
    failures
}
