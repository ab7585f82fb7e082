//! Fresh databases and stores for each test.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use std::io::Write;
use std::sync::Once;

use baton_journal::{JournalConfig, Store, TestDb};

/// The variable that turns the PostgreSQL half on: an admin URL of a server where
/// the user may create databases, e.g. `postgres://postgres@127.0.0.1:5432/postgres`.
pub(crate) const POSTGRES_URL_VAR: &str = "BATON_TEST_DATABASE_URL";

static SKIP_NOTICE: Once = Once::new();

/// The PostgreSQL admin URL, or `None` (after saying once that the PostgreSQL half
/// is skipped) when the variable is unset.
pub(crate) fn postgres_admin_url() -> Option<String> {
    #[expect(clippy::disallowed_methods, reason = "a test reads its own setting")]
    let url = std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty());
    if url.is_none() {
        SKIP_NOTICE.call_once(|| {
            // Straight to stderr, past the test harness's capture, so it is seen.
            let _ = writeln!(
                std::io::stderr(),
                "baton-journal: {POSTGRES_URL_VAR} is not set, so the PostgreSQL half of the tests was skipped"
            );
        });
    }
    url
}

/// A fresh SQLite database.
pub(crate) fn sqlite_db() -> TestDb {
    TestDb::sqlite().expect("a temporary SQLite file")
}

/// A fresh PostgreSQL database, or `None` when the PostgreSQL half is off. When it
/// is on, an unreachable server fails the test.
pub(crate) async fn postgres_db() -> Option<TestDb> {
    let admin_url = postgres_admin_url()?;
    let db = TestDb::postgres(&admin_url).await.unwrap_or_else(|error| {
        panic!(
            "{POSTGRES_URL_VAR} is set but no test database could be created: {}",
            error_chain(&error)
        )
    });
    Some(db)
}

/// A fresh SQLite database and, when the PostgreSQL half is on, a fresh PostgreSQL one.
pub(crate) async fn both_dbs() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db()];
    dbs.extend(postgres_db().await);
    dbs
}

/// A connected, migrated store on a test database.
pub(crate) async fn migrated_store(db: &TestDb) -> Store {
    let store = Store::connect(&config(db))
        .await
        .unwrap_or_else(|error| panic!("connect: {}", error_chain(&error)));
    store
        .migrate()
        .await
        .unwrap_or_else(|error| panic!("migrate: {}", error_chain(&error)));
    store
}

/// The test configuration for a test database.
pub(crate) fn config(db: &TestDb) -> JournalConfig {
    JournalConfig::for_tests(db.url())
}

/// Closes the store and removes its database.
pub(crate) async fn finish(store: Store, db: TestDb) {
    store.close().await;
    db.cleanup().await.expect("remove the test database");
}

/// An error with its sources, one after another.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
