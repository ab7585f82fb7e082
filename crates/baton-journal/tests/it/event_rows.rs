//! How events are stored: a run's events that one transaction writes take one row
//! of `events` on both backends (PostgreSQL's cost is per row, not per byte).
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use baton_core::event::{Event, EventPayload};
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{Commit, Journal, NewRun};
use baton_core::status::RunStatus;
use baton_journal::TestDb;
use sqlx::{Connection, PgConnection, SqliteConnection};

use crate::support::{both_dbs, finish, migrated_store};

/// Each row's `seq` and `first_seq`, in order.
type Rows = Vec<(i64, Option<i64>)>;

async fn stored_rows(db: &TestDb, run_id: RunId) -> Rows {
    let url = db.url();
    if url.starts_with("postgres") {
        let mut conn = PgConnection::connect(url).await.expect("connect");
        sqlx::query_as("select seq, first_seq from events where run_id = $1 order by seq")
            .bind(run_id.as_uuid())
            .fetch_all(&mut conn)
            .await
            .expect("the rows")
    } else {
        let mut conn = SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_as("select seq, first_seq from events where run_id = ?1 order by seq")
            .bind(run_id.to_string())
            .fetch_all(&mut conn)
            .await
            .expect("the rows")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commits_events_take_one_row() {
    for db in both_dbs().await {
        let store = migrated_store(&db).await;
        let run = NewRun {
            id: RunId::new(),
            tenant: None,
            request: serde_json::json!({"prompt": "Name three rivers."}),
            idempotency_key: None,
            request_hash: None,
            status: RunStatus::Queued,
            created_at: time::OffsetDateTime::now_utc(),
        };
        let event = |seq| Event {
            run_id: run.id,
            seq,
            ts: time::OffsetDateTime::now_utc(),
            payload: EventPayload::TaskDelta {
                task_id: TaskId::parse("t1").expect("a valid id"),
                text: format!("part {seq}"),
            },
        };
        store
            .create_run(&run, &[event(1)])
            .await
            .expect("create_run");

        let five: Vec<Event> = (2..=6).map(event).collect();
        store
            .commit(&Commit {
                events: five.clone(),
                ..Commit::default()
            })
            .await
            .expect("commit");

        assert_eq!(
            stored_rows(&db, run.id).await,
            [(1, Some(1)), (6, Some(2))],
            "{}",
            db.url()
        );
        let read = store.events_after(run.id, 1, 100).await.expect("events");
        assert_eq!(read, five);
        finish(store, db).await;
    }
}
