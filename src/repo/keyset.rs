//! The keyset predicate `(at, id) < ($1, $2)` (or `>`) as a diesel
//! expression.
//!
//! A `diesel::dsl::sql` fragment would say the same, but diesel never
//! caches a statement with an SQL literal, so every page after a cursor
//! would be parsed and planned anew. This type walks to the same SQL with
//! its two values as bind parameters, so a page after a cursor is a cached
//! prepared statement like the first page.

use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, HasSqlType, Timestamp};
use diesel::{Column, QueryResult, serialize::ToSql};

use chrono::NaiveDateTime;

use super::Cursor;

/// The comparison operator of a [`RowCompare`].
pub trait Direction: Send + Sync + 'static {
    const OPERATOR: &'static str;
}

/// Rows before the cursor in a newest-first list: `<`.
#[derive(Debug, Clone, Copy)]
pub struct Older;

/// Rows after the cursor in an oldest-first list: `>`.
#[derive(Debug, Clone, Copy)]
pub struct Newer;

impl Direction for Older {
    const OPERATOR: &'static str = " < ";
}

impl Direction for Newer {
    const OPERATOR: &'static str = " > ";
}

/// `(at, id) <op> (cursor.at, cursor.id)` for two columns of one table.
#[derive(Debug, Clone, Copy)]
pub struct RowCompare<At, Id, D> {
    at: At,
    id: Id,
    cursor: Cursor,
    direction: PhantomData<D>,
}

impl<At, Id, D> RowCompare<At, Id, D> {
    pub fn new(at: At, id: Id, cursor: Cursor) -> Self {
        RowCompare {
            at,
            id,
            cursor,
            direction: PhantomData,
        }
    }
}

impl<At, Id, D> Expression for RowCompare<At, Id, D>
where
    At: Column<SqlType = Timestamp>,
    Id: Column<SqlType = BigInt>,
{
    type SqlType = Bool;
}

impl<At, Id, D, DB> QueryFragment<DB> for RowCompare<At, Id, D>
where
    DB: Backend + HasSqlType<Timestamp> + HasSqlType<BigInt>,
    At: QueryFragment<DB>,
    Id: QueryFragment<DB>,
    D: Direction,
    NaiveDateTime: ToSql<Timestamp, DB>,
    i64: ToSql<BigInt, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.at.walk_ast(out.reborrow())?;
        out.push_sql(", ");
        self.id.walk_ast(out.reborrow())?;
        out.push_sql(")");
        out.push_sql(D::OPERATOR);
        out.push_sql("(");
        out.push_bind_param::<Timestamp, _>(&self.cursor.at)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.cursor.id)?;
        out.push_sql(")");
        Ok(())
    }
}

/// The statement's shape depends only on the two columns and the operator,
/// never on the cursor's values (those are bind parameters).
impl<At, Id, D> QueryId for RowCompare<At, Id, D>
where
    At: QueryId,
    Id: QueryId,
    D: Direction,
{
    type QueryId = RowCompare<At::QueryId, Id::QueryId, D>;
    const HAS_STATIC_QUERY_ID: bool = At::HAS_STATIC_QUERY_ID && Id::HAS_STATIC_QUERY_ID;
}

/// Plain columns: never an aggregate.
impl<At, Id, D, GroupBy> ValidGrouping<GroupBy> for RowCompare<At, Id, D>
where
    At: Column,
    Id: Column,
{
    type IsAggregate = diesel::expression::is_aggregate::Never;
}

impl<At, Id, D, QS> AppearsOnTable<QS> for RowCompare<At, Id, D>
where
    Self: Expression,
    At: AppearsOnTable<QS>,
    Id: AppearsOnTable<QS>,
{
}

impl<At, Id, D, QS> SelectableExpression<QS> for RowCompare<At, Id, D>
where
    Self: AppearsOnTable<QS>,
    At: SelectableExpression<QS>,
    Id: SelectableExpression<QS>,
{
}
