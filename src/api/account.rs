//! The caller's account as a whole: `DELETE /me` erases it (GDPR art. 17),
//! `GET /me/export` hands over everything the service holds about the
//! caller (art. 20).

use actix_web::http::header::{self, CacheControl, CacheDirective};
use actix_web::web::Bytes;
use actix_web::{HttpResponse, delete, get, web};
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::favorites::{FavoriteInterview, favorites_page};
use super::interviews::Interview;
use super::members::Membership;
use super::time::rfc3339;
use super::users::User;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::repo::accounts;
use crate::repo::favorites::list_favorites;
use crate::repo::memberships::{MembershipFilter, list_memberships};
use crate::repo::users::{self, UserRow};
use crate::repo::{Cursor, Page, PageRequest, interviews, now};
use crate::state::AppState;

/// Delete the caller's account and everything it owns.
///
/// Their favorites and memberships go (every `favorites_count` and
/// `members_count` they were part of goes down by one), and so do their
/// interviews, with the favorites others made of them. Memberships they
/// invited stay with `inviter: null`; teams they created stay with
/// `created_by: null` and belong to their members from then on. The work is
/// done in short transactions, each leaving every counter exact; a deletion
/// cut short is finished by the next `DELETE /me`. Users are made on first
/// sight: the next request with the same token subject starts a new, empty
/// account.
#[utoipa::path(
    tag = "users",
    security(("bearer" = [])),
    responses((status = 204, description = "The account is gone (also when there was none)"))
)]
#[delete("/me")]
pub async fn delete_me(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let subject = caller.subject().to_owned();
    let erased = state
        .write(async move |conn| {
            // Not the cached user: the database says whether one exists, and
            // none is created just to be deleted.
            let Some(user) = users::by_subject(conn, &subject).await? else {
                return Ok(None);
            };
            match accounts::delete_user(conn, user.id, &subject).await? {
                Some(erasure) => Ok(Some((user.id, erasure))),
                None => Err(ApiError::Conflict(
                    "the account kept receiving new rows while it was being deleted; retry"
                        .to_owned(),
                )),
            }
        })
        .await;
    // Also after a failure: part of the account may be gone.
    caller.forget();
    if let Some((user_id, erasure)) = erased? {
        tracing::info!(
            user_id,
            deleted = erasure.deleted,
            favorites = erasure.favorites,
            memberships = erasure.memberships,
            interviews = erasure.interviews,
            transactions = erasure.transactions,
            longest_transaction_ms = erasure.longest.as_secs_f64() * 1e3,
            "account deleted"
        );
    }
    Ok(HttpResponse::NoContent().finish())
}

/// Everything the service holds about a user: the body of `GET /me/export`.
/// Each list is complete and in the order of the matching list endpoint.
#[derive(Serialize, ToSchema)]
pub struct AccountExport {
    #[serde(serialize_with = "rfc3339")]
    pub exported_at: DateTime<Utc>,
    pub user: User,
    /// The interviews they wrote, newest first.
    pub interviews: Vec<Interview>,
    /// What they favorited, newest favorite first, with `favorited_at`.
    pub favorites: Vec<FavoriteInterview>,
    /// Their memberships (with inviter, joined date and reason), oldest first.
    pub memberships: Vec<Membership>,
    /// The memberships they invited someone to, oldest first.
    pub invitations: Vec<Membership>,
}

/// Export everything the service holds about the caller.
///
/// Streamed section by section, each read in pages of its own (so an
/// account of any size is never held in memory at once): rows that change
/// while the export runs may or may not be in it. `Cache-Control: no-store`.
#[utoipa::path(
    tag = "users",
    path = "/me/export",
    security(("bearer" = [])),
    responses((status = 200, description = "The caller's data", body = AccountExport))
)]
#[get("/me/export")]
pub async fn export_me(
    caller: Caller,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let user = state
        .read(async move |conn| caller.current_user(conn).await)
        .await?;
    let export = Export {
        state,
        user,
        next: Step::Head,
        written: 0,
    };
    let body = futures_util::stream::unfold(export, async |mut export| {
        let chunk = export.chunk().await?;
        Some((chunk, export))
    });
    Ok(HttpResponse::Ok()
        .content_type("application/json")
        .insert_header(CacheControl(vec![CacheDirective::NoStore]))
        .insert_header((header::VARY, "Authorization"))
        .streaming(body))
}

/// Rows per page of the export's internal reads.
const EXPORT_PAGE: i64 = 500;

/// The export's sections, in the order of [`AccountExport`].
#[derive(Clone, Copy)]
enum Section {
    Interviews,
    Favorites,
    Memberships,
    Invitations,
}

impl Section {
    fn name(self) -> &'static str {
        match self {
            Section::Interviews => "interviews",
            Section::Favorites => "favorites",
            Section::Memberships => "memberships",
            Section::Invitations => "invitations",
        }
    }

    fn following(self) -> Option<Section> {
        match self {
            Section::Interviews => Some(Section::Favorites),
            Section::Favorites => Some(Section::Memberships),
            Section::Memberships => Some(Section::Invitations),
            Section::Invitations => None,
        }
    }
}

enum Step {
    Head,
    Page(Section, Option<Cursor>),
    Done,
}

struct Export {
    state: web::Data<AppState>,
    user: UserRow,
    next: Step,
    /// Items written in the current section (for the commas).
    written: usize,
}

impl Export {
    /// The next piece of the document; `None` after the last. A failed read
    /// ends the stream with an error, which cuts the response short (its
    /// status is long sent), so a client never takes a truncated export for
    /// a whole one.
    async fn chunk(&mut self) -> Option<Result<Bytes, ApiError>> {
        let result = match std::mem::replace(&mut self.next, Step::Done) {
            Step::Head => self.head(),
            Step::Page(section, after) => self.page(section, after).await,
            Step::Done => return None,
        };
        if let Err(error) = &result {
            tracing::warn!(%error, user_id = self.user.id, "an export was cut short");
        }
        Some(result.map(Bytes::from))
    }

    fn head(&mut self) -> Result<Vec<u8>, ApiError> {
        let mut out = br#"{"exported_at":"#.to_vec();
        write_json(&mut out, &now().and_utc())?;
        out.extend_from_slice(br#","user":"#);
        write_json(&mut out, &User::from(self.user.clone()))?;
        self.open(&mut out, Section::Interviews);
        Ok(out)
    }

    fn open(&mut self, out: &mut Vec<u8>, section: Section) {
        out.extend_from_slice(format!(r#","{}":["#, section.name()).as_bytes());
        self.written = 0;
        self.next = Step::Page(section, None);
    }

    async fn page(&mut self, section: Section, after: Option<Cursor>) -> Result<Vec<u8>, ApiError> {
        let user_id = self.user.id;
        let page = PageRequest {
            limit: EXPORT_PAGE,
            after,
        };
        let written = self.written;
        let (mut out, count, next) = self
            .state
            .read(async move |conn| match section {
                Section::Interviews => {
                    let page = interviews::list(conn, Some(user_id), Some(user_id), &page).await?;
                    items(written, page.map(|(row, flag)| Interview::new(row, flag)))
                }
                Section::Favorites => items(
                    written,
                    favorites_page(list_favorites(conn, user_id, Some(user_id), &page).await?),
                ),
                Section::Memberships => {
                    let filter = MembershipFilter::OfUser(user_id);
                    let page = list_memberships(conn, filter, &page).await?;
                    items(written, page.map(Membership::from))
                }
                Section::Invitations => {
                    let filter = MembershipFilter::InvitedBy(user_id);
                    let page = list_memberships(conn, filter, &page).await?;
                    items(written, page.map(Membership::from))
                }
            })
            .await?;
        self.written += count;
        if let Some(cursor) = next {
            self.next = Step::Page(section, Some(cursor));
            return Ok(out);
        }
        out.push(b']');
        match section.following() {
            Some(following) => self.open(&mut out, following),
            None => out.push(b'}'),
        }
        Ok(out)
    }
}

/// A page's items as JSON array elements, after `written` earlier ones.
fn items<T: Serialize>(
    written: usize,
    page: Page<T>,
) -> Result<(Vec<u8>, usize, Option<Cursor>), ApiError> {
    let mut out = Vec::new();
    for (i, item) in page.rows.iter().enumerate() {
        if written + i > 0 {
            out.push(b',');
        }
        write_json(&mut out, item)?;
    }
    Ok((out, page.rows.len(), page.next))
}

fn write_json<T: Serialize>(out: &mut Vec<u8>, value: &T) -> Result<(), ApiError> {
    serde_json::to_writer(out, value).map_err(|error| ApiError::Internal(error.to_string()))
}
