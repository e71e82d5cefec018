//! Keyset pagination: `limit`, opaque cursors, `Link: rel="next"`, stable
//! pages while rows are added, and ties on the ordering timestamp.

use std::collections::HashSet;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_backends;
use crate::harness::{Reply, TestApp};

const INTERVIEWS: &str = "/api/v1/interviews";

/// One page of `path` with these query parameters.
async fn page(app: &TestApp, path: &str, token: Option<&str>, query: &[(&str, &str)]) -> Reply {
    let reply = app
        .send(app.request(Method::GET, path, token).query(query))
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "GET {path} {query:?}: {}",
        reply.body
    );
    reply
}

/// The target of a `Link: <url>; rel="next"` header, if there is one.
fn next_link(reply: &Reply) -> Option<String> {
    let link = reply
        .headers
        .get("link")?
        .to_str()
        .expect("a text Link header");
    let url = link
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix(r#">; rel="next""#))
        .unwrap_or_else(|| panic!("a Link to the next page, got `{link}`"));
    Some(url.to_owned())
}

fn items(reply: &Reply) -> &Vec<Value> {
    reply.body["items"]
        .as_array()
        .unwrap_or_else(|| panic!("a page: {}", reply.body))
}

fn ids_at(reply: &Reply, pointer: &str) -> Vec<i64> {
    items(reply)
        .iter()
        .map(|item| {
            item.pointer(pointer)
                .and_then(Value::as_i64)
                .expect("an id")
        })
        .collect()
}

/// Walks a list from its first page by following `next_cursor`; returns the
/// pages. Checks on the way that `Link` and `next_cursor` agree.
async fn walk(app: &TestApp, path: &str, token: Option<&str>, limit: &str) -> Vec<Reply> {
    let mut pages = vec![page(app, path, token, &[("limit", limit)]).await];
    loop {
        let last = pages.last().unwrap();
        let Some(cursor) = last.body["next_cursor"].as_str().map(str::to_owned) else {
            assert!(last.body["next_cursor"].is_null(), "{}", last.body);
            assert_eq!(next_link(last), None, "no Link on the last page");
            return pages;
        };
        assert!(
            !items(last).is_empty(),
            "a page with a next cursor has rows"
        );
        let link = next_link(last).expect("a Link header when there is a next page");
        let next = page(app, path, token, &[("limit", limit), ("cursor", &cursor)]).await;
        let mut request = app.client.get(&link);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let via_link = app.send(request).await;
        assert_eq!(via_link.status, StatusCode::OK, "{link}: {}", via_link.body);
        assert_eq!(
            via_link.body, next.body,
            "the Link URL gives the same page as next_cursor"
        );
        pages.push(next);
        assert!(pages.len() <= 1000, "the walk ends");
    }
}

fn walked_ids(pages: &[Reply], pointer: &str) -> Vec<i64> {
    pages
        .iter()
        .flat_map(|reply| ids_at(reply, pointer))
        .collect()
}

#[track_caller]
fn assert_no_repeats(ids: &[i64]) {
    let unique: HashSet<i64> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "no row twice: {ids:?}");
}

/// Creates `n` interviews; returns their ids, newest first.
async fn interviews(app: &TestApp, token: &str, n: usize) -> Vec<i64> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(app.interview(token, &format!("Interview {i}")).await);
    }
    ids.reverse();
    ids
}

async fn walking_45_rows_in_pages_of_20(app: TestApp) {
    let author = app.token("author");
    let all = interviews(&app, &author, 45).await;

    let pages = walk(&app, INTERVIEWS, None, "20").await;
    let sizes: Vec<usize> = pages.iter().map(|reply| items(reply).len()).collect();
    assert_eq!(sizes, [20, 20, 5]);
    assert_eq!(
        walked_ids(&pages, "/id"),
        all,
        "every row once, newest first"
    );
    assert!(pages[0].body["next_cursor"].is_string() && pages[1].body["next_cursor"].is_string());

    let default = page(&app, INTERVIEWS, None, &[]).await;
    assert_eq!(
        ids_at(&default, "/id"),
        all[..20],
        "the default limit is 20"
    );
    let link = next_link(&default).expect("a Link header");
    assert!(link.contains("cursor="), "{link}");
}

async fn pages_stay_consistent_while_rows_are_added(app: TestApp) {
    let author = app.token("author");
    let all = interviews(&app, &author, 45).await;

    let first = page(&app, INTERVIEWS, None, &[("limit", "20")]).await;
    let newer = interviews(&app, &author, 5).await;
    let mut seen = ids_at(&first, "/id");
    let mut cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    loop {
        let next = page(
            &app,
            INTERVIEWS,
            None,
            &[("limit", "20"), ("cursor", &cursor)],
        )
        .await;
        seen.extend(ids_at(&next, "/id"));
        match next.body["next_cursor"].as_str() {
            Some(next_cursor) => cursor = next_cursor.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        seen, all,
        "rows added after page 1 neither shift nor repeat the later pages"
    );

    let fresh = walk(&app, INTERVIEWS, None, "20").await;
    assert_eq!(
        walked_ids(&fresh, "/id"),
        [newer, all].concat(),
        "a new walk sees the new rows first"
    );
}

async fn an_exactly_full_last_page_has_no_next_cursor(app: TestApp) {
    let author = app.token("author");
    let all = interviews(&app, &author, 40).await;
    let pages = walk(&app, INTERVIEWS, None, "20").await;
    assert_eq!(pages.len(), 2, "no empty third page");
    assert_eq!(items(&pages[1]).len(), 20);
    assert_eq!(pages[1].body["next_cursor"], Value::Null);
    assert_eq!(walked_ids(&pages, "/id"), all);
}

async fn a_cursor_may_be_reused_with_another_limit(app: TestApp) {
    let author = app.token("author");
    let all = interviews(&app, &author, 45).await;
    let first = page(&app, INTERVIEWS, None, &[("limit", "20")]).await;
    let cursor = first.body["next_cursor"].as_str().unwrap();

    let small = page(
        &app,
        INTERVIEWS,
        None,
        &[("limit", "5"), ("cursor", cursor)],
    )
    .await;
    assert_eq!(ids_at(&small, "/id"), all[20..25]);
    assert!(small.body["next_cursor"].is_string());
    let large = page(
        &app,
        INTERVIEWS,
        None,
        &[("limit", "100"), ("cursor", cursor)],
    )
    .await;
    assert_eq!(ids_at(&large, "/id"), all[20..]);
    assert_eq!(large.body["next_cursor"], Value::Null);
    let again = page(
        &app,
        INTERVIEWS,
        None,
        &[("limit", "20"), ("cursor", cursor)],
    )
    .await;
    assert_eq!(
        ids_at(&again, "/id"),
        all[20..40],
        "a cursor can be used again"
    );
}

async fn a_filtered_walk_keeps_its_filter(app: TestApp) {
    let ada = app.token("ada");
    let bob = app.token("bob");
    let mut adas = Vec::new();
    for i in 0..5 {
        adas.push(app.interview(&ada, &format!("ada {i}")).await);
        app.interview(&bob, &format!("bob {i}")).await;
    }
    adas.reverse();
    let ada_id = app.user_id(&ada).await;
    let path = format!("{INTERVIEWS}?author_id={ada_id}");
    let pages = walk(&app, &path, None, "2").await;
    assert_eq!(pages.len(), 3);
    assert!(
        next_link(&pages[0])
            .unwrap()
            .contains(&format!("author_id={ada_id}")),
        "the Link keeps the filter"
    );
    assert_eq!(walked_ids(&pages, "/id"), adas);
}

/// The `Link` is built from the host and scheme the request names, which
/// a client controls: a value that is no URL authority or scheme makes it
/// relative (never a panic), a good one is used as it came.
async fn the_next_link_survives_any_host_a_client_sends(app: TestApp) {
    let ada = app.token("ada");
    for i in 0..3 {
        app.interview(&ada, &format!("ada {i}")).await;
    }
    let expected = page(&app, INTERVIEWS, None, &[("limit", "1")]).await;
    let cursor = expected.body["next_cursor"].as_str().unwrap().to_owned();
    let relative = format!("{INTERVIEWS}?limit=1&cursor={cursor}");
    for (header, value, link) in [
        ("host", "a b", relative.clone()),
        ("host", "user@example.com", relative.clone()),
        ("x-forwarded-host", "a%b", relative.clone()),
        ("x-forwarded-proto", "ja vascript", relative.clone()),
        ("forwarded", "host=\"x y\"", relative.clone()),
        (
            "host",
            "example.com:8080",
            format!("http://example.com:8080{relative}"),
        ),
        (
            "x-forwarded-proto",
            "HTTPS",
            format!("https{}{relative}", app.base.trim_start_matches("http")),
        ),
    ] {
        let request = app
            .request(Method::GET, INTERVIEWS, None)
            .query(&[("limit", "1")])
            .header(header, value);
        let reply = app.send(request).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{header}: {value}: {}",
            reply.body
        );
        assert_eq!(next_link(&reply), Some(link), "{header}: {value}");
    }
    let via_relative = app.get(&relative, None).await;
    assert_eq!(via_relative.status, StatusCode::OK, "{}", via_relative.body);
    assert_ne!(
        via_relative.body["items"], expected.body["items"],
        "the next page"
    );
}

/// Adds a favorite row straight in the database with a chosen timestamp,
/// keeping `favorites_count` right.
fn favorite_at(app: &TestApp, user_id: i64, interview_id: i64, at: &str) {
    app.execute(&format!("INSERT INTO favorite_interviews (user_id, interview_id, created_at) VALUES ({user_id}, {interview_id}, '{at}')"));
    app.execute(&format!(
        "UPDATE interviews SET favorites_count = favorites_count + 1 WHERE id = {interview_id}"
    ));
}

async fn equal_timestamps_in_a_users_favorites(app: TestApp) {
    let author = app.token("author");
    let fan = app.token("fan");
    let fan_id = app.user_id(&fan).await;
    let all = interviews(&app, &author, 9).await;
    // Three favorites share a later second, six an earlier one; the ids interleave.
    let (later, earlier): (Vec<i64>, Vec<i64>) = all.iter().partition(|id| *id % 3 == 0);
    for id in &later {
        favorite_at(&app, fan_id, *id, "2026-01-02 00:00:00");
    }
    for id in &earlier {
        favorite_at(&app, fan_id, *id, "2026-01-01 00:00:00");
    }

    for (path, token) in [
        (format!("/api/v1/users/{fan_id}/favorites"), None),
        ("/api/v1/favorites".to_owned(), Some(fan.as_str())),
    ] {
        let pages = walk(&app, &path, token, "2").await;
        assert_eq!(pages.len(), 5, "{path}: 9 rows in pages of 2");
        let seen = walked_ids(&pages, "/interview/id");
        assert_no_repeats(&seen);
        assert_eq!(seen.len(), all.len(), "{path}: no row skipped: {seen:?}");
        let head: HashSet<i64> = seen[..later.len()].iter().copied().collect();
        assert_eq!(
            head,
            later.iter().copied().collect(),
            "{path}: newest favorites first"
        );
        let times: Vec<&str> = pages
            .iter()
            .flat_map(|reply| {
                items(reply)
                    .iter()
                    .map(|item| item["favorited_at"].as_str().unwrap())
            })
            .collect();
        assert_eq!(times[0], "2026-01-02T00:00:00Z");
        assert_eq!(times[8], "2026-01-01T00:00:00Z");
    }
}

async fn equal_timestamps_in_an_interviews_favorited_by(app: TestApp) {
    let author = app.token("author");
    let id = app.interview(&author, "Popular").await;
    let mut fans = Vec::new();
    for i in 0..7 {
        fans.push(app.user_id(&app.token(&format!("fan-{i}"))).await);
    }
    for fan in &fans {
        favorite_at(&app, *fan, id, "2026-01-01 00:00:00");
    }
    let pages = walk(&app, &format!("{INTERVIEWS}/{id}/favorited-by"), None, "2").await;
    assert_eq!(
        pages
            .iter()
            .map(|reply| items(reply).len())
            .collect::<Vec<_>>(),
        [2, 2, 2, 1]
    );
    let seen = walked_ids(&pages, "/user/id");
    assert_no_repeats(&seen);
    let seen: HashSet<i64> = seen.into_iter().collect();
    assert_eq!(seen, fans.into_iter().collect(), "every fan once");
}

/// Every list, each holding one row, and a token that may read them all.
async fn lists(app: &TestApp) -> (Vec<String>, String) {
    let token = app.token("lister");
    let id = app.interview(&token, "x").await;
    let user = app.user_id(&token).await;
    let favorite = format!("/api/v1/favorites/{id}");
    app.call(Method::PUT, &favorite, Some(&token), None)
        .await
        .assert_status(201);
    let paths = vec![
        INTERVIEWS.to_owned(),
        format!("/api/v1/users/{user}/favorites"),
        format!("{INTERVIEWS}/{id}/favorited-by"),
        "/api/v1/favorites".to_owned(),
    ];
    (paths, token)
}

async fn limit_must_be_1_to_100(app: TestApp) {
    let (paths, token) = lists(&app).await;
    let counts = app.snapshot();
    for path in &paths {
        for good in ["1", "100"] {
            page(&app, path, Some(&token), &[("limit", good)]).await;
        }
        let ignored = page(
            &app,
            path,
            Some(&token),
            &[("foo", "bar"), ("order", "asc")],
        )
        .await;
        assert_eq!(items(&ignored).len(), 1, "unknown parameters are ignored");
        for bad in ["0", "101", "-1", "99999999999999999999", "abc", "2.5"] {
            let reply = app
                .send(
                    app.request(Method::GET, path, Some(&token))
                        .query(&[("limit", bad)]),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{path}?limit={bad}: {}",
                reply.body
            );
            reply.assert_problem(400, "invalid_query");
        }
    }
    assert_eq!(app.snapshot(), counts);
}

async fn garbage_cursors_are_400_invalid_cursor(app: TestApp) {
    let (paths, token) = lists(&app).await;
    let counts = app.snapshot();
    let garbage = [
        "x".to_owned(),
        "!!!".to_owned(),
        URL_SAFE_NO_PAD.encode("junk that is no cursor"),
        URL_SAFE_NO_PAD.encode("v1:not-a-time:1"),
        URL_SAFE_NO_PAD.encode("v1:0:0"),
        URL_SAFE_NO_PAD.encode("v9:0:1"),
        "A".repeat(4000),
    ];
    for path in &paths {
        for cursor in &garbage {
            let reply = app
                .send(
                    app.request(Method::GET, path, Some(&token))
                        .query(&[("cursor", cursor)]),
                )
                .await;
            assert_eq!(
                reply.status,
                StatusCode::BAD_REQUEST,
                "{path}?cursor={cursor}: {}",
                reply.body
            );
            reply.assert_problem(400, "invalid_cursor");
        }
    }
    assert_eq!(app.snapshot(), counts);
}

/// `?cursor=` (empty) is the first page, as a client that builds
/// `?cursor=${next ?? ""}` expects.
async fn an_empty_cursor_is_the_first_page(app: TestApp) {
    let (paths, token) = lists(&app).await;
    for path in &paths {
        let first = page(&app, path, Some(&token), &[("limit", "2")]).await;
        let empty = page(&app, path, Some(&token), &[("limit", "2"), ("cursor", "")]).await;
        assert_eq!(empty.body, first.body, "{path}?cursor=");
        assert!(!items(&first).is_empty(), "{path} has rows");
    }
}

both_backends!(
    an_empty_cursor_is_the_first_page,
    walking_45_rows_in_pages_of_20,
    pages_stay_consistent_while_rows_are_added,
    an_exactly_full_last_page_has_no_next_cursor,
    a_cursor_may_be_reused_with_another_limit,
    a_filtered_walk_keeps_its_filter,
    the_next_link_survives_any_host_a_client_sends,
    equal_timestamps_in_a_users_favorites,
    equal_timestamps_in_an_interviews_favorited_by,
    limit_must_be_1_to_100,
    garbage_cursors_are_400_invalid_cursor,
);
