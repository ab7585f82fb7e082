//! `TestDb` hands out fresh databases and removes them afterwards, even when a
//! test ends without cleaning up.

use sqlx::Connection;

use baton_journal::TestDb;

use crate::support::postgres_admin_url;

#[tokio::test]
async fn a_sqlite_test_db_removes_its_folder_on_cleanup() {
    let db = TestDb::sqlite().expect("a temporary SQLite file");
    let folder = db
        .sqlite_path()
        .and_then(|path| path.parent())
        .expect("the file's folder")
        .to_owned();
    assert!(folder.exists());
    assert_eq!(db.backend_name(), "sqlite");

    db.cleanup().await.expect("cleanup");

    assert!(!folder.exists(), "the folder is gone");
}

#[tokio::test]
async fn each_postgres_test_db_is_new_and_is_dropped_even_without_cleanup() {
    let Some(admin_url) = postgres_admin_url() else {
        return;
    };
    let first = TestDb::postgres(&admin_url).await.expect("a test database");
    let second = TestDb::postgres(&admin_url)
        .await
        .expect("another test database");
    let first_name = database_name(first.url());
    assert_ne!(first_name, database_name(second.url()));
    assert!(first_name.starts_with("baton_test_"), "{first_name}");
    assert!(database_exists(&admin_url, &first_name).await);

    second.cleanup().await.expect("cleanup");
    drop(first);

    assert!(
        !database_exists(&admin_url, &first_name).await,
        "dropped on drop"
    );
}

fn database_name(url: &str) -> String {
    url.rsplit('/').next().unwrap_or_default().to_owned()
}

#[expect(
    clippy::expect_used,
    reason = "a test helper: a failed expectation is a failed test"
)]
async fn database_exists(admin_url: &str, name: &str) -> bool {
    let mut admin = sqlx::PgConnection::connect(admin_url)
        .await
        .expect("connect to the admin database");
    let exists: bool =
        sqlx::query_scalar("select exists (select 1 from pg_database where datname = $1)")
            .bind(name)
            .fetch_one(&mut admin)
            .await
            .expect("query pg_database");
    admin.close().await.expect("close");
    exists
}
