//! A database written by the first release reads back the same once the later
//! migrations ran: PostgreSQL's events turned from `jsonb` into text, SQLite's
//! requests and plans moved out of the `runs` row.
#![expect(
    clippy::expect_used,
    reason = "test helpers: a failed expectation is a failed test"
)]

use std::path::Path;
use std::str::FromStr;

use baton_core::event::{Event, EventPayload};
use baton_core::ids::RunId;
use baton_core::journal::Journal;
use baton_journal::TestDb;
use serde_json::json;
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection, PgConnection};

use crate::support::{both_dbs, finish, migrated_store};

/// The last migration of the first release.
const FIRST_RELEASE: &str = "20261121000005";

/// The first release's migrations of a backend, as their own migrator.
async fn first_release(backend: &str) -> (tempfile::TempDir, Migrator) {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../migrations")
        .join(backend);
    let dir = tempfile::tempdir().expect("a temporary folder");
    for entry in std::fs::read_dir(&source).expect("the migrations folder") {
        let path = entry.expect("a folder entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("a name");
        if name[..FIRST_RELEASE.len()] <= *FIRST_RELEASE {
            std::fs::copy(&path, dir.path().join(name)).expect("a copied migration");
        }
    }
    let migrator = Migrator::new(dir.path()).await.expect("a migrator");
    (dir, migrator)
}

struct OldRun {
    id: RunId,
    request: serde_json::Value,
    plan: serde_json::Value,
    event: Event,
}

fn old_run() -> OldRun {
    let id = RunId::new();
    let request = json!({"prompt": "Name three rivers.", "options": {"verify": false}});
    OldRun {
        id,
        request: request.clone(),
        plan: json!({"tasks": [{"id": "rivers", "title": "Rivers", "depends_on": []}]}),
        event: Event {
            run_id: id,
            seq: 1,
            ts: time::macros::datetime!(2026-11-21 12:00:00.123456 UTC),
            payload: EventPayload::RunCreated {
                request: request.into(),
            },
        },
    }
}

async fn write_old_postgres(url: &str, run: &OldRun) {
    let (_dir, migrator) = first_release("postgres").await;
    let mut conn = PgConnection::connect(url).await.expect("connect");
    migrator
        .run(&mut conn)
        .await
        .expect("the first release's migrations");
    sqlx::query(
        "insert into runs (id, request, status, plan, created_at, updated_at) \
         values ($1, $2::jsonb, 'running', $3::jsonb, now(), now())",
    )
    .bind(run.id.as_uuid())
    .bind(run.request.to_string())
    .bind(run.plan.to_string())
    .execute(&mut conn)
    .await
    .expect("an old run");
    sqlx::query(
        "insert into events (run_id, seq, type, ts, data) \
         values ($1, 1, 'run_created', now(), $2::jsonb)",
    )
    .bind(run.id.as_uuid())
    .bind(serde_json::to_string(&run.event).expect("an event as JSON"))
    .execute(&mut conn)
    .await
    .expect("an old event");
    conn.close().await.expect("close");
}

async fn write_old_sqlite(url: &str, run: &OldRun) {
    let (_dir, migrator) = first_release("sqlite").await;
    let mut conn = SqliteConnectOptions::from_str(url)
        .expect("an SQLite URL")
        .create_if_missing(true)
        .connect()
        .await
        .expect("connect");
    migrator
        .run(&mut conn)
        .await
        .expect("the first release's migrations");
    let now = "2026-11-21T12:00:00.000000Z";
    sqlx::query(
        "insert into runs (id, request, status, plan, created_at, updated_at) \
         values (?1, ?2, 'running', ?3, ?4, ?4)",
    )
    .bind(run.id.to_string())
    .bind(run.request.to_string())
    .bind(run.plan.to_string())
    .bind(now)
    .execute(&mut conn)
    .await
    .expect("an old run");
    sqlx::query(
        "insert into events (run_id, seq, type, ts, data) values (?1, 1, 'run_created', ?2, ?3)",
    )
    .bind(run.id.to_string())
    .bind(now)
    .bind(serde_json::to_string(&run.event).expect("an event as JSON"))
    .execute(&mut conn)
    .await
    .expect("an old event");
    conn.close().await.expect("close");
}

async fn check_upgrade(db: TestDb) {
    // Arrange: the first release's schema and rows.
    let run = old_run();
    match db.backend_name() {
        "sqlite" => write_old_sqlite(db.url(), &run).await,
        _ => write_old_postgres(db.url(), &run).await,
    }

    // Act: this release opens and migrates it.
    let store = migrated_store(&db).await;

    // Assert
    let stored = store
        .get_run(run.id, None)
        .await
        .expect("get_run")
        .expect("the old run");
    assert_eq!(
        stored.request.to_value(),
        run.request,
        "on {}",
        db.backend_name()
    );
    assert_eq!(
        stored.state.plan.map(|plan| plan.to_value()),
        Some(run.plan.clone())
    );
    let events = store
        .events_after(run.id, 0, 10)
        .await
        .expect("events_after");
    assert_eq!(events, vec![run.event.clone()], "on {}", db.backend_name());
    finish(store, db).await;
}

#[tokio::test]
async fn a_first_release_database_reads_back_the_same_after_migrating() {
    for db in both_dbs().await {
        check_upgrade(db).await;
    }
}
