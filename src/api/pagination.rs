//! The one pagination helper: `?limit=&cursor=` in, `{"items", "next_cursor"}`
//! plus a `Link: rel="next"` header out. Cursors are opaque to clients.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::http::uri::Authority;
use actix_web::{FromRequest, HttpMessage, HttpRequest, HttpResponse, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::DateTime;
use serde::{Deserialize, Serialize};
use utoipa::IntoParams;

use crate::auth::Credentials;
use crate::db::Conn;
use crate::error::ApiError;
use crate::repo::{Cursor, Page, PageRequest};
use crate::state::{AppState, Reader};

pub const DEFAULT_LIMIT: i64 = 20;
pub const MAX_LIMIT: i64 = 100;

/// Cursor format version; a cursor of another version is rejected.
const CURSOR_VERSION: &str = "v1";

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Rows per page, 1 to 100.
    #[param(minimum = 1, maximum = 100, default = 20)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page; may be reused with another `limit`.
    /// Opaque: a cursor this service did not issue is 400 `invalid_cursor`.
    /// Empty (`cursor=`) is the first page, like no cursor.
    #[param(format = "cursor")]
    pub cursor: Option<String>,
}

impl PageQuery {
    /// The validated page request: `limit` outside 1..=100 is `invalid_query`,
    /// a cursor this service did not issue is `invalid_cursor`; an empty
    /// cursor asks for the first page (a client that builds
    /// `?cursor=${next ?? ""}` must get its first page, not a 400).
    pub fn request(&self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::InvalidQuery(format!(
                "limit must be between 1 and {MAX_LIMIT}, got {limit}"
            )));
        }
        let after = self
            .cursor
            .as_deref()
            .filter(|cursor| !cursor.is_empty())
            .map(decode_cursor)
            .transpose()?;
        Ok(PageRequest { limit, after })
    }
}

pub fn encode_cursor(cursor: &Cursor) -> String {
    let micros = cursor.at.and_utc().timestamp_micros();
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}:{micros}:{}", cursor.id))
}

pub fn decode_cursor(text: &str) -> Result<Cursor, ApiError> {
    let invalid = || {
        ApiError::InvalidCursor(
            "cursor is not one this service issued; use next_cursor from a previous page"
                .to_owned(),
        )
    };
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.split(':');
    let (Some(CURSOR_VERSION), Some(micros), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    let micros: i64 = micros.parse().map_err(|_| invalid())?;
    let id: i64 = id.parse().map_err(|_| invalid())?;
    let at = DateTime::from_timestamp_micros(micros)
        .ok_or_else(invalid)?
        .naive_utc();
    if id <= 0 {
        return Err(invalid());
    }
    Ok(Cursor { at, id })
}

/// A page of a list, as every list endpoint answers it. The document
/// describes each kind of page by a schema of its own, below.
#[derive(Debug, Serialize)]
pub struct PageOf<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// Declares the document's schema for a page of `$item`, named `$name`.
/// (utoipa inlines the type argument of a generic schema such as `PageOf<T>`,
/// which would give generated clients a second, anonymous copy of every item
/// type; these schemas refer to the item's own component instead.)
macro_rules! page_schema {
    ($rust:ident, $name:ident, $item:ty, $doc:literal) => {
        #[doc = $doc]
        #[derive(utoipa::ToSchema)]
        #[schema(as = $name)]
        #[allow(dead_code)]
        pub struct $rust {
            pub items: Vec<$item>,
            /// Pass as `cursor` to get the next page; `null` exactly when no rows follow.
            #[schema(required = true)]
            pub next_cursor: Option<String>,
        }
    };
}
pub(crate) use page_schema;

/// The one shape of every list endpoint, as an extractor: `?limit=&cursor=`
/// validated (400 `invalid_query` / `invalid_cursor`), and what answering
/// needs (the request for the `Link` URL, the state for the database).
/// Handlers declare `params(PageQuery)` for the document.
pub struct Listing {
    req: HttpRequest,
    page: PageRequest,
    state: web::Data<AppState>,
    /// Anonymous lists may be read from a replica.
    reader: Reader,
}

impl FromRequest for Listing {
    type Error = actix_web::Error;
    type Future = Ready<Result<Listing, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let query = web::Query::<PageQuery>::from_request(req, payload).into_inner();
        let listing = query.and_then(|query| {
            let page = query.request()?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| {
                    ApiError::Internal("application state is not configured".to_owned())
                })?;
            let anonymous = matches!(
                req.extensions().get::<Credentials>(),
                Some(Credentials::Anonymous)
            );
            Ok(Listing {
                req: req.clone(),
                page,
                state,
                reader: if anonymous {
                    Reader::Anonymous
                } else {
                    Reader::Authenticated
                },
            })
        });
        ready(listing)
    }
}

impl Listing {
    /// Reads the page with `work` on a pooled connection and answers it
    /// with [`respond`].
    pub async fn respond<T, F>(self, work: F) -> Result<HttpResponse, ApiError>
    where
        T: Serialize + Send + 'static,
        F: for<'c> AsyncFn(&mut Conn<'c>, &PageRequest) -> Result<Page<T>, ApiError>
            + Send
            + 'static,
    {
        let page = self.page;
        let rows = self
            .state
            .read_for(self.reader, async move |conn| work(conn, &page).await)
            .await?;
        Ok(respond(&self.req, rows))
    }
}

/// `<…>; rel="next"`: this request's URL with its query but `cursor=cursor`.
/// Absolute, from the scheme and host the request was made to (as actix
/// reads them: `Forwarded`, `X-Forwarded-Proto`/`-Host`, else `Host`),
/// when they are a URL's scheme and authority; else relative to the
/// request, which RFC 8288 allows. Whatever a client puts in those headers,
/// the header is a valid URI reference (`HttpRequest::full_url` panics on
/// a host it cannot parse).
fn next_link(req: &HttpRequest, cursor: &str) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(req.query_string().as_bytes()) {
        if key != "cursor" {
            query.append_pair(&key, &value);
        }
    }
    query.append_pair("cursor", cursor);
    let path = format!("{}?{}", req.path(), query.finish());
    let info = req.connection_info();
    let scheme = info.scheme().to_ascii_lowercase();
    let host = info.host();
    let authority_only = !host.contains('@') && host.parse::<Authority>().is_ok();
    if matches!(scheme.as_str(), "http" | "https") && authority_only {
        format!("<{scheme}://{host}{path}>; rel=\"next\"")
    } else {
        format!("<{path}>; rel=\"next\"")
    }
}

/// Answers 200 with the page, and a `Link: <…>; rel="next"` header carrying
/// the request's own query with the next cursor when there is a next page.
fn respond<T: Serialize>(req: &HttpRequest, page: Page<T>) -> HttpResponse {
    let next_cursor = page.next.as_ref().map(encode_cursor);
    let mut response = HttpResponse::Ok();
    if let Some(cursor) = &next_cursor {
        response.insert_header((header::LINK, next_link(req, cursor)));
    }
    response.json(PageOf {
        items: page.rows,
        next_cursor,
    })
}
