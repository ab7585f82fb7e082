//! How events are stored: a run's events that one transaction writes take one row
//! of `events` on both backends (PostgreSQL's cost is per row, not per byte).
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use baton_core::event::{Event, EventPayload};
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{Commit, CommitChain, Journal, NewRun, Urgency};
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

/// A new run, with an idempotency key (also its request hash) or without.
fn new_run(key: Option<String>) -> NewRun {
    NewRun {
        id: RunId::new(),
        tenant: None,
        request: serde_json::json!({"prompt": "Name three rivers."}).into(),
        idempotency_key: key.clone(),
        request_hash: key,
        status: RunStatus::Queued,
        created_at: time::OffsetDateTime::now_utc(),
    }
}

/// A run's event number `seq`.
fn delta(run_id: RunId, seq: u64) -> Event {
    Event {
        run_id,
        seq,
        ts: time::OffsetDateTime::now_utc(),
        payload: EventPayload::TaskDelta {
            task_id: TaskId::parse("t1").expect("a valid id"),
            text: format!("part {seq}"),
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commits_events_take_one_row() {
    for db in both_dbs().await {
        let store = migrated_store(&db).await;
        let run = new_run(None);
        let event = |seq| delta(run.id, seq);
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

/// A new run queued with its first events, and its first commit: on a one-thread
/// runtime both are queued before the writer takes either, so they are one batch.
/// A run without an idempotency key shares one row of events with its commit; one
/// with a key is stored by a statement of its own (the key may be taken), its
/// events in their own row.
#[tokio::test]
async fn a_new_runs_events_share_a_row_with_its_first_commits() {
    for db in both_dbs().await {
        let store = migrated_store(&db).await;
        for key in [None, Some("once".to_owned())] {
            let run = new_run(key.clone());
            let events: Vec<Event> = (1..=4).map(|seq| delta(run.id, seq)).collect();
            let chain = CommitChain::for_run(run.id);
            let (created, stored) = tokio::sync::oneshot::channel();
            store.submit_run(
                &chain,
                run.clone(),
                events[..1].to_vec(),
                Urgency::Later,
                Box::new(move |result, _| drop(created.send(result))),
            );
            let (done, committed) = tokio::sync::oneshot::channel();
            store.submit(
                &chain,
                Commit {
                    events: events[1..].to_vec(),
                    ..Commit::default()
                },
                Urgency::Now,
                Box::new(move |result, _| drop(done.send(result))),
            );

            stored.await.expect("an answer").expect("the run is stored");
            committed
                .await
                .expect("an answer")
                .expect("the commit lands");
            let expected: Rows = match key {
                None => vec![(4, Some(1))],
                Some(_) => vec![(1, Some(1)), (4, Some(2))],
            };
            assert_eq!(stored_rows(&db, run.id).await, expected, "{}", db.url());
            let read = store.events_after(run.id, 0, 100).await.expect("events");
            assert_eq!(read, events, "{}", db.url());
        }
        finish(store, db).await;
    }
}
