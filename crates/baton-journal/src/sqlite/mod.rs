//! The SQLite backend: one file in WAL mode, written through a single connection
//! (so writes from this process queue instead of failing with `SQLITE_BUSY`) and
//! read through a pool of readers that never block the writer.
//!
//! Commits go through one writer task that batches them (group commit): the commits
//! waiting when a transaction ends are written together in the next one, so many
//! runs share one `fsync`. Each caller is answered only once the transaction that
//! holds its writes is committed; a batch that fails is written again one commit at
//! a time, so a bad commit fails alone and writes nothing.

mod rows;

use std::str::FromStr;

use baton_core::event::Event;
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, Commit, JournalError, JournalStats, NewRun, RunQuery, RunRecord, RunState,
    TaskRecord, TelemetryRecord,
};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};
use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{
    attempt_columns, event_json, first_per_key, last_per_key, newest_telemetry, run_columns,
    sqlite_time, task_columns, tenant_to_db, terminal_run_statuses, to_db_int, to_json,
};
use crate::config::{JournalConfig, SqliteSynchronous, redact_url};
use crate::error::{corrupt, db_error, migrate_error};
use crate::stats::{CallRow, StatsRows, TaskRow};
use crate::{SQLITE_MIGRATOR, migrations};

/// The journal on SQLite. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    /// One connection: every write transaction runs here, one after another.
    writer: SqlitePool,
    /// The writer task's queue of writes.
    commits: mpsc::UnboundedSender<QueuedWrite>,
    /// Connections for reads; in WAL mode they see every committed write and never
    /// wait for the writer. The writer pool itself for an in-memory database, which
    /// exists only inside its one connection.
    reader: SqlitePool,
    display_url: String,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("url", &self.display_url)
            .field("readers", &self.reader.size())
            .finish()
    }
}

/// How a write transaction starts: taking the write lock at once, so it waits
/// (up to the busy timeout) for another process instead of failing half-way.
const BEGIN_WRITE: &str = "begin immediate";

/// The most events in one `insert` statement (five variables each, far below
/// SQLite's limit of 32766).
const EVENTS_PER_INSERT: usize = 200;

impl SqliteStore {
    /// Opens the SQLite database `config.url` names, creating the file (and its
    /// folder) if missing, in WAL mode with foreign keys on, the configured `synchronous` level
    /// and busy timeout.
    #[tracing::instrument(skip_all, fields(db.url = %redact_url(&config.url)))]
    pub async fn connect(config: &JournalConfig) -> Result<SqliteStore, JournalError> {
        let base = SqliteConnectOptions::from_str(&config.url)
            .map_err(db_error)?
            .create_if_missing(true)
            .foreign_keys(true)
            .busy_timeout(config.sqlite_busy_timeout());
        let display_url = redact_url(&config.url);
        if is_in_memory(&config.url) {
            // The database lives as long as its one connection: keep it open.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .test_before_acquire(false)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
                .acquire_timeout(config.acquire_timeout())
                .connect_with(base)
                .await
                .map_err(db_error)?;
            return Ok(SqliteStore {
                commits: spawn_commit_writer(pool.clone()),
                writer: pool.clone(),
                reader: pool,
                display_url,
            });
        }
        let synchronous = match config.sqlite_synchronous {
            SqliteSynchronous::Full => sqlx::sqlite::SqliteSynchronous::Full,
            SqliteSynchronous::Normal => sqlx::sqlite::SqliteSynchronous::Normal,
        };
        // The writer connects first: it creates the file and switches it to WAL,
        // which then holds for every connection.
        create_parent_dir(&base)?;
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .test_before_acquire(false)
            .acquire_timeout(config.acquire_timeout())
            .connect_with(
                base.clone()
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(synchronous),
            )
            .await
            .map_err(db_error)?;
        let reader = SqlitePoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .test_before_acquire(false)
            .acquire_timeout(config.acquire_timeout())
            .connect_with(base.pragma("query_only", "on"))
            .await
            .map_err(db_error)?;
        let commits = spawn_commit_writer(writer.clone());
        Ok(SqliteStore {
            writer,
            commits,
            reader,
            display_url,
        })
    }

    /// Applies the embedded migrations that are missing.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), JournalError> {
        SQLITE_MIGRATOR
            .run(&self.writer)
            .await
            .map_err(migrate_error)
    }

    /// The URL with any password masked.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Closes both pools.
    pub async fn close(&self) {
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Hands the new run to the writer task (so it queues with the commits rather
    /// than waiting for the writer connection) and waits for its outcome.
    pub(crate) async fn create_run(
        &self,
        run: &NewRun,
        events: &[Event],
    ) -> Result<(), JournalError> {
        let (done, result) = oneshot::channel();
        let queued = QueuedWrite::CreateRun {
            run: run.clone(),
            events: events.to_vec(),
            done,
        };
        if self.commits.send(queued).is_err() {
            return Err(writer_gone());
        }
        result.await.unwrap_or_else(|_| Err(writer_gone()))
    }
}

/// Stores a new run with its first events, unless its idempotency key is taken.
async fn create_run(
    writer: &SqlitePool,
    run: &NewRun,
    events: &[Event],
) -> Result<(), JournalError> {
    let events = EventValues::new(events)?;
    let request = to_json(&run.request, "run request")?;
    let created_at = sqlite_time(run.created_at)?;
    let id = run.id.to_string();
    let tenant = tenant_to_db(run.tenant.as_deref());

    let mut tx = writer.begin_with(BEGIN_WRITE).await.map_err(db_error)?;
    let inserted: Option<String> = sqlx::query_scalar(
        "insert into runs (id, tenant, request, idempotency_key, request_hash, status, \
             created_at, updated_at) values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) \
             on conflict (tenant, idempotency_key) do nothing returning id",
    )
    .bind(&id)
    .bind(tenant)
    .bind(request)
    .bind(run.idempotency_key.as_deref())
    .bind(run.request_hash.as_deref())
    .bind(run.status.as_str())
    .bind(created_at)
    .fetch_optional(&mut *tx)
    .await
    .map_err(db_error)?;
    if inserted.is_none() {
        // The tenant's idempotency key is taken; nothing was written.
        let existing: Option<String> =
            sqlx::query_scalar("select id from runs where tenant = ?1 and idempotency_key = ?2")
                .bind(tenant)
                .bind(run.idempotency_key.as_deref())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        tx.rollback().await.map_err(db_error)?;
        let Some(existing) = existing else {
            return Err(corrupt("run", "an insert that conflicted found no run"));
        };
        let existing = RunId::from_str(&existing).map_err(|error| corrupt("run id", error))?;
        return Err(JournalError::IdempotencyKeyTaken { existing });
    }
    insert_events(&mut tx, &events).await?;
    tx.commit().await.map_err(db_error)
}

impl SqliteStore {
    /// Hands the commit to the writer task and waits until the transaction that
    /// holds it is committed (or has failed).
    pub(crate) async fn commit(&self, commit: &Commit) -> Result<(), JournalError> {
        if commit.is_empty() {
            return Ok(());
        }
        let (done, result) = oneshot::channel();
        let queued = QueuedWrite::Commit {
            commit: commit.clone(),
            done,
        };
        if self.commits.send(queued).is_err() {
            return Err(writer_gone());
        }
        result.await.unwrap_or_else(|_| Err(writer_gone()))
    }

    pub(crate) async fn load_telemetry(&self) -> Result<Vec<TelemetryRecord>, JournalError> {
        let found = sqlx::query(
            "select provider, model, state, updated_at from telemetry order by provider, model",
        )
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        found.iter().map(rows::telemetry).collect()
    }

    pub(crate) async fn stats(&self) -> Result<JournalStats, JournalError> {
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        let runs: Vec<(String, i64)> =
            sqlx::query_as("select status, count(*) from runs group by status")
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
        let tasks: Vec<(String, i64)> =
            sqlx::query_as("select status, count(*) from tasks group by status")
                .fetch_all(&mut *conn)
                .await
                .map_err(db_error)?;
        let task_rows = sqlx::query(TASKS_BY_PROVIDER_SQL)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                Ok(TaskRow {
                    provider: row.try_get("provider")?,
                    tasks: row.try_get("tasks")?,
                    succeeded: row.try_get("succeeded")?,
                    failed: row.try_get("failed")?,
                    timed: row.try_get("timed")?,
                    latency_ms: row.try_get("latency_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_error)?;
        let call_rows = sqlx::query(CALLS_BY_PROVIDER_SQL)
            .fetch_all(&mut *conn)
            .await
            .map_err(db_error)?
            .iter()
            .map(|row| {
                Ok(CallRow {
                    provider: row.try_get("provider")?,
                    calls: row.try_get("calls")?,
                    failed_calls: row.try_get("failed_calls")?,
                    tokens_in: row.try_get("tokens_in")?,
                    tokens_out: row.try_get("tokens_out")?,
                    cost_usd: row.try_get("cost_usd")?,
                    timed_calls: row.try_get("timed_calls")?,
                    latency_ms: row.try_get("latency_ms")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_error)?;
        StatsRows {
            runs,
            tasks,
            task_rows,
            call_rows,
        }
        .assemble()
    }

    pub(crate) async fn get_run(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<RunRecord>, JournalError> {
        let mut builder = QueryBuilder::<Sqlite>::new("select ");
        builder
            .push(run_columns!())
            .push(" from runs where id = ")
            .push_bind(id.to_string());
        if let Some(tenant) = tenant {
            builder.push(" and tenant = ").push_bind(tenant);
        }
        let row = builder
            .build()
            .fetch_optional(&self.reader)
            .await
            .map_err(db_error)?;
        row.as_ref().map(rows::run).transpose()
    }

    pub(crate) async fn find_by_idempotency_key(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<RunRecord>, JournalError> {
        let row = sqlx::query(concat!(
            "select ",
            run_columns!(),
            " from runs where tenant = ?1 and idempotency_key = ?2"
        ))
        .bind(tenant_to_db(tenant))
        .bind(key)
        .fetch_optional(&self.reader)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::run).transpose()
    }

    pub(crate) async fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError> {
        let mut builder = QueryBuilder::<Sqlite>::new("select ");
        builder.push(run_columns!()).push(" from runs where true");
        if let Some(tenant) = &query.tenant {
            builder.push(" and tenant = ").push_bind(tenant.as_str());
        }
        if let Some(status) = query.status {
            builder.push(" and status = ").push_bind(status.as_str());
        }
        if let Some(before) = query.before {
            builder.push(" and id < ").push_bind(before.to_string());
        }
        builder
            .push(" order by id desc limit ")
            .push_bind(i64::from(query.limit));
        let found = builder
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?;
        found.iter().map(rows::run).collect()
    }

    pub(crate) async fn list_tasks(&self, run_id: RunId) -> Result<Vec<TaskRecord>, JournalError> {
        let found = sqlx::query(concat!(
            "select ",
            task_columns!(),
            " from tasks where run_id = ?1 order by position, task_id"
        ))
        .bind(run_id.to_string())
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        found.iter().map(rows::task).collect()
    }

    pub(crate) async fn list_attempts(
        &self,
        run_id: RunId,
        task_id: Option<&TaskId>,
    ) -> Result<Vec<AttemptRecord>, JournalError> {
        let mut builder = QueryBuilder::<Sqlite>::new("select ");
        builder
            .push(attempt_columns!())
            .push(" from attempts where run_id = ")
            .push_bind(run_id.to_string());
        if let Some(task_id) = task_id {
            builder.push(" and task_id = ").push_bind(task_id.as_str());
        }
        builder.push(" order by started_at, id");
        let found = builder
            .build()
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?;
        found.iter().map(rows::attempt).collect()
    }

    pub(crate) async fn events_after(
        &self,
        run_id: RunId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, JournalError> {
        let found: Vec<SqliteRow> = sqlx::query(
            "select data from events where run_id = ?1 and seq > ?2 order by seq limit ?3",
        )
        .bind(run_id.to_string())
        .bind(to_db_int(after))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        found.iter().map(rows::event).collect()
    }

    pub(crate) async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        let found = sqlx::query(concat!(
            "select ",
            run_columns!(),
            " from runs where status not in ",
            terminal_run_statuses!(),
            " order by id"
        ))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        found.iter().map(rows::run).collect()
    }

    pub(crate) async fn ready(&self) -> Result<bool, JournalError> {
        let has_table: bool = sqlx::query_scalar(
            "select exists (select 1 from sqlite_master \
             where type = 'table' and name = '_sqlx_migrations')",
        )
        .fetch_one(&self.reader)
        .await
        .map_err(db_error)?;
        if !has_table {
            return Ok(false);
        }
        let applied = sqlx::query("select version, checksum from _sqlx_migrations where success")
            .fetch_all(&self.reader)
            .await
            .map_err(db_error)?;
        let applied = applied
            .iter()
            .map(|row| Ok((row.try_get("version")?, row.try_get("checksum")?)))
            .collect::<Result<Vec<(i64, Vec<u8>)>, sqlx::Error>>()
            .map_err(db_error)?;
        Ok(migrations::all_applied(&SQLITE_MIGRATOR, &applied))
    }
}

/// Tasks by the provider of their last call, with the durations of those that ran
/// and ended, each rounded to the millisecond (`julianday` keeps no more; `total`
/// is 0.0 over no rows).
const TASKS_BY_PROVIDER_SQL: &str = "\
select provider,
    count(*) as tasks,
    coalesce(sum(status = 'succeeded'), 0) as succeeded,
    coalesce(sum(status = 'failed'), 0) as failed,
    count(case when started_at is not null and finished_at is not null then 1 end) as timed,
    total(case when started_at is not null and finished_at is not null
        then round((julianday(finished_at) - julianday(started_at)) * 86400000.0) end) as latency_ms
from tasks
group by provider";

/// Calls (attempts) by provider.
const CALLS_BY_PROVIDER_SQL: &str = "\
select provider,
    count(*) as calls,
    coalesce(sum(status = 'failed'), 0) as failed_calls,
    coalesce(sum(tokens_in), 0) as tokens_in,
    coalesce(sum(tokens_out), 0) as tokens_out,
    total(cost_usd) as cost_usd,
    count(latency_ms) as timed_calls,
    total(latency_ms) as latency_ms
from attempts
group by provider";

/// Creates the folder of the database file if it is missing, so that
/// `sqlite://data/baton.db` works on a fresh machine.
fn create_parent_dir(options: &SqliteConnectOptions) -> Result<(), JournalError> {
    let Some(parent) = options.get_filename().parent() else {
        return Ok(());
    };
    if parent.as_os_str().is_empty() || parent.exists() {
        return Ok(());
    }
    std::fs::create_dir_all(parent).map_err(|error| JournalError::Unavailable(Box::new(error)))
}

/// Whether a `sqlite:` URL names an in-memory database.
fn is_in_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// Inserts events, several to a statement; an event already stored is kept as is.
async fn insert_events(
    conn: &mut SqliteConnection,
    events: &EventValues,
) -> Result<(), JournalError> {
    for chunk in events.rows.chunks(EVENTS_PER_INSERT) {
        let mut builder =
            QueryBuilder::<Sqlite>::new("insert into events (run_id, seq, type, ts, data) ");
        builder.push_values(chunk, |mut values, event| {
            values
                .push_bind(event.run_id.as_str())
                .push_bind(event.seq)
                .push_bind(event.kind)
                .push_bind(event.ts.as_str())
                .push_bind(event.data.as_str());
        });
        builder.push(" on conflict (run_id, seq) do nothing");
        builder
            .build()
            .execute(&mut *conn)
            .await
            .map_err(db_error)?;
    }
    Ok(())
}

/// A write waiting for the writer task, with where to send its outcome.
enum QueuedWrite {
    /// A commit; consecutive ones are batched.
    Commit { commit: Commit, done: Done },
    /// A new run; written on its own (its idempotency check decides its outcome).
    CreateRun {
        run: NewRun,
        events: Vec<Event>,
        done: Done,
    },
}

/// Where the writer task sends a write's outcome.
type Done = oneshot::Sender<Result<(), JournalError>>;

/// The most commits written in one transaction.
const COMMITS_PER_BATCH: usize = 256;

/// Starts the task that writes every commit of this store, batching those that
/// queue up while a transaction is being written. It ends when the store (every
/// clone of its sender) is dropped.
fn spawn_commit_writer(writer: SqlitePool) -> mpsc::UnboundedSender<QueuedWrite> {
    let (sender, mut receiver) = mpsc::unbounded_channel::<QueuedWrite>();
    tokio::spawn(async move {
        let mut next = receiver.recv().await;
        while let Some(write) = next.take() {
            let (commit, done) = match write {
                QueuedWrite::CreateRun { run, events, done } => {
                    let _ = done.send(create_run(&writer, &run, &events).await);
                    next = receiver.recv().await;
                    continue;
                }
                QueuedWrite::Commit { commit, done } => (commit, done),
            };
            // The commits queued behind this one go in the same transaction, up to
            // the first new run (which is written after them, in queue order).
            let mut batch = vec![(commit, done)];
            while batch.len() < COMMITS_PER_BATCH {
                match receiver.try_recv() {
                    Ok(QueuedWrite::Commit { commit, done }) => batch.push((commit, done)),
                    Ok(create) => {
                        next = Some(create);
                        break;
                    }
                    Err(_) => break,
                }
            }
            write_batch(&writer, batch).await;
            if next.is_none() {
                next = receiver.recv().await;
            }
        }
    });
    sender
}

/// Writes a batch in one transaction and answers each caller; when that fails,
/// writes each commit in its own transaction, so only a bad one fails.
async fn write_batch(writer: &SqlitePool, batch: Vec<(Commit, Done)>) {
    if batch.len() > 1 {
        let commits: Vec<&Commit> = batch.iter().map(|(commit, _)| commit).collect();
        match write_commits(writer, &commits).await {
            Ok(()) => {
                for (_, done) in batch {
                    let _ = done.send(Ok(()));
                }
                return;
            }
            Err(err) => {
                tracing::debug!(commits = batch.len(), error = %err, "a batch of commits failed; writing them one at a time");
            }
        }
    }
    for (commit, done) in batch {
        let result = write_commits(writer, &[&commit]).await;
        // A caller that went away no longer needs the answer.
        let _ = done.send(result);
    }
}

/// Writes these commits in one transaction.
async fn write_commits(writer: &SqlitePool, commits: &[&Commit]) -> Result<(), JournalError> {
    // Encode everything first, so that nothing can fail half-way for want of a
    // value and the write lock is held only for the writes.
    let encoded = commits
        .iter()
        .map(|commit| EncodedCommit::new(commit))
        .collect::<Result<Vec<_>, _>>()?;
    let updated_at = sqlite_time(OffsetDateTime::now_utc())?;
    let mut tx = writer.begin_with(BEGIN_WRITE).await.map_err(db_error)?;
    for commit in &encoded {
        commit.write(&mut tx, &updated_at).await?;
    }
    tx.commit().await.map_err(db_error)
}

fn writer_gone() -> JournalError {
    db_error(sqlx::Error::PoolClosed)
}

/// One commit's rows, encoded for SQLite.
struct EncodedCommit<'a> {
    run: Option<RunValues<'a>>,
    tasks: Vec<TaskValues<'a>>,
    attempts: Vec<AttemptValues<'a>>,
    events: EventValues,
    telemetry: Vec<TelemetryValues<'a>>,
}

impl<'a> EncodedCommit<'a> {
    fn new(commit: &'a Commit) -> Result<Self, JournalError> {
        Ok(EncodedCommit {
            run: commit.run.as_ref().map(RunValues::new).transpose()?,
            tasks: last_per_key(&commit.tasks, |task| (task.run_id, task.task_id.clone()))
                .into_iter()
                .map(TaskValues::new)
                .collect::<Result<Vec<_>, _>>()?,
            attempts: last_per_key(&commit.attempts, |attempt| attempt.id)
                .into_iter()
                .map(AttemptValues::new)
                .collect::<Result<Vec<_>, _>>()?,
            events: EventValues::new(&commit.events)?,
            telemetry: newest_telemetry(&commit.telemetry)
                .into_iter()
                .map(TelemetryValues::new)
                .collect::<Result<Vec<_>, _>>()?,
        })
    }

    async fn write(
        &self,
        conn: &mut SqliteConnection,
        updated_at: &str,
    ) -> Result<(), JournalError> {
        if let Some(run) = &self.run {
            run.update(conn, updated_at).await?;
        }
        for task in &self.tasks {
            task.upsert(conn).await?;
        }
        for attempt in &self.attempts {
            attempt.upsert(conn).await?;
        }
        insert_events(conn, &self.events).await?;
        for record in &self.telemetry {
            record.upsert(conn).await?;
        }
        Ok(())
    }
}

/// Events encoded for SQLite; the first of each `(run_id, seq)`.
struct EventValues {
    rows: Vec<EventRow>,
}

struct EventRow {
    run_id: String,
    seq: i64,
    kind: &'static str,
    ts: String,
    data: String,
}

impl EventValues {
    fn new(events: &[Event]) -> Result<Self, JournalError> {
        let rows = first_per_key(events, |event| (event.run_id, event.seq))
            .into_iter()
            .map(|event| {
                Ok(EventRow {
                    run_id: event.run_id.to_string(),
                    seq: to_db_int(event.seq),
                    kind: event.name(),
                    ts: sqlite_time(event.ts)?,
                    data: event_json(event)?,
                })
            })
            .collect::<Result<Vec<_>, JournalError>>()?;
        Ok(EventValues { rows })
    }
}

/// A telemetry row encoded for SQLite.
struct TelemetryValues<'a> {
    record: &'a TelemetryRecord,
    state: String,
    updated_at: String,
}

impl<'a> TelemetryValues<'a> {
    fn new(record: &'a TelemetryRecord) -> Result<Self, JournalError> {
        Ok(TelemetryValues {
            record,
            state: to_json(&record.state, "telemetry state")?,
            updated_at: sqlite_time(record.updated_at)?,
        })
    }

    /// Inserts the row, or replaces the stored one unless that one is newer.
    async fn upsert(&self, conn: &mut SqliteConnection) -> Result<(), JournalError> {
        sqlx::query(
            "insert into telemetry (provider, model, state, updated_at) values (?1, ?2, ?3, ?4) \
             on conflict (provider, model) do update set state = excluded.state, \
             updated_at = excluded.updated_at where excluded.updated_at >= telemetry.updated_at",
        )
        .bind(self.record.provider.as_str())
        .bind(self.record.model.as_str())
        .bind(&self.state)
        .bind(&self.updated_at)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

/// A run's new state encoded for SQLite.
struct RunValues<'a> {
    state: &'a RunState,
    id: String,
    plan: Option<String>,
    error: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl<'a> RunValues<'a> {
    fn new(state: &'a RunState) -> Result<Self, JournalError> {
        Ok(RunValues {
            state,
            id: state.id.to_string(),
            plan: state
                .plan
                .as_ref()
                .map(|plan| to_json(plan, "run plan"))
                .transpose()?,
            error: state
                .error
                .as_ref()
                .map(|error| to_json(error, "run error"))
                .transpose()?,
            started_at: state.started_at.map(sqlite_time).transpose()?,
            finished_at: state.finished_at.map(sqlite_time).transpose()?,
        })
    }

    async fn update(
        &self,
        conn: &mut SqliteConnection,
        updated_at: &str,
    ) -> Result<(), JournalError> {
        let state = self.state;
        sqlx::query(
            "update runs set status = ?2, plan = coalesce(?3, plan), output = ?4, error = ?5, \
             llm_calls = ?6, tokens_in = ?7, tokens_out = ?8, cost_usd = ?9, started_at = ?10, \
             finished_at = ?11, updated_at = ?12 where id = ?1",
        )
        .bind(&self.id)
        .bind(state.status.as_str())
        .bind(self.plan.as_deref())
        .bind(state.output.as_deref())
        .bind(self.error.as_deref())
        .bind(to_db_int(state.usage.llm_calls))
        .bind(to_db_int(state.usage.tokens_in))
        .bind(to_db_int(state.usage.tokens_out))
        .bind(state.usage.cost_usd)
        .bind(self.started_at.as_deref())
        .bind(self.finished_at.as_deref())
        .bind(updated_at)
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

/// A task encoded for SQLite.
struct TaskValues<'a> {
    task: &'a TaskRecord,
    run_id: String,
    spec: String,
    started_at: Option<String>,
    finished_at: Option<String>,
}

impl<'a> TaskValues<'a> {
    fn new(task: &'a TaskRecord) -> Result<Self, JournalError> {
        Ok(TaskValues {
            task,
            run_id: task.run_id.to_string(),
            spec: to_json(&task.spec, "task spec")?,
            started_at: task.started_at.map(sqlite_time).transpose()?,
            finished_at: task.finished_at.map(sqlite_time).transpose()?,
        })
    }

    async fn upsert(&self, conn: &mut SqliteConnection) -> Result<(), JournalError> {
        let task = self.task;
        sqlx::query(
            "insert into tasks (run_id, task_id, position, spec, status, output, error, provider, \
             model, attempts, llm_calls, tokens_in, tokens_out, cost_usd, started_at, finished_at) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
             on conflict (run_id, task_id) do update set position = excluded.position, \
             spec = excluded.spec, status = excluded.status, output = excluded.output, \
             error = excluded.error, provider = excluded.provider, model = excluded.model, \
             attempts = excluded.attempts, llm_calls = excluded.llm_calls, \
             tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out, \
             cost_usd = excluded.cost_usd, started_at = excluded.started_at, \
             finished_at = excluded.finished_at",
        )
        .bind(&self.run_id)
        .bind(task.task_id.as_str())
        .bind(i64::from(task.position))
        .bind(&self.spec)
        .bind(task.status.as_str())
        .bind(task.output.as_deref())
        .bind(task.error.as_deref())
        .bind(task.provider.as_deref())
        .bind(task.model.as_deref())
        .bind(i64::from(task.attempts))
        .bind(to_db_int(task.usage.llm_calls))
        .bind(to_db_int(task.usage.tokens_in))
        .bind(to_db_int(task.usage.tokens_out))
        .bind(task.usage.cost_usd)
        .bind(self.started_at.as_deref())
        .bind(self.finished_at.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

/// An attempt encoded for SQLite.
struct AttemptValues<'a> {
    attempt: &'a AttemptRecord,
    id: String,
    run_id: String,
    started_at: String,
    finished_at: Option<String>,
}

impl<'a> AttemptValues<'a> {
    fn new(attempt: &'a AttemptRecord) -> Result<Self, JournalError> {
        Ok(AttemptValues {
            attempt,
            id: attempt.id.to_string(),
            run_id: attempt.run_id.to_string(),
            started_at: sqlite_time(attempt.started_at)?,
            finished_at: attempt.finished_at.map(sqlite_time).transpose()?,
        })
    }

    async fn upsert(&self, conn: &mut SqliteConnection) -> Result<(), JournalError> {
        let attempt = self.attempt;
        let usage = attempt.usage.as_ref();
        sqlx::query(
            "insert into attempts (id, run_id, task_id, kind, number, provider, model, status, \
             reserved_cost_usd, tokens_in, tokens_out, tokens_cached, tokens_reasoning, \
             usage_estimated, cost_usd, latency_ms, error, started_at, finished_at) \
             values (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, \
             ?18, ?19) \
             on conflict (id) do update set run_id = excluded.run_id, task_id = excluded.task_id, \
             kind = excluded.kind, number = excluded.number, provider = excluded.provider, \
             model = excluded.model, status = excluded.status, \
             reserved_cost_usd = excluded.reserved_cost_usd, tokens_in = excluded.tokens_in, \
             tokens_out = excluded.tokens_out, tokens_cached = excluded.tokens_cached, \
             tokens_reasoning = excluded.tokens_reasoning, \
             usage_estimated = excluded.usage_estimated, cost_usd = excluded.cost_usd, \
             latency_ms = excluded.latency_ms, error = excluded.error, \
             started_at = excluded.started_at, finished_at = excluded.finished_at",
        )
        .bind(&self.id)
        .bind(&self.run_id)
        .bind(attempt.task_id.as_ref().map(TaskId::as_str))
        .bind(attempt.kind.as_str())
        .bind(i64::from(attempt.number))
        .bind(attempt.provider.as_str())
        .bind(attempt.model.as_str())
        .bind(attempt.status.as_str())
        .bind(attempt.reserved_cost_usd)
        .bind(usage.map(|usage| to_db_int(usage.input_tokens)))
        .bind(usage.map(|usage| to_db_int(usage.output_tokens)))
        .bind(usage.map(|usage| to_db_int(usage.cached_input_tokens)))
        .bind(usage.map(|usage| to_db_int(usage.reasoning_tokens)))
        .bind(usage.map(|usage| usage.estimated))
        .bind(attempt.cost_usd)
        .bind(attempt.latency_ms.map(to_db_int))
        .bind(attempt.error.as_deref())
        .bind(&self.started_at)
        .bind(self.finished_at.as_deref())
        .execute(&mut *conn)
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
