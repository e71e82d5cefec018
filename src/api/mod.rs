//! HTTP handlers and representations, one module per resource, and the
//! pieces they share: path parameters, pagination and text fields.

pub mod account;
pub mod favorites;
pub mod health;
pub mod idempotency;
pub mod interviews;
pub mod members;
pub mod pagination;
pub mod params;
pub mod teams;
pub mod text;
pub mod time;
pub mod users;

use utoipa_actix_web::service_config::ServiceConfig;

/// Registers every `/api/v1` operation; `utoipa-actix-web` collects each one
/// into the OpenAPI document with its prefix (the document orders them by
/// path, not by this list).
///
/// actix tries the routes in this order, matching each path with a parameter
/// by a regular expression until one fits (5 % of the server's CPU on a
/// favorited-by page, tried after nine others): the reads clients make most
/// come first. No two of these paths match the same request path, so the
/// order decides nothing else.
pub fn configure(cfg: &mut ServiceConfig) {
    cfg.service(interviews::get_interview)
        .service(favorites::list_favorited_by)
        .service(favorites::list_my_favorites)
        .service(interviews::list_interviews)
        .service(favorites::list_user_favorites)
        .service(favorites::get_favorite)
        .service(favorites::put_favorite)
        .service(favorites::delete_favorite)
        .service(favorites::toggle_favorite)
        .service(users::get_me)
        .service(account::delete_me)
        .service(account::export_me)
        .service(users::get_user)
        .service(interviews::create_interview)
        .service(interviews::update_interview)
        .service(interviews::delete_interview)
        .service(teams::create_team)
        .service(teams::list_teams)
        .service(teams::get_team)
        .service(members::list_members)
        .service(members::put_member)
        .service(members::delete_member)
        .service(members::list_user_teams)
        .service(members::list_user_invitations);
}
