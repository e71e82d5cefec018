//! The OpenAPI document is a product: committed, current, served, complete.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::both_backends;
use crate::harness::TestApp;

const COMMITTED: &str = "openapi/openapi.json";
const REGENERATE: &str = "cargo run -q -- openapi > openapi/openapi.json";
/// Routes that serve the documentation itself or the operators' metrics
/// rather than the API.
const META_ROUTES: [&str; 4] = [
    "GET /api/v1/openapi.json",
    "GET /docs",
    "GET /docs/{_:.*}",
    "GET /metrics",
];

fn generated() -> Value {
    serde_json::to_value(favorites::router::document()).expect("the document serialises")
}

fn documented_operations(document: &Value) -> BTreeSet<String> {
    let mut operations = BTreeSet::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            operations.insert(format!("{} {path}", method.to_uppercase()));
        }
    }
    operations
}

#[test]
fn committed_document_is_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(root.join(COMMITTED)).unwrap_or_default();
    let generated =
        serde_json::to_string_pretty(&favorites::router::document()).expect("serialise") + "\n";
    assert!(
        committed == generated,
        "{COMMITTED} differs from the document the code generates; regenerate it with `{REGENERATE}`"
    );
}

#[test]
fn document_is_openapi_3_1_with_bearer_security() {
    let document = generated();
    assert!(
        document["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        document["openapi"]
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            assert!(
                operation["operationId"].is_string(),
                "{method} {path} has an operationId"
            );
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/problem+json"]["schema"];
                    assert!(
                        schema.is_object(),
                        "{method} {path} {status} documents a problem+json body"
                    );
                }
            }
        }
    }
}

/// Every `#[get("…")]`-style handler and `.route("…", web::get()…)` in the
/// source, as `METHOD /full/path` (handlers in `src/api/` other than
/// `health.rs` live under `/api/v1`).
fn routes_in_source() -> BTreeSet<String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("src is readable").flatten() {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    let mut routes = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("source is readable");
        let under_api = file.starts_with(root.join("api")) && !file.ends_with("health.rs");
        for line in text.lines().map(str::trim) {
            for method in ["get", "post", "put", "patch", "delete"] {
                if let Some(rest) = line.strip_prefix(&format!("#[{method}(\"")) {
                    let path = rest.split('"').next().unwrap();
                    let prefix = if under_api { "/api/v1" } else { "" };
                    routes.insert(format!("{} {prefix}{path}", method.to_uppercase()));
                }
                if let Some(start) = line.find(".route(\"") {
                    let rest = &line[start + ".route(\"".len()..];
                    let path = rest.split('"').next().unwrap();
                    if rest.contains(&format!("web::{method}()")) {
                        routes.insert(format!("{} {path}", method.to_uppercase()));
                    }
                }
            }
        }
    }
    routes
}

#[test]
fn every_route_is_documented() {
    let documented = documented_operations(&generated());
    let routes = routes_in_source();
    assert!(
        routes.len() >= documented.len(),
        "the source scan found the routes: {routes:?}"
    );
    let missing: Vec<&String> = routes
        .iter()
        .filter(|route| !documented.contains(*route) && !META_ROUTES.contains(&route.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "routes missing from the OpenAPI document: {missing:?}"
    );
}

/// Every documented operation is really served: a request to it is answered
/// by its handler (here: with a bogus id, so nothing changes), never by the
/// fallback that answers unknown routes (404 "nothing is at") or methods (405).
async fn every_documented_operation_is_served(app: TestApp) {
    let token = app.token("doc-reader");
    for operation in documented_operations(&generated()) {
        let (method, template) = operation.split_once(' ').unwrap();
        let path: String = template
            .split('/')
            .map(|segment| {
                if segment.starts_with('{') {
                    "999999"
                } else {
                    segment
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let reply = app.call(method, &path, Some(&token), None).await;
        let body = &reply.body;
        assert_ne!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{operation}: {body}"
        );
        let unrouted = body["detail"]
            .as_str()
            .is_some_and(|detail| detail.starts_with("nothing is at"));
        assert!(
            !unrouted,
            "{operation} is documented but not routed: {body}"
        );
    }
}

async fn document_and_docs_are_served(app: TestApp) {
    let served = app
        .get("/api/v1/openapi.json", None)
        .await
        .assert_status(200)
        .body;
    assert_eq!(served, generated());

    let reply = app.get("/docs", None).await.assert_status(200);
    let page = reply.body.as_str().expect("the page as text");
    assert!(
        page.contains("swagger-ui") && page.contains(r#"<base href="/docs/">"#),
        "{page}"
    );
    let reply = app
        .get("/docs/swagger-initializer.js", None)
        .await
        .assert_status(200);
    assert!(
        reply
            .body
            .as_str()
            .expect("the script as text")
            .contains("/api/v1/openapi.json")
    );
    assert_eq!(
        app.get("/docs/swagger-ui-bundle.js", None).await.status,
        StatusCode::OK,
        "Swagger UI's assets are vendored, served offline"
    );
}

both_backends!(
    every_documented_operation_is_served,
    document_and_docs_are_served
);
