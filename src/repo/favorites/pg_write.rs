//! The call of one of PostgreSQL's favorite write functions (migration
//! `2026-11-23-000003_favorite_writes`), as a statement diesel keeps
//! prepared: `SELECT * FROM favorite_add($1, $2, $3)`.

use chrono::NaiveDateTime;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Bool, Nullable, Timestamp};
use diesel_async::RunQueryDsl;

use super::FavoriteStateRow;
use crate::db::PgConn;

#[derive(Debug, Clone, Copy)]
pub struct Call {
    function: &'static str,
    user_id: i64,
    interview_id: i64,
    now: Option<NaiveDateTime>,
}

/// What every function returns: the count after the write, when the user
/// favorited the interview (`None`: they do not), and whether a
/// favorite row was inserted or deleted.
#[derive(Debug, Clone, Copy, Queryable)]
pub struct Written {
    pub favorites_count: i64,
    pub favorited_at: Option<NaiveDateTime>,
    pub changed: bool,
}

impl Written {
    pub fn state(&self, interview_id: i64) -> FavoriteStateRow {
        FavoriteStateRow {
            interview_id,
            favorited_at: self.favorited_at,
            favorites_count: self.favorites_count,
        }
    }
}

impl Call {
    /// `function` is one of the migration's function names, never input.
    pub fn new(
        function: &'static str,
        user_id: i64,
        interview_id: i64,
        now: Option<NaiveDateTime>,
    ) -> Call {
        Call {
            function,
            user_id,
            interview_id,
            now,
        }
    }

    /// Runs the call; `None` when the interview does not exist (the
    /// function returns no row).
    pub async fn run(self, conn: &mut PgConn) -> QueryResult<Option<Written>> {
        self.get_result::<Written>(conn).await.optional()
    }
}

impl QueryFragment<Pg> for Call {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql("SELECT * FROM ");
        out.push_identifier(self.function)?;
        out.push_sql("(");
        out.push_bind_param::<BigInt, _>(&self.user_id)?;
        out.push_sql(", ");
        out.push_bind_param::<BigInt, _>(&self.interview_id)?;
        if let Some(now) = &self.now {
            out.push_sql(", ");
            out.push_bind_param::<Timestamp, _>(now)?;
        }
        out.push_sql(")");
        Ok(())
    }
}

/// The SQL depends on the function's name, a value here: diesel's
/// statement cache keys it by its text.
impl QueryId for Call {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Call {
    type SqlType = (BigInt, Nullable<Timestamp>, Bool);
}
