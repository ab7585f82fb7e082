//! Opening a store: the URL picks the backend, a missing SQLite file is created,
//! and failures are clear errors rather than panics.

use std::time::Duration;

use baton_core::ids::RunId;
use baton_core::journal::{Journal, JournalError, NewRun};
use baton_core::status::RunStatus;
use baton_journal::{JournalConfig, Store};
use time::OffsetDateTime;

use crate::support::{config, error_chain, finish, migrated_store, postgres_db, sqlite_db};

#[tokio::test]
async fn an_unsupported_url_is_refused_naming_the_setting() {
    let result = Store::connect(&JournalConfig::new("mysql://root:hunter2@db/baton")).await;

    let Err(error) = result else {
        panic!("a mysql URL must be refused");
    };
    assert!(matches!(error, JournalError::Unavailable(_)), "{error:?}");
    let message = error_chain(&error);
    assert!(message.contains("BATON_DATABASE_URL"), "{message}");
    assert!(!message.contains("hunter2"), "{message}");
}

#[tokio::test]
async fn a_missing_sqlite_file_is_created_in_wal_mode() {
    let db = sqlite_db();
    let path = db.sqlite_path().expect("an SQLite path").to_owned();
    assert!(!path.exists(), "the file does not exist yet");

    let store = migrated_store(&db).await;

    assert!(path.exists(), "connecting created the file");
    let wal = path.with_file_name("baton.db-wal");
    assert!(wal.exists(), "the database is in WAL mode");
    assert_eq!(store.backend_name(), "sqlite");
    assert_eq!(store.display_url(), db.url());
    finish(store, db).await;
}

/// `.cargo/config.toml` builds SQLite without its memory statistics (a global mutex
/// around every allocation, BENCHMARKS.md); a build that lost the setting fails here.
#[tokio::test]
async fn sqlite_is_built_without_memory_statistics() {
    use sqlx::{Connection, SqliteConnection};

    let mut conn = SqliteConnection::connect("sqlite::memory:")
        .await
        .expect("an in-memory SQLite connection");
    let used: bool = sqlx::query_scalar("select sqlite_compileoption_used('DEFAULT_MEMSTATUS=0')")
        .fetch_one(&mut conn)
        .await
        .expect("SQLite's compile options");
    assert!(used, "SQLite was built with its memory statistics on");
    conn.close().await.expect("close");
}

#[tokio::test]
async fn a_missing_sqlite_folder_is_created() {
    let db = sqlite_db();
    let dir = db
        .sqlite_path()
        .expect("an SQLite path")
        .with_file_name("data");
    let path = dir.join("nested").join("baton.db");
    let url = format!("sqlite://{}", path.display());

    let store = Store::connect(&JournalConfig::for_tests(url))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");

    assert!(path.exists(), "connecting created the folder and the file");
    store.close().await;
    db.cleanup().await.expect("remove the test database");
}

#[tokio::test]
async fn an_in_memory_sqlite_store_works() {
    let store = Store::connect(&JournalConfig::for_tests("sqlite::memory:"))
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let run = NewRun {
        id: RunId::new(),
        tenant: None,
        request: serde_json::json!({"prompt": "hi"}).into(),
        idempotency_key: None,
        request_hash: None,
        status: RunStatus::Queued,
        created_at: OffsetDateTime::now_utc(),
    };

    store.create_run(&run, &[]).await.expect("create_run");

    // Reads share the one connection with the writer, which must not keep it
    // between batches (a writer gives an idle connection back only after 1 s): a
    // bound, not a measurement.
    let read = tokio::time::timeout(Duration::from_millis(500), async {
        (store.ready().await, store.get_run(run.id, None).await)
    });
    let (ready, stored) = read.await.expect("the reads did not wait for the writer");
    assert!(ready.expect("ready"));
    let stored = stored.expect("get_run");
    assert_eq!(stored.map(|stored| stored.id), Some(run.id));
    store.close().await;
}

#[tokio::test]
async fn an_unreachable_postgres_server_is_unavailable() {
    let mut config = JournalConfig::for_tests("postgres://postgres:hunter2@127.0.0.1:1/baton");
    config.acquire_timeout_ms = 2_000;

    let result = Store::connect(&config).await;

    let Err(error) = result else {
        panic!("nothing listens on port 1");
    };
    assert!(matches!(error, JournalError::Unavailable(_)), "{error:?}");
    assert!(!error_chain(&error).contains("hunter2"));
}

#[tokio::test]
async fn a_postgres_store_names_its_backend() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let store = Store::connect(&config(&db)).await.expect("connect");

    assert_eq!(store.backend_name(), "postgres");
    assert_eq!(store.display_url(), db.url());
    finish(store, db).await;
}
