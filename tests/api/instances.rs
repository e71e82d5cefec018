//! Many instances on one PostgreSQL database: what they share.

use favorites::db::Backend;
use reqwest::StatusCode;

use crate::harness::{SECRET_TEXT, Server, TestDatabase, count_at, mint, token};

async fn me(server: &Server, token: &str) -> StatusCode {
    reqwest::Client::new()
        .get(format!("{}/api/v1/me", server.base))
        .bearer_auth(token)
        .send()
        .await
        .expect("the server answers")
        .status()
}

#[actix_web::test]
async fn postgres_instances_without_a_secret_share_the_one_they_generated() {
    // Three "machines" (working directories, so three ./data), one
    // database, no JWT_SECRET and no external keys.
    let database = TestDatabase::create(Backend::Postgres);
    let machines: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let unset = [("JWT_SECRET", "")];
    let first = Server::start_in(machines[0].path(), &database.url, &unset);
    let second = Server::start_in(machines[1].path(), &database.url, &unset);

    // `favorites token` on a third machine signs with the same secret.
    let minted = mint(machines[2].path(), &database.url, "ada");
    assert_eq!(me(&first, &minted).await, StatusCode::OK);
    assert_eq!(me(&second, &minted).await, StatusCode::OK);
    // And it is theirs, not some fixed one.
    assert_eq!(me(&first, &token("ada")).await, StatusCode::UNAUTHORIZED);

    // A restart keeps it.
    drop(second);
    let second = Server::start_in(machines[1].path(), &database.url, &unset);
    assert_eq!(me(&second, &minted).await, StatusCode::OK);

    assert_eq!(
        count_at(
            Backend::Postgres,
            &database.url,
            "SELECT count(*) AS n FROM server_secrets"
        ),
        1
    );
    for machine in &machines {
        assert!(
            !machine.path().join("data").exists(),
            "no secret file on {}",
            machine.path().display()
        );
    }
}

#[actix_web::test]
async fn postgres_a_secret_file_from_before_seeds_the_shared_secret() {
    // A server that generated ./data/jwt-secret before the secret moved into
    // the database keeps its tokens valid: the file seeds the database.
    let database = TestDatabase::create(Backend::Postgres);
    let machine = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(machine.path().join("data")).unwrap();
    std::fs::write(machine.path().join("data/jwt-secret"), SECRET_TEXT).unwrap();
    let server = Server::start_in(machine.path(), &database.url, &[("JWT_SECRET", "")]);
    assert_eq!(me(&server, &token("ada")).await, StatusCode::OK);
    assert_eq!(
        count_at(
            Backend::Postgres,
            &database.url,
            &format!("SELECT count(*) AS n FROM server_secrets WHERE value = '{SECRET_TEXT}'")
        ),
        1
    );
}
