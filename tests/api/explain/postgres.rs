//! PostgreSQL plans: each recorded statement `PREPARE`d and `EXPLAIN`ed with
//! its own binds, under a chosen `plan_cache_mode`.

use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel::{PgConnection, sql_query};
use favorites::db::Backend;
use serde_json::Value;

use super::{BIG_TABLES, Recorder, SqlConn, Statement, connect, connect_instrumented, lists, seed};

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

fn pg_execute(conn: &mut PgConnection, sql: &str) {
    sql_query(sql)
        .execute(conn)
        .unwrap_or_else(|error| panic!("{sql}: {error}"));
}

/// Seeds a fresh PostgreSQL database, runs every list query through the
/// repository, and EXPLAINs each statement it sent under `plan_cache_mode`
/// `mode`; returns the plans with problems, described.
pub(super) fn plan_failures(mode: &str) -> Vec<String> {
    let database = seed::seeded(Backend::Postgres);
    let recorder = Recorder::default();
    let mut conn = connect_instrumented(&database.url, &recorder);
    let mut sql = connect(&database.url);
    let queries = lists::list_queries(&mut conn, &mut sql, &recorder);
    let SqlConn::Pg(pg) = &mut sql else {
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
