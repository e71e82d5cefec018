//! All SQL lives here: plain functions taking `&mut Conn`, written once for
//! both backends. Each public function's doc comment states its contract.

pub mod accounts;
pub mod counter;
pub mod favorites;
pub mod idempotency;
pub mod interviews;
pub mod keyset;
pub mod memberships;
pub mod teams;
pub mod users;

use chrono::{NaiveDateTime, Timelike, Utc};

/// Now, in UTC, truncated to microseconds: PostgreSQL keeps microseconds, so
/// both backends store (and order by) exactly the value the API returns.
pub fn now() -> NaiveDateTime {
    let now = Utc::now().naive_utc();
    now.with_nanosecond(now.and_utc().timestamp_subsec_micros() * 1_000)
        .unwrap_or(now)
}

/// A position in a list ordered by (time, id): the last row of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: NaiveDateTime,
    pub id: i64,
}

/// What page of a keyset-paginated list to read.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Rows per page, already validated (1..=100).
    pub limit: i64,
    /// Read the rows strictly after this one in the list's order.
    pub after: Option<Cursor>,
}

/// One page of rows, and where the next page starts when more rows follow.
#[derive(Debug)]
pub struct Page<T> {
    pub rows: Vec<T>,
    pub next: Option<Cursor>,
}

impl PageRequest {
    /// How many rows a list query fetches: one more than the page, so the
    /// page knows whether anything follows without a count.
    pub fn fetch(&self) -> i64 {
        self.limit + 1
    }

    /// Cuts the over-fetched rows down to the page; `key` gives a row's cursor.
    pub fn page<T>(&self, mut rows: Vec<T>, key: impl Fn(&T) -> Cursor) -> Page<T> {
        let limit = usize::try_from(self.limit).unwrap_or(usize::MAX);
        let next = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Page { rows, next }
    }
}

impl<T> Page<T> {
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            rows: self.rows.into_iter().map(f).collect(),
            next: self.next,
        }
    }
}

/// Restricts a boxed query, ordered by `($at DESC, $id DESC)`, to the rows
/// after `$cursor`, with a row-value comparison `(at, id) < (…, …)` that
/// both backends answer with one ordered index range scan, also in
/// PostgreSQL's generic plans (an `a < x OR (a = x AND b < y)` predicate
/// made those fall back to a bitmap scan and a sort). The redundant
/// `$at <= cursor.at` bounds the range for planners that do not use row
/// values as index bounds.
macro_rules! older_than {
    ($query:expr, $at:expr, $id:expr, $cursor:expr) => {
        $crate::repo::keyset_filter!($query, $at, $id, $cursor, le, Older)
    };
}
pub(crate) use older_than;

/// The mirror of [`older_than!`] for lists ordered by `($at ASC, $id ASC)`.
macro_rules! newer_than {
    ($query:expr, $at:expr, $id:expr, $cursor:expr) => {
        $crate::repo::keyset_filter!($query, $at, $id, $cursor, ge, Newer)
    };
}
pub(crate) use newer_than;

macro_rules! keyset_filter {
    ($query:expr, $at:expr, $id:expr, $cursor:expr, $bound:ident, $direction:ident) => {
        match $cursor {
            Some(cursor) => {
                $query
                    .filter($at.$bound(cursor.at))
                    .filter($crate::repo::keyset::RowCompare::<
                        _,
                        _,
                        $crate::repo::keyset::$direction,
                    >::new($at, $id, cursor))
            }
            None => $query,
        }
    };
}
pub(crate) use keyset_filter;
