//! The embedded default keeps every acknowledged write through a power loss:
//! the server's SQLite connections commit with `synchronous = FULL` unless
//! the operator trades that for speed (`SQLITE_SYNCHRONOUS=normal`).

use diesel::QueryableByName;
use diesel::sql_types::Integer;
use diesel_async::RunQueryDsl;
use favorites::config::RawSettings;
use favorites::db::Access;
use favorites::error::ApiError;

#[derive(QueryableByName)]
struct Level {
    #[diesel(sql_type = Integer)]
    synchronous: i32,
}

/// `PRAGMA synchronous` on a connection of the pool `serve` would open with
/// this setting: 2 is FULL, 1 is NORMAL.
async fn level_with(setting: Option<&str>) -> i32 {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = RawSettings {
        database_url: Some(dir.path().join("favorites.db").display().to_string()),
        jwt_secret: Some("a test secret of at least 32 bytes!!".to_owned()),
        sqlite_synchronous: setting.map(str::to_owned),
        ..RawSettings::default()
    }
    .validate()
    .expect("valid settings");
    let database = favorites::startup::open_database(&settings).expect("the database opens");
    database
        .run(Access::Write, async |conn| {
            let level: Level = favorites::on_backend!(conn, |c| {
                diesel::sql_query("PRAGMA synchronous").get_result(c).await
            })?;
            Ok::<_, ApiError>(level.synchronous)
        })
        .await
        .expect("PRAGMA synchronous")
}

#[actix_web::test]
async fn sqlite_commits_reach_the_disk_before_they_are_acknowledged() {
    assert_eq!(level_with(None).await, 2, "FULL by default");
    assert_eq!(level_with(Some("full")).await, 2);
    assert_eq!(
        level_with(Some("normal")).await,
        1,
        "NORMAL only when asked"
    );
}
