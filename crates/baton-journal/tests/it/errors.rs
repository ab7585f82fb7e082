//! How the stores report failed writes: a write the database refuses as invalid
//! is `Corrupt` (a bug; retrying cannot help), never `Unavailable`.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use baton_core::event::{Event, EventPayload};
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{Commit, Journal, JournalError, NewRun};
use baton_core::status::RunStatus;
use baton_journal::{Store, TestDb};
use time::OffsetDateTime;

use crate::support::{both_dbs, finish, migrated_store, postgres_db, sqlite_db};

fn new_run() -> NewRun {
    NewRun {
        id: RunId::new(),
        tenant: None,
        request: serde_json::json!({"prompt": "hi"}).into(),
        idempotency_key: None,
        request_hash: None,
        status: RunStatus::Queued,
        created_at: OffsetDateTime::now_utc(),
    }
}

fn delta(run_id: RunId, seq: u64, text: &str) -> Event {
    Event {
        run_id,
        seq,
        ts: OffsetDateTime::now_utc(),
        payload: EventPayload::TaskDelta {
            task_id: TaskId::parse("a").expect("a task id"),
            text: text.to_owned(),
        },
    }
}

async fn check_unknown_run_is_corrupt(store: &Store) {
    let commit = Commit {
        events: vec![delta(RunId::new(), 1, "orphan")],
        ..Commit::default()
    };

    let result = store.commit(&commit).await;

    assert!(
        matches!(result, Err(JournalError::Corrupt(_))),
        "{result:?}"
    );
}

async fn check_duplicate_run_id_is_corrupt(store: &Store) {
    let run = new_run();
    store.create_run(&run, &[]).await.expect("create_run");

    let result = store.create_run(&run, &[]).await;

    assert!(
        matches!(result, Err(JournalError::Corrupt(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn an_event_of_an_unknown_run_is_refused_as_corrupt_on_sqlite() {
    let db = sqlite_db();
    let store = migrated_store(&db).await;
    check_unknown_run_is_corrupt(&store).await;
    finish(store, db).await;
}

#[tokio::test]
async fn an_event_of_an_unknown_run_is_refused_as_corrupt_on_postgres() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let store = migrated_store(&db).await;
    check_unknown_run_is_corrupt(&store).await;
    finish(store, db).await;
}

#[tokio::test]
async fn creating_a_run_id_twice_is_refused_as_corrupt_on_sqlite() {
    let db = sqlite_db();
    let store = migrated_store(&db).await;
    check_duplicate_run_id_is_corrupt(&store).await;
    finish(store, db).await;
}

#[tokio::test]
async fn creating_a_run_id_twice_is_refused_as_corrupt_on_postgres() {
    let Some(db) = postgres_db().await else {
        return;
    };
    let store = migrated_store(&db).await;
    check_duplicate_run_id_is_corrupt(&store).await;
    finish(store, db).await;
}

/// An event is stored as the JSON text clients receive, so a NUL character inside
/// it (escaped as `\u0000`) round-trips on both backends.
#[tokio::test]
async fn a_nul_character_in_an_event_round_trips_on_both_backends() {
    for db in both_dbs().await {
        check_nul_character_in_an_event(db).await;
    }
}

async fn check_nul_character_in_an_event(db: TestDb) {
    let store = migrated_store(&db).await;
    let run = new_run();
    store.create_run(&run, &[]).await.expect("create_run");
    let events = vec![
        delta(run.id, 1, "fine"),
        delta(run.id, 2, "nul \u{0} inside"),
    ];

    let result = store
        .commit(&Commit {
            events: events.clone(),
            ..Commit::default()
        })
        .await;

    result.expect("an event with a NUL character is stored");
    let stored = store
        .events_after(run.id, 0, 10)
        .await
        .expect("events_after");
    assert_eq!(stored, events, "on {}", db.backend_name());
    finish(store, db).await;
}
