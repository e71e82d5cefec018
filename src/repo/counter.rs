//! `UPDATE <table> SET <counter> = <counter> + $1 WHERE id = $2 RETURNING
//! <counter>` as a statement diesel keeps prepared.
//!
//! diesel's own `UPDATE` builder marks every statement unsafe to cache (a
//! changeset can turn out empty at run time), so each favorite or membership
//! write had PostgreSQL parse and plan its counter update again. This type
//! walks to the same SQL and is cached by its text like any other statement.

use diesel::QueryResult;
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{BigInt, HasSqlType};

/// Moves the counter column of one row (by its `id`) and returns the new value.
#[derive(Debug, Clone, Copy)]
pub struct AddToCounter {
    table: &'static str,
    counter: &'static str,
    id: i64,
    delta: i64,
}

impl AddToCounter {
    /// `table` and `counter` are SQL identifiers of our own schema, never
    /// input: take them from `schema.rs` (`Column::NAME`).
    pub fn new(table: &'static str, counter: &'static str, id: i64, delta: i64) -> Self {
        AddToCounter {
            table,
            counter,
            id,
            delta,
        }
    }
}

impl<DB> QueryFragment<DB> for AddToCounter
where
    DB: Backend + HasSqlType<BigInt>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("UPDATE ");
        out.push_identifier(self.table)?;
        out.push_sql(" SET ");
        out.push_identifier(self.counter)?;
        out.push_sql(" = ");
        out.push_identifier(self.counter)?;
        out.push_sql(" + ");
        out.push_bind_param::<BigInt, _>(&self.delta)?;
        out.push_sql(" WHERE ");
        out.push_identifier("id")?;
        out.push_sql(" = ");
        out.push_bind_param::<BigInt, _>(&self.id)?;
        out.push_sql(" RETURNING ");
        out.push_identifier(self.counter)?;
        Ok(())
    }
}

/// The SQL depends on the table and column names, which are values here:
/// no static id, so diesel's statement cache keys it by its SQL text.
impl QueryId for AddToCounter {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for AddToCounter {
    type SqlType = BigInt;
}
