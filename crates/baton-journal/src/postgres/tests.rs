//! Each variant of the commit statement, run directly: a batch whose statement fails
//! is written again one write at a time, which would hide a broken variant from the
//! conformance stories (they would still pass, a transaction per write).

use baton_core::encoded::EncodedJson;
use baton_core::event::{Event, EventPayload};
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{Commit, NewRun, RunState, TelemetryRecord};
use baton_core::status::RunStatus;
use serde_json::json;
use time::OffsetDateTime;

use super::{CommitColumns, PgStore, RUN_COLUMNS, TASK_COLUMNS, create_run};
use crate::codec::{attempt_columns, run_columns, task_columns};
use crate::config::JournalConfig;
use crate::queue::QueuedRun;
use crate::test_db::TestDb;

fn event(run_id: RunId, seq: u64, payload: EventPayload) -> Event {
    Event {
        run_id,
        seq,
        ts: OffsetDateTime::now_utc(),
        payload,
    }
}

/// A new run without an idempotency key, queued with its `run_created` event.
fn queued_run() -> QueuedRun {
    queued_run_of(json!({"prompt": "Say hello."}))
}

/// [`queued_run`] with the given request.
fn queued_run_of(request: serde_json::Value) -> QueuedRun {
    let request = EncodedJson::from(request);
    let run = NewRun {
        id: RunId::new(),
        tenant: None,
        request: request.clone(),
        idempotency_key: None,
        request_hash: None,
        status: RunStatus::Queued,
        created_at: OffsetDateTime::now_utc(),
    };
    let created = event(run.id, 1, EventPayload::RunCreated { request });
    QueuedRun::new(&run, &[created]).expect("a run that encodes")
}

/// A fresh, migrated database on the server `BATON_TEST_DATABASE_URL` names, or
/// `None` when it names none (the PostgreSQL half of the tests runs when it does; CI
/// sets it).
async fn migrated_store() -> Option<(TestDb, PgStore)> {
    #[expect(clippy::disallowed_methods, reason = "a test reads its own setting")]
    let admin_url = std::env::var("BATON_TEST_DATABASE_URL");
    let admin_url = admin_url.ok().filter(|url| !url.trim().is_empty())?;
    let db = TestDb::postgres(&admin_url).await.expect("a test database");
    let store = PgStore::connect(&JournalConfig::for_tests(db.url()))
        .await
        .expect("a connection");
    store.migrate().await.expect("the migrations");
    Some((db, store))
}

#[tokio::test]
async fn every_variant_of_the_commit_statement_writes_its_whole_batch() {
    let Some((db, store)) = migrated_store().await else {
        return;
    };
    let mut conn = store.pool.acquire().await.expect("a pooled connection");

    for (with_telemetry, with_new_run) in
        [(false, false), (true, false), (false, true), (true, true)]
    {
        let variant = format!("telemetry {with_telemetry}, new run {with_new_run}");
        let run = queued_run();
        if !with_new_run {
            create_run(&mut conn, &run)
                .await
                .expect("the run is stored")
                .expect("its id is free");
        }
        let telemetry = TelemetryRecord {
            provider: "sim".to_owned(),
            model: format!("model-{}", run.id),
            state: json!({"calls": 1}),
            updated_at: OffsetDateTime::now_utc(),
        };
        let commit = Commit {
            run: Some(Box::new(RunState {
                started_at: Some(OffsetDateTime::now_utc()),
                ..RunState::new(run.id, RunStatus::Running, OffsetDateTime::now_utc())
            })),
            events: vec![event(
                run.id,
                2,
                EventPayload::TaskDelta {
                    task_id: TaskId::parse("t0").expect("a valid id"),
                    text: "hello".to_owned(),
                },
            )],
            telemetry: if with_telemetry {
                vec![telemetry.clone()]
            } else {
                Vec::new()
            },
            ..Commit::default()
        };
        let creates: Vec<&QueuedRun> = if with_new_run { vec![&run] } else { vec![] };

        CommitColumns::new(&[&commit], &creates)
            .expect("columns")
            .execute(&mut conn)
            .await
            .unwrap_or_else(|error| panic!("{variant}: {error}"));

        let stored = store
            .get_run(run.id, None)
            .await
            .expect("get_run")
            .unwrap_or_else(|| panic!("{variant}: the run is stored"));
        assert_eq!(stored.state.status, RunStatus::Running, "{variant}");
        assert!(stored.state.started_at.is_some(), "{variant}");
        let seqs: Vec<u64> = store
            .events_after(run.id, 0, 10)
            .await
            .expect("events_after")
            .iter()
            .map(|event| event.seq)
            .collect();
        assert_eq!(seqs, [1, 2], "{variant}");
        let saved = store
            .load_telemetry()
            .await
            .expect("load_telemetry")
            .iter()
            .any(|saved| saved.model == telemetry.model && saved.state == telemetry.state);
        assert_eq!(saved, with_telemetry, "{variant}");
    }

    drop(conn);
    store.close().await;
    db.cleanup().await.expect("remove the test database");
}

#[tokio::test]
async fn large_values_are_stored_compressed_with_lz4() {
    let Some((db, store)) = migrated_store().await else {
        return;
    };
    let mut conn = store.pool.acquire().await.expect("a pooled connection");
    // A server built without lz4 keeps pglz (the migration says so); this one is
    // expected to have it, as Debian's and the official images' are.
    sqlx::query("set default_toast_compression = 'lz4'")
        .execute(&mut *conn)
        .await
        .expect("a server with lz4");
    sqlx::query("reset default_toast_compression")
        .execute(&mut *conn)
        .await
        .expect("reset");
    // A workflow of 1,000 tasks: its request is about 100 kB, stored in the run and
    // in its `run_created` event.
    let tasks: Vec<serde_json::Value> = (0..1_000)
        .map(|i| json!({"id": format!("w{i:04}"), "instructions": format!("Do step {i}.")}))
        .collect();
    let run = queued_run_of(json!({"workflow": {"tasks": tasks}}));

    create_run(&mut conn, &run)
        .await
        .expect("the run is stored")
        .expect("its id is free");

    let compression: (Option<String>, Option<String>) = sqlx::query_as(
        "select pg_column_compression(runs.request), pg_column_compression(events.data) \
         from runs join events on events.run_id = runs.id and events.seq = 1 \
         where runs.id = $1",
    )
    .bind(run.id.as_uuid())
    .fetch_one(&mut *conn)
    .await
    .expect("the stored run");
    assert_eq!(
        compression,
        (Some("lz4".to_owned()), Some("lz4".to_owned()))
    );
    drop(conn);
    store.close().await;
    db.cleanup().await.expect("remove the test database");
}

#[test]
fn the_run_with_rows_statement_places_each_record_where_its_decoder_reads_it() {
    let columns = |list: &str| list.split(',').count();
    assert_eq!(columns(run_columns!()), RUN_COLUMNS);
    assert_eq!(columns(run_nulls!()), RUN_COLUMNS);
    assert_eq!(columns(task_columns!()), TASK_COLUMNS);
    assert_eq!(columns(task_nulls!()), TASK_COLUMNS);
    assert_eq!(columns(attempt_nulls!()), columns(attempt_columns!()));
}
