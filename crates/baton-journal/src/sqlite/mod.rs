//! The SQLite backend: one file in WAL mode, written through a single connection
//! (so writes from this process queue instead of failing with `SQLITE_BUSY`) and
//! read through a pool of readers that never block the writer.
//!
//! Every write (new runs and commits) goes through one writer task of the shared
//! write queue (`crate::queue`), which batches them (group commit): the writes
//! waiting when a transaction ends are written together in the next one, so many
//! runs share one `fsync`. Each caller is answered only once the transaction that
//! holds its writes is committed.
//!
//! sqlx runs each SQLite connection on a thread of its own and hands every request
//! over to it and back, so a transaction is sent as one script (`begin immediate`,
//! a multi-row statement per table, `commit`): one hand-off for the batch instead of
//! one per statement. Only a batch that creates a run with an idempotency key goes
//! statement by statement, because whether the run is stored depends on what is.

mod rows;
mod sql;

use std::str::FromStr;

use async_trait::async_trait;
use baton_core::encoded::EncodedJson;
use baton_core::event::Event;
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, JournalError, JournalStats, RunQuery, RunRecord, RunState, StoredRun,
    TaskRecord, TelemetryRecord,
};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::codec::{
    EventRow, Merged, attempt_columns, event_rows, events_after_in, from_db_u64, run_columns,
    sqlite_time, task_columns, tenant_to_db, terminal_run_statuses, to_db_int, to_json,
    with_stored_plan,
};
use crate::config::{JournalConfig, SqliteSynchronous, redact_url};
use crate::error::{corrupt, db_error, migrate_error};
use crate::queue::{Backend, Job, Keep, QueuedRun, WriteQueue, commits_of};
use crate::stats::{CallRow, StatsRows, TaskRow};
use crate::{SQLITE_MIGRATOR, migrations};
use sql::Sql;

/// The journal on SQLite. Cloning is cheap and shares the pools.
#[derive(Clone)]
pub struct SqliteStore {
    /// One connection: every write transaction runs here, one after another.
    writer: SqlitePool,
    /// The writer task's queue of writes.
    queue: WriteQueue,
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

/// The prepared statements the writer's connection keeps (sqlx keeps 100 by
/// default). A batch's script is one statement text for its shape (how many runs,
/// tasks, attempts and events it writes), so under varied load nearly every batch is
/// a new text, and each prepared script holds hundreds of kilobytes: a hundred of
/// them were most of the server's heap. A run of steady shape (a chain's batches)
/// still finds its few texts kept.
const WRITER_STATEMENTS: usize = 16;

/// How a write transaction starts: taking the write lock at once, so it waits
/// (up to the busy timeout) for another process instead of failing half-way.
const BEGIN_WRITE: &str = "begin immediate";

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
            // Reads share the one connection: the writer keeps it for no longer
            // than a batch.
            let queue = WriteQueue::start(Writer(pool.clone()), 1, Keep::Never);
            return Ok(SqliteStore {
                queue,
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
                    .synchronous(synchronous)
                    .statement_cache_capacity(WRITER_STATEMENTS),
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
        let queue = WriteQueue::start(Writer(writer.clone()), 1, Keep::BetweenBatches);
        Ok(SqliteStore {
            writer,
            queue,
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

    /// Closes both pools (the writer's once it has given its connection back).
    pub async fn close(&self) {
        self.queue.release_connections();
        self.reader.close().await;
        self.writer.close().await;
    }

    /// Its write queue: new runs and commits go to the writer task through it (so
    /// they queue rather than wait for the writer connection; see `crate::queue`).
    pub(crate) fn queue(&self) -> &WriteQueue {
        &self.queue
    }
}

/// A new run, encoded for SQLite (its first events go with the batch's rows, or with
/// its own statements when its idempotency key may be taken).
struct NewRunValues<'a> {
    run: &'a QueuedRun,
    id: String,
    created_at: String,
}

impl<'a> NewRunValues<'a> {
    fn new(run: &'a QueuedRun) -> Result<Self, JournalError> {
        Ok(NewRunValues {
            run,
            id: run.id.to_string(),
            created_at: sqlite_time(run.created_at)?,
        })
    }

    fn tenant(&self) -> &'a str {
        tenant_to_db(self.run.tenant.as_deref())
    }

    /// Inserts the run's row; with `if_key_free`, only if its tenant's idempotency
    /// key is free, returning its id if it was inserted.
    fn insert_run<'q>(&'q self, script: &mut Script<'q>, if_key_free: bool) {
        let builder = script.statement(
            "insert into runs (id, tenant, idempotency_key, request_hash, status, \
             created_at, updated_at) values (",
        );
        let created_at = self.created_at.as_str();
        builder
            .separated(", ")
            .push_bind(self.id.as_str())
            .push_bind(self.tenant())
            .push_bind(self.run.idempotency_key.as_deref())
            .push_bind(self.run.request_hash.as_deref())
            .push_bind(self.run.status.as_str())
            .push_bind(created_at)
            .push_bind(created_at);
        builder.push(")");
        if if_key_free {
            builder.push(" on conflict (tenant, idempotency_key) do nothing returning id");
        }
    }

    /// Inserts the run's request, beside its row.
    async fn insert_request<'q>(
        &'q self,
        script: &mut Script<'q>,
        conn: &mut SqliteConnection,
    ) -> Result<(), JournalError> {
        script
            .statement("insert into run_documents (run_id, request) values (")
            .separated(", ")
            .push_bind(self.id.as_str())
            .push_bind(self.run.request.as_str())
            .push_unseparated(")");
        script.pushed(conn, 1).await
    }
}

/// Stores a new run with its first events, unless its idempotency key is taken.
async fn create_run(
    conn: &mut SqliteConnection,
    run: &NewRunValues<'_>,
) -> Result<Result<(), JournalError>, JournalError> {
    let mut insert = Script::new();
    run.insert_run(&mut insert, true);
    let inserted: Option<String> = insert
        .builder
        .query_scalar()?
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if inserted.is_none() {
        // The tenant's idempotency key is taken; nothing was written.
        let existing: Option<String> =
            sqlx::query_scalar("select id from runs where tenant = ?1 and idempotency_key = ?2")
                .bind(run.tenant())
                .bind(run.run.idempotency_key.as_deref())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?;
        let Some(existing) = existing else {
            return Err(corrupt("run", "an insert that conflicted found no run"));
        };
        let existing = RunId::from_str(&existing).map_err(|error| corrupt("run id", error))?;
        return Ok(Err(JournalError::IdempotencyKeyTaken { existing }));
    }
    let events = run
        .run
        .events
        .iter()
        .cloned()
        .map(EventValues::new)
        .collect::<Result<Vec<_>, _>>()?;
    let mut rest = Script::new();
    run.insert_request(&mut rest, conn).await?;
    insert_events(&mut rest, conn, &events).await?;
    rest.send(conn).await?;
    Ok(Ok(()))
}

/// The columns of a run (`run_columns!`) and the tables they come from: on SQLite the
/// request and the plan live in `run_documents`, apart from the row the engine
/// rewrites with every call's usage (no column name is in both). `where` clauses
/// follow it.
macro_rules! sqlite_run_columns {
    () => {
        concat!(
            run_columns!(),
            " from runs join run_documents on run_documents.run_id = runs.id"
        )
    };
}

impl SqliteStore {
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
        let tasks: Vec<(String, i64)> = sqlx::query_as(TASKS_BY_STATUS_SQL)
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
        read_run(&self.reader, id, tenant).await
    }

    /// A run with its tasks and attempts, on one connection: sqlx tests every
    /// connection given back to the pool with a round trip.
    pub(crate) async fn get_run_with_rows(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<StoredRun>, JournalError> {
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        let Some(run) = read_run(&mut *conn, id, tenant).await? else {
            return Ok(None);
        };
        let rows = read_tasks(&mut *conn, id).await?;
        let attempts = read_attempts(&mut *conn, id, None).await?;
        Ok(Some(StoredRun::in_order(run, rows, attempts)))
    }

    pub(crate) async fn find_by_idempotency_key(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<RunRecord>, JournalError> {
        let row = sqlx::query(concat!(
            "select ",
            sqlite_run_columns!(),
            " where tenant = ?1 and idempotency_key = ?2"
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
        builder.push(sqlite_run_columns!()).push(" where true");
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

    /// A run's tasks in plan order, those not started yet from its plan (see
    /// `with_planned_tasks`), on one connection.
    pub(crate) async fn list_tasks(&self, run_id: RunId) -> Result<Vec<TaskRecord>, JournalError> {
        let mut conn = self.reader.acquire().await.map_err(db_error)?;
        let plan: Option<Option<String>> =
            sqlx::query_scalar("select plan from run_documents where run_id = ?1")
                .bind(run_id.to_string())
                .fetch_optional(&mut *conn)
                .await
                .map_err(db_error)?;
        let rows = read_tasks(&mut *conn, run_id).await?;
        with_stored_plan(run_id, plan.flatten(), rows)
    }

    pub(crate) async fn list_attempts(
        &self,
        run_id: RunId,
        task_id: Option<&TaskId>,
    ) -> Result<Vec<AttemptRecord>, JournalError> {
        read_attempts(&self.reader, run_id, task_id).await
    }

    pub(crate) async fn events_after(
        &self,
        run_id: RunId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, JournalError> {
        let found: Vec<String> = sqlx::query_scalar(
            "select data from events where run_id = ?1 and seq > ?2 order by seq limit ?3",
        )
        .bind(run_id.to_string())
        .bind(to_db_int(after))
        .bind(i64::from(limit))
        .fetch_all(&self.reader)
        .await
        .map_err(db_error)?;
        events_after_in(found.iter().map(String::as_str), after, limit)
    }

    /// The largest `seq` of a run's event rows: a row of several events carries its
    /// last one's.
    pub(crate) async fn last_seq(&self, run_id: RunId) -> Result<u64, JournalError> {
        let last: Option<i64> = sqlx::query_scalar("select max(seq) from events where run_id = ?1")
            .bind(run_id.to_string())
            .fetch_one(&self.reader)
            .await
            .map_err(db_error)?;
        last.map_or(Ok(0), |seq| from_db_u64(seq, "seq"))
    }

    pub(crate) async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        let found = sqlx::query(concat!(
            "select ",
            sqlite_run_columns!(),
            " where status not in ",
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

/// A run by id (and tenant), through any executor.
async fn read_run<'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
    id: RunId,
    tenant: Option<&str>,
) -> Result<Option<RunRecord>, JournalError> {
    let mut builder = QueryBuilder::<Sqlite>::new("select ");
    builder
        .push(sqlite_run_columns!())
        .push(" where id = ")
        .push_bind(id.to_string());
    if let Some(tenant) = tenant {
        builder.push(" and tenant = ").push_bind(tenant);
    }
    let row = builder
        .build()
        .fetch_optional(executor)
        .await
        .map_err(db_error)?;
    row.as_ref().map(rows::run).transpose()
}

/// A run's tasks in plan order, through any executor.
async fn read_tasks<'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
    run_id: RunId,
) -> Result<Vec<TaskRecord>, JournalError> {
    let found = sqlx::query(concat!(
        "select ",
        task_columns!(),
        " from tasks where run_id = ?1 order by position, task_id"
    ))
    .bind(run_id.to_string())
    .fetch_all(executor)
    .await
    .map_err(db_error)?;
    found.iter().map(rows::task).collect()
}

/// A run's attempts in the order they began, through any executor.
async fn read_attempts<'e>(
    executor: impl sqlx::Executor<'e, Database = Sqlite>,
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
        .fetch_all(executor)
        .await
        .map_err(db_error)?;
    found.iter().map(rows::attempt).collect()
}

/// Tasks by status: the stored rows, and the tasks of unfinished runs' plans that
/// have no row yet (pending; see `with_planned_tasks`).
const TASKS_BY_STATUS_SQL: &str = concat!(
    "select status, sum(n) from (
    select status, count(*) as n from tasks group by status
    union all
    select 'pending', sum(json_array_length(d.plan, '$.tasks')
        - (select count(*) from tasks t where t.run_id = r.id))
    from runs r join run_documents d on d.run_id = r.id
    where r.status not in ",
    terminal_run_statuses!(),
    " and d.plan is not null
) group by status having sum(n) > 0"
);

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

/// The most rows in one multi-row statement (19 variables each for an attempt, far
/// below SQLite's limit of 32766).
const ROWS_PER_STATEMENT: usize = 500;

/// Inserts rows of events (see `EventRow`), several to a statement. Stored events are
/// kept as they are: a row goes in only if the run's first stored row at or after its
/// first event begins after its last (rows never overlap, and a commit's events land
/// all at once, so events stored in rows cut differently are found too).
async fn insert_events<'q>(
    script: &mut Script<'q>,
    conn: &mut SqliteConnection,
    events: &'q [EventValues],
) -> Result<(), JournalError> {
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let builder = script.statement(
            "insert into events (run_id, seq, type, ts, data, first_seq) \
             select column1, column2, column3, column4, column5, column6 from (",
        );
        builder.push_values(chunk, |mut values, event| {
            values
                .push_bind(event.run_id.as_str())
                .push_bind(event.seq)
                .push_bind(event.kind)
                .push_bind(event.ts.as_str())
                .push_bind(event.data.as_str())
                .push_bind(event.first_seq);
        });
        builder.push(
            ") as v where coalesce((select coalesce(stored.first_seq, stored.seq) \
             from events stored where stored.run_id = v.column1 and stored.seq >= v.column6 \
             order by stored.seq limit 1), v.column2 + 1) > v.column2",
        );
        script.pushed(conn, chunk.len()).await?;
    }
    Ok(())
}

/// Statements joined into one query, so that SQLite runs them all for one request
/// to the connection's worker thread (sqlx runs each SQLite connection on a thread
/// of its own, and every request is a hand-off there and back). SQLite binds the
/// `?` parameters of each statement in turn from the one list of arguments.
///
/// A script is sent once it holds [`ROWS_PER_SCRIPT`] rows, and the rest follow in the
/// next: sqlx copies a query's arguments for that thread, so a batch of thousands of
/// rows goes as several scripts (still one transaction) instead of one copy of all.
struct Script<'q> {
    builder: Sql<'q>,
    statements: usize,
    rows: usize,
}

/// The rows a script holds before it is sent.
const ROWS_PER_SCRIPT: usize = ROWS_PER_STATEMENT;

impl<'q> Script<'q> {
    fn new() -> Self {
        Script {
            builder: Sql::new(),
            statements: 0,
            rows: 0,
        }
    }

    /// Starts the next statement with `sql`, for the caller to go on with.
    fn statement(&mut self, sql: &str) -> &mut Sql<'q> {
        if self.statements > 0 {
            self.builder.push(";\n");
        }
        self.statements += 1;
        self.builder.push(sql)
    }

    /// Counts the rows of the statement just written, and sends the script once it
    /// holds enough.
    async fn pushed(
        &mut self,
        conn: &mut SqliteConnection,
        rows: usize,
    ) -> Result<(), JournalError> {
        self.rows += rows;
        if self.rows >= ROWS_PER_SCRIPT {
            self.send(conn).await?;
        }
        Ok(())
    }

    /// Runs the statements held, in order (the first that fails stops the rest), and
    /// empties the script.
    async fn send(&mut self, conn: &mut SqliteConnection) -> Result<(), JournalError> {
        if self.statements == 0 {
            return Ok(());
        }
        let result = async { self.builder.query()?.execute(conn).await.map_err(db_error) }.await;
        self.builder.clear();
        self.statements = 0;
        self.rows = 0;
        result.map(drop)
    }
}

/// The writer connection, as the write queue drives it.
struct Writer(SqlitePool);

#[async_trait]
impl Backend for Writer {
    type Connection = PoolConnection<Sqlite>;

    async fn connect(&self) -> Result<Self::Connection, JournalError> {
        self.0.acquire().await.map_err(db_error)
    }

    async fn write(
        &self,
        conn: &mut Self::Connection,
        jobs: &[&Job],
    ) -> Result<Vec<Result<(), JournalError>>, JournalError> {
        // Encode everything first, so that nothing can fail half-way for want of a
        // value and the write lock is held only for the writes.
        let commits = commits_of(jobs);
        let creates = jobs
            .iter()
            .filter_map(|job| match job {
                Job::Create(run) => Some(NewRunValues::new(run)),
                Job::Commit(_) => None,
            })
            .collect::<Result<Vec<_>, _>>()?;
        let keyed = creates.iter().any(|run| run.run.idempotency_key.is_some());
        // Runs that nothing can refuse bring their first events into the batch's rows,
        // where they share a row with those of the runs' commits.
        let created: &[NewRunValues<'_>] = if keyed { &[] } else { &creates };
        let rows = Rows::new(
            &Merged::new(&commits),
            created.iter().flat_map(|run| &run.run.events),
        )?;
        if keyed {
            // Whether a run is stored depends on what is: statement by statement.
            let mut tx = conn.begin_with(BEGIN_WRITE).await.map_err(db_error)?;
            let mut outcomes = Vec::with_capacity(jobs.len());
            let mut creates = creates.iter();
            for job in jobs {
                outcomes.push(match job {
                    Job::Create(_) => match creates.next() {
                        Some(run) => create_run(&mut tx, run).await?,
                        None => return Err(corrupt("batch", "a create was not encoded")),
                    },
                    Job::Commit(_) => Ok(()),
                });
            }
            rows.write(&mut tx).await?;
            tx.commit().await.map_err(db_error)?;
            return Ok(outcomes);
        }
        // Otherwise the whole transaction is one script (a few for a large batch): one
        // request to the connection's thread instead of one per statement. A run's
        // creation is queued ahead of its commits (on its chain's writer), so the
        // creations go first.
        let mut script = Script::new();
        let written = async {
            script.statement(BEGIN_WRITE);
            for run in &creates {
                run.insert_run(&mut script, false);
                script.pushed(&mut *conn, 1).await?;
                run.insert_request(&mut script, &mut *conn).await?;
            }
            rows.push(&mut script, &mut *conn).await?;
            script.statement("commit");
            script.send(&mut *conn).await
        };
        if let Err(error) = written.await {
            // A statement failed: the script stopped there, inside the transaction.
            if let Err(rollback) = sqlx::query("rollback").execute(&mut **conn).await {
                tracing::warn!(error = %rollback, "rolling back a failed write failed");
            }
            return Err(error);
        }
        Ok(jobs.iter().map(|_| Ok(())).collect())
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// The rows of merged commits (see `Merged`), encoded for SQLite.
struct Rows<'a> {
    runs: Vec<RunValues<'a>>,
    tasks: Vec<TaskValues<'a>>,
    attempts: Vec<AttemptValues<'a>>,
    events: Vec<EventValues>,
    telemetry: Vec<TelemetryValues<'a>>,
}

impl<'a> Rows<'a> {
    /// The rows of merged commits, with the first events of the runs the batch
    /// creates.
    fn new<'c>(
        merged: &Merged<'a>,
        created: impl IntoIterator<Item = &'c EventRow>,
    ) -> Result<Self, JournalError> {
        Ok(Rows {
            runs: merged
                .runs
                .iter()
                .map(|&(state, plan)| RunValues::new(state, plan))
                .collect::<Result<_, _>>()?,
            tasks: merged
                .tasks
                .iter()
                .map(|task| TaskValues::new(task))
                .collect::<Result<_, _>>()?,
            attempts: merged
                .attempts
                .iter()
                .map(|attempt| AttemptValues::new(attempt))
                .collect::<Result<_, _>>()?,
            events: event_rows(created, &merged.events)?
                .into_iter()
                .map(EventValues::new)
                .collect::<Result<_, _>>()?,
            telemetry: merged
                .telemetry
                .iter()
                .map(|record| TelemetryValues::new(record))
                .collect::<Result<_, _>>()?,
        })
    }

    /// Writes every row: a few statements for the lot, sent as one script.
    async fn write(&self, conn: &mut SqliteConnection) -> Result<(), JournalError> {
        let mut script = Script::new();
        self.push(&mut script, conn).await?;
        script.send(conn).await
    }

    /// Adds every row to the script, a multi-row statement per table (or several, of
    /// at most [`ROWS_PER_STATEMENT`] rows each).
    async fn push<'q>(
        &'q self,
        script: &mut Script<'q>,
        conn: &mut SqliteConnection,
    ) -> Result<(), JournalError> {
        for chunk in self.runs.chunks(ROWS_PER_STATEMENT) {
            RunValues::update(script, chunk);
            script.pushed(conn, chunk.len()).await?;
        }
        let planned: Vec<&RunValues<'_>> =
            self.runs.iter().filter(|run| run.plan.is_some()).collect();
        for chunk in planned.chunks(ROWS_PER_STATEMENT) {
            RunValues::store_plans(script, chunk);
            script.pushed(conn, chunk.len()).await?;
        }
        for chunk in self.tasks.chunks(ROWS_PER_STATEMENT) {
            TaskValues::upsert(script, chunk);
            script.pushed(conn, chunk.len()).await?;
        }
        for chunk in self.attempts.chunks(ROWS_PER_STATEMENT) {
            AttemptValues::upsert(script, chunk);
            script.pushed(conn, chunk.len()).await?;
        }
        insert_events(script, conn, &self.events).await?;
        for chunk in self.telemetry.chunks(ROWS_PER_STATEMENT) {
            TelemetryValues::upsert(script, chunk);
            script.pushed(conn, chunk.len()).await?;
        }
        Ok(())
    }
}

/// An event encoded for SQLite.
struct EventValues {
    run_id: String,
    seq: i64,
    kind: &'static str,
    ts: String,
    data: String,
    first_seq: i64,
}

impl EventValues {
    /// A row of a run's events.
    fn new(row: EventRow) -> Result<Self, JournalError> {
        Ok(EventValues {
            run_id: row.run_id.to_string(),
            seq: to_db_int(row.seq),
            kind: row.kind,
            ts: sqlite_time(row.ts)?,
            data: row.data,
            first_seq: to_db_int(row.first_seq),
        })
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

    /// Inserts the rows, or replaces each stored one unless that one is newer.
    fn upsert<'q>(script: &mut Script<'q>, rows: &'q [Self]) {
        let builder =
            script.statement("insert into telemetry (provider, model, state, updated_at) ");
        builder.push_values(rows, |mut values, row| {
            values
                .push_bind(row.record.provider.as_str())
                .push_bind(row.record.model.as_str())
                .push_bind(row.state.as_str())
                .push_bind(row.updated_at.as_str());
        });
        builder.push(
            " on conflict (provider, model) do update set state = excluded.state, \
             updated_at = excluded.updated_at where excluded.updated_at >= telemetry.updated_at",
        );
    }
}

/// A run's new state encoded for SQLite, with the plan to store (none keeps the
/// stored one).
struct RunValues<'a> {
    state: &'a RunState,
    id: String,
    plan: Option<&'a str>,
    error: Option<String>,
    started_at: Option<String>,
    finished_at: Option<String>,
    updated_at: String,
}

impl<'a> RunValues<'a> {
    fn new(state: &'a RunState, plan: Option<&'a EncodedJson>) -> Result<Self, JournalError> {
        Ok(RunValues {
            state,
            id: state.id.to_string(),
            plan: plan.map(EncodedJson::as_str),
            error: state
                .error
                .as_ref()
                .map(|error| to_json(error, "run error"))
                .transpose()?,
            started_at: state.started_at.map(sqlite_time).transpose()?,
            finished_at: state.finished_at.map(sqlite_time).transpose()?,
            updated_at: sqlite_time(state.updated_at)?,
        })
    }

    /// Updates the runs from a list of values (their columns are `column1`… in the
    /// order pushed). The status is set by a statement of its own, and only where it
    /// changes: SQLite rewrites the entries of every index on a column an `update`
    /// sets, even to the value it has, and two indexes of `runs` are on the status, so
    /// setting it with every usage update cost two more pages in every commit's WAL.
    fn update<'q>(script: &mut Script<'q>, rows: &'q [Self]) {
        let builder = script.statement(
            "update runs set output = v.column2, error = v.column3, llm_calls = v.column4, \
             tokens_in = v.column5, tokens_out = v.column6, cost_usd = v.column7, \
             started_at = v.column8, finished_at = v.column9, updated_at = v.column10 from (",
        );
        builder.push_values(rows, |mut values, row| {
            let state = row.state;
            values
                .push_bind(row.id.as_str())
                .push_bind(state.output.as_deref())
                .push_bind(row.error.as_deref())
                .push_bind(to_db_int(state.usage.llm_calls))
                .push_bind(to_db_int(state.usage.tokens_in))
                .push_bind(to_db_int(state.usage.tokens_out))
                .push_bind(state.usage.cost_usd)
                .push_bind(row.started_at.as_deref())
                .push_bind(row.finished_at.as_deref())
                .push_bind(row.updated_at.as_str());
        });
        builder.push(") as v where runs.id = v.column1");
        let builder = script.statement("update runs set status = v.column2 from (");
        builder.push_values(rows, |mut values, row| {
            values
                .push_bind(row.id.as_str())
                .push_bind(row.state.status.as_str());
        });
        builder.push(") as v where runs.id = v.column1 and runs.status is not v.column2");
    }

    /// Stores the plans these runs set (each has one), beside their rows.
    fn store_plans<'q>(script: &mut Script<'q>, rows: &[&'q Self]) {
        let builder = script.statement("update run_documents set plan = v.column2 from (");
        builder.push_values(rows, |mut values, row| {
            values.push_bind(row.id.as_str()).push_bind(row.plan);
        });
        builder.push(") as v where run_documents.run_id = v.column1");
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

    fn upsert<'q>(script: &mut Script<'q>, rows: &'q [Self]) {
        let builder = script.statement(
            "insert into tasks (run_id, task_id, position, spec, status, output, error, provider, \
             model, attempts, llm_calls, tokens_in, tokens_out, cost_usd, started_at, finished_at) ",
        );
        builder.push_values(rows, |mut values, row| {
            let task = row.task;
            values
                .push_bind(row.run_id.as_str())
                .push_bind(task.task_id.as_str())
                .push_bind(i64::from(task.position))
                .push_bind(row.spec.as_str())
                .push_bind(task.status.as_str())
                .push_bind(task.output.as_deref())
                .push_bind(task.error.as_deref())
                .push_bind(task.provider.as_deref())
                .push_bind(task.model.as_deref())
                .push_bind(i64::from(task.attempts))
                .push_bind(to_db_int(task.usage.llm_calls))
                .push_bind(to_db_int(task.usage.tokens_in))
                .push_bind(to_db_int(task.usage.tokens_out))
                .push_bind(task.usage.cost_usd)
                .push_bind(row.started_at.as_deref())
                .push_bind(row.finished_at.as_deref());
        });
        builder.push(
            " on conflict (run_id, task_id) do update set position = excluded.position, \
             spec = excluded.spec, status = excluded.status, output = excluded.output, \
             error = excluded.error, provider = excluded.provider, model = excluded.model, \
             attempts = excluded.attempts, llm_calls = excluded.llm_calls, \
             tokens_in = excluded.tokens_in, tokens_out = excluded.tokens_out, \
             cost_usd = excluded.cost_usd, started_at = excluded.started_at, \
             finished_at = excluded.finished_at",
        );
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

    /// Inserts the attempts, or updates the stored ones. An attempt's run and start
    /// time never change, and an index holds them (`attempts_run_id_started_at_idx`):
    /// they are left out of the update, since SQLite rewrites an index's entries for
    /// every column an `update` sets, even to the value it has.
    fn upsert<'q>(script: &mut Script<'q>, rows: &'q [Self]) {
        let builder = script.statement(
            "insert into attempts (id, run_id, task_id, kind, number, provider, model, status, \
             reserved_cost_usd, tokens_in, tokens_out, tokens_cached, tokens_reasoning, \
             usage_estimated, cost_usd, latency_ms, error, started_at, finished_at) ",
        );
        builder.push_values(rows, |mut values, row| {
            let attempt = row.attempt;
            let usage = attempt.usage.as_ref();
            values
                .push_bind(row.id.as_str())
                .push_bind(row.run_id.as_str())
                .push_bind(attempt.task_id.as_ref().map(TaskId::as_str))
                .push_bind(attempt.kind.as_str())
                .push_bind(i64::from(attempt.number))
                .push_bind(attempt.provider.as_str())
                .push_bind(attempt.model.as_str())
                .push_bind(attempt.status.as_str())
                .push_bind(attempt.reserved_cost_usd)
                .push_bind(usage.map(|usage| to_db_int(usage.input_tokens)))
                .push_bind(usage.map(|usage| to_db_int(usage.output_tokens)))
                .push_bind(usage.map(|usage| to_db_int(usage.cached_input_tokens)))
                .push_bind(usage.map(|usage| to_db_int(usage.reasoning_tokens)))
                .push_bind(usage.map(|usage| usage.estimated))
                .push_bind(attempt.cost_usd)
                .push_bind(attempt.latency_ms.map(to_db_int))
                .push_bind(attempt.error.as_deref())
                .push_bind(row.started_at.as_str())
                .push_bind(row.finished_at.as_deref());
        });
        builder.push(
            " on conflict (id) do update set task_id = excluded.task_id, \
             kind = excluded.kind, number = excluded.number, provider = excluded.provider, \
             model = excluded.model, status = excluded.status, \
             reserved_cost_usd = excluded.reserved_cost_usd, tokens_in = excluded.tokens_in, \
             tokens_out = excluded.tokens_out, tokens_cached = excluded.tokens_cached, \
             tokens_reasoning = excluded.tokens_reasoning, \
             usage_estimated = excluded.usage_estimated, cost_usd = excluded.cost_usd, \
             latency_ms = excluded.latency_ms, error = excluded.error, \
             finished_at = excluded.finished_at",
        );
    }
}
