//! The PostgreSQL backend: a connection pool, and the shared write queue
//! (`crate::queue`) with several writers. Each writer writes the commits that queued
//! up behind each other as one statement (group commit: one round trip and one WAL
//! flush for many runs), atomic without an explicit transaction, new runs without an
//! idempotency key included; a batch with a keyed new run in it is one transaction
//! of several statements.

mod rows;

use std::str::FromStr;
use std::sync::LazyLock;
use std::time::Duration;

use async_trait::async_trait;
use baton_core::encoded::EncodedJson;
use baton_core::event::Event;
use baton_core::ids::{RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, Commit, JournalError, JournalStats, RunQuery, RunRecord, RunState, StoredRun,
    TaskRecord, TelemetryRecord, stored_time,
};
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection, Postgres, QueryBuilder, Row};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{
    EventRow, Merged, attempt_columns, event_rows, events_after_in, from_db_u64, run_columns,
    task_columns, tenant_to_db, terminal_run_statuses, to_db_int, to_json, with_stored_plan,
};
use crate::config::{JournalConfig, redact_url};
use crate::error::{corrupt, db_error, migrate_error};
use crate::queue::{Backend, Job, Keep, QueuedRun, WriteQueue, commits_of};
use crate::stats::{CallRow, StatsRows, TaskRow};
use crate::{POSTGRES_MIGRATOR, migrations};
use rows::Columns;

/// A pooled connection idle this long is pinged before use, so one that the server
/// or a proxy closed meanwhile is replaced instead of failing a write.
const PING_IDLE_AFTER: Duration = Duration::from_secs(30);

/// Session settings of every connection: no hash or merge joins, and generic plans.
/// Every statement Baton runs finds rows by key, and a batch's run updates join the
/// runs table to the batch's few rows; a generic plan that PostgreSQL cached while
/// the table was small (as on every new database) hashes the whole table instead,
/// for every batch, however large it grew (a quarter of PostgreSQL's CPU in `POST
/// /run` under load, see BENCHMARKS.md). With them off the join is an index lookup
/// per row at any size.
///
/// And one plan per prepared statement, made at its first execution (a generic
/// plan), instead of PostgreSQL's choice after five executions between that and a
/// plan made afresh at every execution: the choice depends on the sizes of the
/// first batches a connection happens to write, and a fresh plan of the commit
/// statement took 0.25 ms of every commit (its `bind`, against 0.03 ms).
const SESSION_SETTINGS: [(&str, &str); 3] = [
    ("enable_hashjoin", "off"),
    ("enable_mergejoin", "off"),
    ("plan_cache_mode", "force_generic_plan"),
];

/// The journal on PostgreSQL. Cloning is cheap and shares the pool.
#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The writers (`JournalConfig::postgres_writers`: by default half as many as
    /// the pool has connections, at least one and at most the machine's cores), each
    /// holding at most one connection at a time, so a burst of writes queues (in
    /// arrival order, without a time limit) instead of failing on the pool's acquire
    /// timeout, and reads keep the rest. Writers keep their connections between
    /// batches (see `crate::queue`), so more of them would leave reads too few; and
    /// on a busy database fewer writers write larger batches in fewer transactions
    /// that contend less: `POST /run` made half as many WAL flushes per run with 5
    /// writers as with 9, and ran about a quarter faster with 2 than with 5.
    queue: WriteQueue,
    display_url: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.display_url)
            .field("connections", &self.pool.size())
            .finish()
    }
}

impl PgStore {
    /// Connects a pool of up to `config.max_connections` to `config.url`, failing
    /// if the server cannot be reached within `config.acquire_timeout_ms`.
    #[tracing::instrument(skip_all, fields(db.url = %redact_url(&config.url)))]
    pub async fn connect(config: &JournalConfig) -> Result<PgStore, JournalError> {
        let options = PgConnectOptions::from_str(&config.url)
            .map_err(db_error)?
            .options(SESSION_SETTINGS);
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections.max(1))
            .acquire_timeout(config.acquire_timeout())
            // sqlx pings every connection it hands out, a round trip as long as a
            // commit; ping only those idle long enough to have gone stale.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE_AFTER {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(db_error)?;
        let writers = config.postgres_writers();
        // With one connection in all, the reads share the writer's.
        let keep = if config.max_connections < 2 {
            Keep::Never
        } else {
            Keep::BetweenBatches
        };
        let queue = WriteQueue::start(Writer(pool.clone()), writers as usize, keep);
        Ok(PgStore {
            queue,
            pool,
            display_url: redact_url(&config.url),
        })
    }

    /// Applies the embedded migrations that are missing.
    #[tracing::instrument(skip_all)]
    pub async fn migrate(&self) -> Result<(), JournalError> {
        POSTGRES_MIGRATOR
            .run(&self.pool)
            .await
            .map_err(migrate_error)
    }

    /// The URL with its password masked.
    pub fn display_url(&self) -> &str {
        &self.display_url
    }

    /// Closes the pool (once the writers have given their connections back).
    pub async fn close(&self) {
        self.queue.release_connections();
        self.pool.close().await;
    }

    /// Its write queue: new runs and commits go through it (see `crate::queue`).
    pub(crate) fn queue(&self) -> &WriteQueue {
        &self.queue
    }

    pub(crate) async fn load_telemetry(&self) -> Result<Vec<TelemetryRecord>, JournalError> {
        let found = sqlx::query(
            "select provider, model, state, updated_at from telemetry order by provider, model",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        found.iter().map(rows::telemetry).collect()
    }

    pub(crate) async fn stats(&self) -> Result<JournalStats, JournalError> {
        let runs: Vec<(String, i64)> =
            sqlx::query_as("select status, count(*) from runs group by status")
                .fetch_all(&self.pool)
                .await
                .map_err(db_error)?;
        let tasks: Vec<(String, i64)> = sqlx::query_as(TASKS_BY_STATUS_SQL)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let task_rows = sqlx::query(TASKS_BY_PROVIDER_SQL)
            .fetch_all(&self.pool)
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
            .fetch_all(&self.pool)
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
        read_run(&self.pool, id, tenant).await
    }

    /// A run with its tasks and attempts, in one statement (`RUN_WITH_ROWS_SQL`), so
    /// one round trip.
    pub(crate) async fn get_run_with_rows(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<StoredRun>, JournalError> {
        let found = sqlx::query(RUN_WITH_ROWS_SQL)
            .bind(id.as_uuid())
            .bind(tenant)
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let mut run = None;
        let mut rows = Vec::new();
        let mut attempts = Vec::new();
        for row in &found {
            match get_part(row)? {
                0 => run = Some(rows::run_at(&Columns::from(row, 1))?),
                1 => rows.push(rows::task_at(&Columns::from(row, 1 + RUN_COLUMNS))?),
                2 => attempts.push(rows::attempt_at(&Columns::from(
                    row,
                    1 + RUN_COLUMNS + TASK_COLUMNS,
                ))?),
                other => return Err(corrupt("part", format!("{other} is not 0, 1 or 2"))),
            }
        }
        // The rows of a run the tenant may not see are dropped with it.
        Ok(run.map(|run| StoredRun::in_order(run, rows, attempts)))
    }

    pub(crate) async fn find_by_idempotency_key(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<RunRecord>, JournalError> {
        let row = sqlx::query(concat!(
            "select ",
            run_columns!(),
            " from runs where tenant = $1 and idempotency_key = $2"
        ))
        .bind(tenant_to_db(tenant))
        .bind(key)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        row.as_ref().map(rows::run).transpose()
    }

    pub(crate) async fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError> {
        let mut builder = QueryBuilder::<Postgres>::new("select ");
        builder.push(run_columns!()).push(" from runs where true");
        if let Some(tenant) = &query.tenant {
            builder.push(" and tenant = ").push_bind(tenant.as_str());
        }
        if let Some(status) = query.status {
            builder.push(" and status = ").push_bind(status.as_str());
        }
        if let Some(before) = query.before {
            builder.push(" and id < ").push_bind(before.as_uuid());
        }
        builder
            .push(" order by id desc limit ")
            .push_bind(i64::from(query.limit));
        let found = builder
            .build()
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        found.iter().map(rows::run).collect()
    }

    /// A run's tasks in plan order, those not started yet from its plan (see
    /// `with_planned_tasks`), on one connection.
    pub(crate) async fn list_tasks(&self, run_id: RunId) -> Result<Vec<TaskRecord>, JournalError> {
        let mut conn = self.pool.acquire().await.map_err(db_error)?;
        let plan: Option<Option<String>> =
            sqlx::query_scalar("select plan from runs where id = $1")
                .bind(run_id.as_uuid())
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
        read_attempts(&self.pool, run_id, task_id).await
    }

    pub(crate) async fn events_after(
        &self,
        run_id: RunId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, JournalError> {
        let found: Vec<String> = sqlx::query_scalar(
            "select data from events where run_id = $1 and seq > $2 order by seq limit $3",
        )
        .bind(run_id.as_uuid())
        .bind(to_db_int(after))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        events_after_in(found.iter().map(String::as_str), after, limit)
    }

    /// The largest `seq` of a run's event rows: a row of several events carries its
    /// last one's.
    pub(crate) async fn last_seq(&self, run_id: RunId) -> Result<u64, JournalError> {
        let last: Option<i64> = sqlx::query_scalar("select max(seq) from events where run_id = $1")
            .bind(run_id.as_uuid())
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        last.map_or(Ok(0), |seq| from_db_u64(seq, "seq"))
    }

    pub(crate) async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, JournalError> {
        let found = sqlx::query(concat!(
            "select ",
            run_columns!(),
            " from runs where status not in ",
            terminal_run_statuses!(),
            " order by id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        found.iter().map(rows::run).collect()
    }

    pub(crate) async fn ready(&self) -> Result<bool, JournalError> {
        let has_table: bool =
            sqlx::query_scalar("select to_regclass('_sqlx_migrations') is not null")
                .fetch_one(&self.pool)
                .await
                .map_err(db_error)?;
        if !has_table {
            return Ok(false);
        }
        let applied = sqlx::query("select version, checksum from _sqlx_migrations where success")
            .fetch_all(&self.pool)
            .await
            .map_err(db_error)?;
        let applied = applied
            .iter()
            .map(|row| Ok((row.try_get("version")?, row.try_get("checksum")?)))
            .collect::<Result<Vec<(i64, Vec<u8>)>, sqlx::Error>>()
            .map_err(db_error)?;
        Ok(migrations::all_applied(&POSTGRES_MIGRATOR, &applied))
    }
}

/// A run by id (and tenant), through any executor.
async fn read_run<'e>(
    executor: impl sqlx::Executor<'e, Database = Postgres>,
    id: RunId,
    tenant: Option<&str>,
) -> Result<Option<RunRecord>, JournalError> {
    let mut builder = QueryBuilder::<Postgres>::new("select ");
    builder
        .push(run_columns!())
        .push(" from runs where id = ")
        .push_bind(id.as_uuid());
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
    executor: impl sqlx::Executor<'e, Database = Postgres>,
    run_id: RunId,
) -> Result<Vec<TaskRecord>, JournalError> {
    let found = sqlx::query(concat!(
        "select ",
        task_columns!(),
        " from tasks where run_id = $1 order by position, task_id"
    ))
    .bind(run_id.as_uuid())
    .fetch_all(executor)
    .await
    .map_err(db_error)?;
    found.iter().map(rows::task).collect()
}

/// A run's attempts in the order they began, through any executor.
async fn read_attempts<'e>(
    executor: impl sqlx::Executor<'e, Database = Postgres>,
    run_id: RunId,
    task_id: Option<&TaskId>,
) -> Result<Vec<AttemptRecord>, JournalError> {
    let mut builder = QueryBuilder::<Postgres>::new("select ");
    builder
        .push(attempt_columns!())
        .push(" from attempts where run_id = ")
        .push_bind(run_id.as_uuid());
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

/// Typed nulls in the place of a run's columns (`run_columns!`).
macro_rules! run_nulls {
    () => {
        "null::uuid, null::text, null::text, null::text, null::text, null::text, null::text, \
         null::text, null::jsonb, null::bigint, null::bigint, null::bigint, null::float8, \
         null::timestamptz, null::timestamptz, null::timestamptz, null::timestamptz"
    };
}

/// Typed nulls in the place of a task's columns (`task_columns!`).
macro_rules! task_nulls {
    () => {
        "null::uuid, null::text, null::bigint, null::text, null::text, null::text, null::text, \
         null::text, null::text, null::bigint, null::bigint, null::bigint, null::bigint, \
         null::float8, null::timestamptz, null::timestamptz"
    };
}

/// Typed nulls in the place of an attempt's columns (`attempt_columns!`).
macro_rules! attempt_nulls {
    () => {
        "null::uuid, null::uuid, null::text, null::text, null::bigint, null::text, null::text, \
         null::text, null::float8, null::bigint, null::bigint, null::bigint, null::bigint, \
         null::boolean, null::float8, null::bigint, null::text, null::timestamptz, \
         null::timestamptz"
    };
}

/// The columns of a run, a task and an attempt (`run_columns!`, `task_columns!`,
/// `attempt_columns!`).
const RUN_COLUMNS: usize = 17;
const TASK_COLUMNS: usize = 16;

/// A run, its tasks and its attempts in one statement, so one round trip (three
/// statements took three, each a share of `POST /run`'s time: BENCHMARKS.md). Each
/// row is one record: its part (0 the run, 1 a task, 2 an attempt), then the run's
/// columns, the task's and the attempt's, those of the other records null. The run's
/// row is there only if the tenant ($2, when not null) may see it; the caller drops
/// the other rows without it, and orders them (tasks in plan order, attempts in the
/// order they began).
const RUN_WITH_ROWS_SQL: &str = concat!(
    "select 0 as part, ",
    run_columns!(),
    ", ",
    task_nulls!(),
    ", ",
    attempt_nulls!(),
    " from runs where id = $1 and ($2::text is null or tenant = $2)
union all
select 1, ",
    run_nulls!(),
    ", ",
    task_columns!(),
    ", ",
    attempt_nulls!(),
    " from tasks where run_id = $1
union all
select 2, ",
    run_nulls!(),
    ", ",
    task_nulls!(),
    ", ",
    attempt_columns!(),
    " from attempts where run_id = $1"
);

/// The part of a row of [`RUN_WITH_ROWS_SQL`].
fn get_part(row: &sqlx::postgres::PgRow) -> Result<i32, JournalError> {
    row.try_get(0).map_err(|error| corrupt("part", error))
}

/// Tasks by status: the stored rows, and the tasks of unfinished runs' plans that
/// have no row yet (pending; see `with_planned_tasks`).
const TASKS_BY_STATUS_SQL: &str = concat!(
    "select status, sum(n)::bigint from (
    select status, count(*) as n from tasks group by status
    union all
    select 'pending', sum(json_array_length(r.plan::json -> 'tasks')
        - (select count(*) from tasks t where t.run_id = r.id))
    from runs r
    where r.status not in ",
    terminal_run_statuses!(),
    " and r.plan is not null
) counts group by status having sum(n) > 0"
);

/// Tasks by the provider of their last call, with the durations of those that ran
/// and ended, each rounded to the millisecond as on SQLite. Sums are cast back to `bigint` and `float8` (PostgreSQL widens them
/// to `numeric`).
const TASKS_BY_PROVIDER_SQL: &str = "\
select provider,
    count(*) as tasks,
    count(*) filter (where status = 'succeeded') as succeeded,
    count(*) filter (where status = 'failed') as failed,
    count(*) filter (where started_at is not null and finished_at is not null) as timed,
    coalesce(sum(round(extract(epoch from (finished_at - started_at)) * 1000)), 0)::float8
        as latency_ms
from tasks
group by provider";

/// Calls (attempts) by provider.
const CALLS_BY_PROVIDER_SQL: &str = "\
select provider,
    count(*) as calls,
    count(*) filter (where status = 'failed') as failed_calls,
    coalesce(sum(tokens_in), 0)::bigint as tokens_in,
    coalesce(sum(tokens_out), 0)::bigint as tokens_out,
    coalesce(sum(cost_usd), 0)::float8 as cost_usd,
    count(latency_ms) as timed_calls,
    coalesce(sum(latency_ms), 0)::float8 as latency_ms
from attempts
group by provider";

/// Inserts a run and its first events in one statement; returns no row (and
/// writes nothing) when the tenant's idempotency key is taken.
const CREATE_RUN_SQL: &str = "\
with new_run as (
    insert into runs (id, tenant, request, idempotency_key, request_hash, status, created_at, updated_at)
    values ($1, $2, $3, $4, $5, $6, $7, $7)
    on conflict on constraint runs_idempotency_key_key do nothing
    returning id
),
new_events as (
    insert into events (run_id, seq, type, ts, data, first_seq)
    select e.run_id, e.seq, e.type, e.ts, e.data, e.first_seq
    from unnest($8::uuid[], $9::bigint[], $10::text[], $11::timestamptz[], $12::text[],
        $13::bigint[])
        as e (run_id, seq, type, ts, data, first_seq)
    where exists (select 1 from new_run)
    on conflict (run_id, seq) do nothing
)
select id from new_run";

/// The run, task and attempt writes of the commit statement ($1–$47).
macro_rules! commit_head {
    () => {
        "\
run_update as (
    update runs set
        status = r.status,
        plan = coalesce(r.plan, runs.plan),
        output = r.output,
        error = r.error::jsonb,
        llm_calls = r.llm_calls,
        tokens_in = r.tokens_in,
        tokens_out = r.tokens_out,
        cost_usd = r.cost_usd,
        started_at = r.started_at,
        finished_at = r.finished_at,
        updated_at = r.updated_at
    from unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[],
        $7::bigint[], $8::bigint[], $9::float8[], $10::timestamptz[], $11::timestamptz[],
        $12::timestamptz[])
        as r (id, status, plan, output, error, llm_calls, tokens_in, tokens_out, cost_usd,
            started_at, finished_at, updated_at)
    where runs.id = r.id
),
task_upsert as (
    insert into tasks (run_id, task_id, position, spec, status, output, error, provider, model,
        attempts, llm_calls, tokens_in, tokens_out, cost_usd, started_at, finished_at)
    select t.run_id, t.task_id, t.position, t.spec, t.status, t.output, t.error,
        t.provider, t.model, t.attempts, t.llm_calls, t.tokens_in, t.tokens_out, t.cost_usd,
        t.started_at, t.finished_at
    from unnest($13::uuid[], $14::text[], $15::bigint[], $16::text[], $17::text[], $18::text[],
        $19::text[], $20::text[], $21::text[], $22::bigint[], $23::bigint[], $24::bigint[],
        $25::bigint[], $26::float8[], $27::timestamptz[], $28::timestamptz[])
        as t (run_id, task_id, position, spec, status, output, error, provider, model,
            attempts, llm_calls, tokens_in, tokens_out, cost_usd, started_at, finished_at)
    on conflict (run_id, task_id) do update set
        position = excluded.position,
        spec = excluded.spec,
        status = excluded.status,
        output = excluded.output,
        error = excluded.error,
        provider = excluded.provider,
        model = excluded.model,
        attempts = excluded.attempts,
        llm_calls = excluded.llm_calls,
        tokens_in = excluded.tokens_in,
        tokens_out = excluded.tokens_out,
        cost_usd = excluded.cost_usd,
        started_at = excluded.started_at,
        finished_at = excluded.finished_at
),
attempt_upsert as (
    insert into attempts (id, run_id, task_id, kind, number, provider, model, status,
        reserved_cost_usd, tokens_in, tokens_out, tokens_cached, tokens_reasoning,
        usage_estimated, cost_usd, latency_ms, error, started_at, finished_at)
    select * from unnest($29::uuid[], $30::uuid[], $31::text[], $32::text[], $33::bigint[],
        $34::text[], $35::text[], $36::text[], $37::float8[], $38::bigint[], $39::bigint[],
        $40::bigint[], $41::bigint[], $42::boolean[], $43::float8[], $44::bigint[], $45::text[],
        $46::timestamptz[], $47::timestamptz[])
    -- An attempt's run and start time never change, so they are not updated (on
    -- SQLite, setting them rewrote their index's entries).
    on conflict (id) do update set
        task_id = excluded.task_id,
        kind = excluded.kind,
        number = excluded.number,
        provider = excluded.provider,
        model = excluded.model,
        status = excluded.status,
        reserved_cost_usd = excluded.reserved_cost_usd,
        tokens_in = excluded.tokens_in,
        tokens_out = excluded.tokens_out,
        tokens_cached = excluded.tokens_cached,
        tokens_reasoning = excluded.tokens_reasoning,
        usage_estimated = excluded.usage_estimated,
        cost_usd = excluded.cost_usd,
        latency_ms = excluded.latency_ms,
        error = excluded.error,
        finished_at = excluded.finished_at
),
"
    };
}

/// The telemetry upsert of the commit statement ($54–$57).
macro_rules! commit_telemetry {
    () => {
        "\
telemetry_upsert as (
    insert into telemetry (provider, model, state, updated_at)
    select t.provider, t.model, t.state::jsonb, t.updated_at
    from unnest($54::text[], $55::text[], $56::text[], $57::timestamptz[])
        as t (provider, model, state, updated_at)
    on conflict (provider, model) do update set
        state = excluded.state,
        updated_at = excluded.updated_at
    where telemetry.updated_at <= excluded.updated_at
),
"
    };
}

/// The event inserts ($48–$53) and the check that every run named is stored (the
/// runs the statement inserts are left out of it, at the end).
macro_rules! commit_tail {
    () => {
        "\
event_insert as (
    insert into events (run_id, seq, type, ts, data, first_seq)
    select e.run_id, e.seq, e.type, e.ts, e.data, e.first_seq
    from unnest($48::uuid[], $49::bigint[], $50::text[], $51::timestamptz[], $52::text[],
        $53::bigint[])
        as e (run_id, seq, type, ts, data, first_seq)
    -- A row holds a run's events from `first_seq` to `seq` (see `EventRow`), and stored
    -- events are kept as they are: the row goes in only if the run's first stored row
    -- at or after `first_seq` begins after `seq` (or there is none). Rows never
    -- overlap, so that one row is the only one that could, and a commit's events land
    -- all at once, so events stored in rows cut differently (a batch written again
    -- one commit at a time) are found too. The check is an index probe per row, which
    -- costs PostgreSQL less than `on conflict do nothing` (a speculative insertion per
    -- row, each with its own WAL record to confirm it). Two transactions inserting the
    -- same events at once (not a run's own commits, which go through one writer) both
    -- pass the check; the later one fails on the key, is tried again (`db_error`) and
    -- finds them stored.
    where coalesce((
        select coalesce(stored.first_seq, stored.seq)
        from events stored
        where stored.run_id = e.run_id and stored.seq >= e.first_seq
        order by stored.seq
        limit 1
    ), e.seq + 1) > e.seq
),
named_runs as (
    select unnest($13::uuid[]) as id
    union select unnest($30::uuid[])
    union select unnest($48::uuid[])
)
select ('a commit names run ' || n.id || ', which is not stored')::integer
from named_runs n
where not exists (select 1 from runs where runs.id = n.id)"
    };
}

/// Applies commits in one statement: the run updates, the task and attempt upserts,
/// the event inserts, and the telemetry upserts (a stored row newer than the given one
/// is kept). A statement is atomic, so nothing lands unless everything does.
///
/// A task, attempt or event of a run that is not stored fails the statement (the
/// tables have no foreign keys, whose triggers locked the run's row for every
/// inserted row): the final `select` casts a message naming the run to an integer,
/// which fails as a data exception (SQLSTATE 22P02, `Corrupt`) and undoes the lot.
///
/// A batch without router state leaves the telemetry upsert out (and its parameters,
/// $54–$57): every part of the statement is set up on each execution, even over
/// empty arrays, and that one part is the one most batches leave empty (the state is
/// saved at most once a second per model after successes). A batch that creates runs
/// inserts them first (see [`run_insert`]).
fn commit_sql(telemetry: bool, new_runs: bool) -> &'static str {
    static STATEMENTS: LazyLock<[String; 4]> = LazyLock::new(|| {
        [(false, false), (true, false), (false, true), (true, true)]
            .map(|(telemetry, new_runs)| build_commit_sql(telemetry, new_runs))
    });
    &STATEMENTS[usize::from(telemetry) + 2 * usize::from(new_runs)]
}

/// The text of [`commit_sql`]'s statement: the run updates and the task, attempt and
/// event writes take $1–$53, the telemetry upsert the next four, the new runs the
/// rest.
fn build_commit_sql(telemetry: bool, new_runs: bool) -> String {
    let mut sql = String::from("with ");
    let new_runs_from = if telemetry { 58 } else { 54 };
    if new_runs {
        sql.push_str(&run_insert(new_runs_from));
    }
    sql.push_str(commit_head!());
    if telemetry {
        sql.push_str(commit_telemetry!());
    }
    sql.push_str(commit_tail!());
    if new_runs {
        sql.push_str(&format!("\n    and n.id <> all(${new_runs_from}::uuid[])"));
    }
    sql.push_str("\nlimit 1");
    sql
}

/// The insert of runs created in the batch, with the last state the batch gives
/// them (`$first` onwards). It comes first, but the statement's other parts do not
/// see its rows (they all see the tables as they were), so a new run's state goes
/// into its insert instead of the run updates, and the check that every run named is
/// stored leaves the new ones out. Only runs without an idempotency key are created
/// this way: nothing can refuse them, short of a taken id, which fails the lot.
fn run_insert(first: usize) -> String {
    let arrays: Vec<String> = NEW_RUN_COLUMNS
        .iter()
        .zip(first..)
        .map(|((_, array), number)| format!("${number}::{array}"))
        .collect();
    let names: Vec<&str> = NEW_RUN_COLUMNS.iter().map(|(name, _)| *name).collect();
    format!(
        "\
run_insert as (
    insert into runs (id, tenant, request, status, plan, output, error, llm_calls,
        tokens_in, tokens_out, cost_usd, created_at, updated_at, started_at, finished_at)
    select r.id, r.tenant, r.request, r.status, r.plan, r.output, r.error::jsonb,
        r.llm_calls, r.tokens_in, r.tokens_out, r.cost_usd, r.created_at, r.updated_at,
        r.started_at, r.finished_at
    from unnest({}) as r ({})
),
",
        arrays.join(", "),
        names.join(", ")
    )
}

/// The columns of [`run_insert`]'s `unnest`, in the order `CommitColumns::execute`
/// binds them: each one's name and array type.
const NEW_RUN_COLUMNS: [(&str, &str); 15] = [
    // A run's state, as `RunColumns::bind` binds it.
    ("id", "uuid[]"),
    ("status", "text[]"),
    ("plan", "text[]"),
    ("output", "text[]"),
    ("error", "text[]"),
    ("llm_calls", "bigint[]"),
    ("tokens_in", "bigint[]"),
    ("tokens_out", "bigint[]"),
    ("cost_usd", "float8[]"),
    ("started_at", "timestamptz[]"),
    ("finished_at", "timestamptz[]"),
    ("updated_at", "timestamptz[]"),
    // What only a new run has.
    ("tenant", "text[]"),
    ("request", "text[]"),
    ("created_at", "timestamptz[]"),
];

/// The pool, as the write queue drives it.
struct Writer(PgPool);

#[async_trait]
impl Backend for Writer {
    type Connection = PoolConnection<Postgres>;

    async fn connect(&self) -> Result<Self::Connection, JournalError> {
        self.0.acquire().await.map_err(db_error)
    }

    async fn write(
        &self,
        conn: &mut Self::Connection,
        jobs: &[&Job],
    ) -> Result<Vec<Result<(), JournalError>>, JournalError> {
        let commits = commits_of(jobs);
        let creates: Vec<&QueuedRun> = jobs
            .iter()
            .filter_map(|job| match job {
                Job::Create(run) => Some(run),
                Job::Commit(_) => None,
            })
            .collect();
        if creates.iter().all(|run| run.idempotency_key.is_none()) {
            // Nothing can refuse these runs: one statement, atomic on its own.
            CommitColumns::new(&commits, &creates)?
                .execute(conn)
                .await?;
            return Ok(jobs.iter().map(|_| Ok(())).collect());
        }
        // Whether a run with a key is stored depends on what is: statement by
        // statement, in one transaction.
        let columns = CommitColumns::new(&commits, &[])?;
        let mut tx = conn.begin().await.map_err(db_error)?;
        let mut outcomes = Vec::with_capacity(jobs.len());
        for job in jobs {
            outcomes.push(match job {
                Job::Create(run) => create_run(&mut tx, run).await?,
                Job::Commit(_) => Ok(()),
            });
        }
        if !commits.is_empty() {
            columns.execute(&mut tx).await?;
        }
        tx.commit().await.map_err(db_error)?;
        Ok(outcomes)
    }

    fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

/// Stores a new run with its first events, unless its tenant's idempotency key is
/// taken (the inner error; nothing is written then).
async fn create_run(
    conn: &mut PgConnection,
    run: &QueuedRun,
) -> Result<Result<(), JournalError>, JournalError> {
    let mut events = EventColumns::with_capacity(run.events.len());
    for row in &run.events {
        events.push(row.clone());
    }
    let tenant = tenant_to_db(run.tenant.as_deref());
    let inserted = sqlx::query(CREATE_RUN_SQL)
        .bind(run.id.as_uuid())
        .bind(tenant)
        .bind(run.request.as_str())
        .bind(run.idempotency_key.as_deref())
        .bind(run.request_hash.as_deref())
        .bind(run.status.as_str())
        .bind(stored_time(run.created_at))
        .bind(&events.run_ids)
        .bind(&events.seqs)
        .bind(&events.types)
        .bind(&events.ts)
        .bind(&events.data)
        .bind(&events.first_seqs)
        .fetch_optional(&mut *conn)
        .await
        .map_err(db_error)?;
    if inserted.is_some() {
        return Ok(Ok(()));
    }
    // The insert did nothing, so the tenant's idempotency key is taken.
    let Some(key) = run.idempotency_key.as_deref() else {
        return Err(corrupt(
            "run",
            "insert without an idempotency key did nothing",
        ));
    };
    let existing: Option<Uuid> =
        sqlx::query_scalar("select id from runs where tenant = $1 and idempotency_key = $2")
            .bind(tenant)
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_error)?;
    match existing {
        Some(existing) => Ok(Err(JournalError::IdempotencyKeyTaken {
            existing: RunId::from_uuid(existing),
        })),
        None => Err(corrupt(
            "run",
            "the run holding the idempotency key disappeared",
        )),
    }
}

/// Commits merged (see `Merged`), and runs created with them, into the columns of
/// one commit statement (see [`commit_sql`]).
struct CommitColumns<'a> {
    runs: RunColumns<'a>,
    tasks: TaskColumns<'a>,
    attempts: AttemptColumns<'a>,
    events: EventColumns,
    telemetry: TelemetryColumns<'a>,
    new_runs: NewRunColumns<'a>,
}

impl<'a> CommitColumns<'a> {
    /// The columns of commits, and of runs created with them (none with an
    /// idempotency key: see [`run_insert`]), whose events go first.
    fn new(commits: &[&'a Commit], creates: &[&'a QueuedRun]) -> Result<Self, JournalError> {
        let merged = Merged::new(commits);
        let mut updates = merged.runs;
        let mut new_runs = NewRunColumns::with_capacity(creates.len());
        for &run in creates {
            // A new run's last state goes into its insert, not into the updates.
            let last = updates
                .iter()
                .position(|(state, _)| state.id == run.id)
                .map(|index| updates.remove(index));
            new_runs.push(run, last)?;
        }
        // A new run's first events share a row with those its commits add.
        let rows = event_rows(creates.iter().flat_map(|run| &run.events), &merged.events)?;
        let mut events = EventColumns::with_capacity(rows.len());
        for row in rows {
            events.push(row);
        }
        Ok(CommitColumns {
            runs: RunColumns::new(&updates)?,
            tasks: TaskColumns::new(&merged.tasks)?,
            attempts: AttemptColumns::new(&merged.attempts),
            events,
            telemetry: TelemetryColumns::new(&merged.telemetry)?,
            new_runs,
        })
    }

    async fn execute(&self, conn: &mut PgConnection) -> Result<(), JournalError> {
        let (runs, tasks, attempts, events, telemetry, new_runs) = (
            &self.runs,
            &self.tasks,
            &self.attempts,
            &self.events,
            &self.telemetry,
            &self.new_runs,
        );
        let with_telemetry = !telemetry.providers.is_empty();
        let with_new_runs = !new_runs.state.ids.is_empty();
        // The run updates.
        let query = runs
            .bind(sqlx::query(commit_sql(with_telemetry, with_new_runs)))
            // The tasks.
            .bind(&tasks.run_ids)
            .bind(&tasks.task_ids)
            .bind(&tasks.positions)
            .bind(&tasks.specs)
            .bind(&tasks.statuses)
            .bind(&tasks.outputs)
            .bind(&tasks.errors)
            .bind(&tasks.providers)
            .bind(&tasks.models)
            .bind(&tasks.attempts)
            .bind(&tasks.llm_calls)
            .bind(&tasks.tokens_in)
            .bind(&tasks.tokens_out)
            .bind(&tasks.cost_usd)
            .bind(&tasks.started_at)
            .bind(&tasks.finished_at)
            // The attempts.
            .bind(&attempts.ids)
            .bind(&attempts.run_ids)
            .bind(&attempts.task_ids)
            .bind(&attempts.kinds)
            .bind(&attempts.numbers)
            .bind(&attempts.providers)
            .bind(&attempts.models)
            .bind(&attempts.statuses)
            .bind(&attempts.reserved_cost_usd)
            .bind(&attempts.tokens_in)
            .bind(&attempts.tokens_out)
            .bind(&attempts.tokens_cached)
            .bind(&attempts.tokens_reasoning)
            .bind(&attempts.usage_estimated)
            .bind(&attempts.cost_usd)
            .bind(&attempts.latency_ms)
            .bind(&attempts.errors)
            .bind(&attempts.started_at)
            .bind(&attempts.finished_at)
            // The events.
            .bind(&events.run_ids)
            .bind(&events.seqs)
            .bind(&events.types)
            .bind(&events.ts)
            .bind(&events.data)
            .bind(&events.first_seqs);
        let query = if with_telemetry {
            // The router's state.
            query
                .bind(&telemetry.providers)
                .bind(&telemetry.models)
                .bind(&telemetry.states)
                .bind(&telemetry.updated_at)
        } else {
            query
        };
        let query = if with_new_runs {
            // The new runs, with their last state (in `NEW_RUN_COLUMNS`' order).
            new_runs
                .state
                .bind(query)
                .bind(&new_runs.tenants)
                .bind(&new_runs.requests)
                .bind(&new_runs.created_at)
        } else {
            query
        };
        query.execute(&mut *conn).await.map_err(db_error)?;
        Ok(())
    }
}

/// Runs created in a batch as one array per column: their last state (the one they
/// were created with, unless a commit of the batch changed it) and what only a new
/// run has.
struct NewRunColumns<'a> {
    state: RunColumns<'a>,
    tenants: Vec<&'a str>,
    requests: Vec<&'a str>,
    created_at: Vec<OffsetDateTime>,
}

impl<'a> NewRunColumns<'a> {
    fn with_capacity(capacity: usize) -> Self {
        NewRunColumns {
            state: RunColumns::with_capacity(capacity),
            tenants: Vec::with_capacity(capacity),
            requests: Vec::with_capacity(capacity),
            created_at: Vec::with_capacity(capacity),
        }
    }

    /// Adds a run, with the last state a commit of the batch gave it, if any.
    fn push(
        &mut self,
        run: &'a QueuedRun,
        last: Option<(&'a RunState, Option<&'a EncodedJson>)>,
    ) -> Result<(), JournalError> {
        match last {
            Some((state, plan)) => self.state.push(state, plan)?,
            None => self.state.push_created(run),
        }
        self.tenants.push(tenant_to_db(run.tenant.as_deref()));
        self.requests.push(run.request.as_str());
        self.created_at.push(stored_time(run.created_at));
        Ok(())
    }
}

/// A statement with its arguments, as it is being bound.
type PgQuery<'q> = sqlx::query::Query<'q, Postgres, sqlx::postgres::PgArguments>;

/// Run updates as one array per column.
struct RunColumns<'a> {
    ids: Vec<Uuid>,
    statuses: Vec<&'static str>,
    plans: Vec<Option<&'a str>>,
    outputs: Vec<Option<&'a str>>,
    errors: Vec<Option<String>>,
    llm_calls: Vec<i64>,
    tokens_in: Vec<i64>,
    tokens_out: Vec<i64>,
    cost_usd: Vec<f64>,
    started_at: Vec<Option<OffsetDateTime>>,
    finished_at: Vec<Option<OffsetDateTime>>,
    updated_at: Vec<OffsetDateTime>,
}

impl<'a> RunColumns<'a> {
    fn new(last: &[(&'a RunState, Option<&'a EncodedJson>)]) -> Result<Self, JournalError> {
        let mut columns = RunColumns::with_capacity(last.len());
        for &(state, plan) in last {
            columns.push(state, plan)?;
        }
        Ok(columns)
    }

    fn with_capacity(capacity: usize) -> Self {
        RunColumns {
            ids: Vec::with_capacity(capacity),
            statuses: Vec::with_capacity(capacity),
            plans: Vec::with_capacity(capacity),
            outputs: Vec::with_capacity(capacity),
            errors: Vec::with_capacity(capacity),
            llm_calls: Vec::with_capacity(capacity),
            tokens_in: Vec::with_capacity(capacity),
            tokens_out: Vec::with_capacity(capacity),
            cost_usd: Vec::with_capacity(capacity),
            started_at: Vec::with_capacity(capacity),
            finished_at: Vec::with_capacity(capacity),
            updated_at: Vec::with_capacity(capacity),
        }
    }

    /// Binds the columns, in the order the statement's run updates and new runs
    /// read them: id, status, plan, output, error, the usage, the start and end,
    /// the time of the change.
    fn bind<'q>(&'q self, query: PgQuery<'q>) -> PgQuery<'q> {
        query
            .bind(&self.ids)
            .bind(&self.statuses)
            .bind(&self.plans)
            .bind(&self.outputs)
            .bind(&self.errors)
            .bind(&self.llm_calls)
            .bind(&self.tokens_in)
            .bind(&self.tokens_out)
            .bind(&self.cost_usd)
            .bind(&self.started_at)
            .bind(&self.finished_at)
            .bind(&self.updated_at)
    }

    /// Adds a run's state, with the plan it sets (if any).
    fn push(
        &mut self,
        state: &'a RunState,
        plan: Option<&'a EncodedJson>,
    ) -> Result<(), JournalError> {
        self.plans.push(plan.map(EncodedJson::as_str));
        self.errors.push(
            state
                .error
                .as_ref()
                .map(|error| to_json(error, "run error"))
                .transpose()?,
        );
        self.ids.push(state.id.as_uuid());
        self.statuses.push(state.status.as_str());
        self.outputs.push(state.output.as_deref());
        self.llm_calls.push(to_db_int(state.usage.llm_calls));
        self.tokens_in.push(to_db_int(state.usage.tokens_in));
        self.tokens_out.push(to_db_int(state.usage.tokens_out));
        self.cost_usd.push(state.usage.cost_usd);
        self.started_at.push(state.started_at.map(stored_time));
        self.finished_at.push(state.finished_at.map(stored_time));
        self.updated_at.push(stored_time(state.updated_at));
        Ok(())
    }

    /// Adds a new run's state as created: its status, and nothing done yet.
    fn push_created(&mut self, run: &QueuedRun) {
        self.ids.push(run.id.as_uuid());
        self.statuses.push(run.status.as_str());
        self.plans.push(None);
        self.outputs.push(None);
        self.errors.push(None);
        self.llm_calls.push(0);
        self.tokens_in.push(0);
        self.tokens_out.push(0);
        self.cost_usd.push(0.0);
        self.started_at.push(None);
        self.finished_at.push(None);
        self.updated_at.push(stored_time(run.created_at));
    }
}

/// Events as one array per column, for `unnest`; the first of each `(run_id, seq)`.
struct EventColumns {
    run_ids: Vec<Uuid>,
    seqs: Vec<i64>,
    types: Vec<&'static str>,
    ts: Vec<OffsetDateTime>,
    data: Vec<String>,
    first_seqs: Vec<i64>,
}

impl EventColumns {
    fn with_capacity(capacity: usize) -> Self {
        EventColumns {
            run_ids: Vec::with_capacity(capacity),
            seqs: Vec::with_capacity(capacity),
            types: Vec::with_capacity(capacity),
            ts: Vec::with_capacity(capacity),
            data: Vec::with_capacity(capacity),
            first_seqs: Vec::with_capacity(capacity),
        }
    }

    /// Adds a row of a run's events.
    fn push(&mut self, row: EventRow) {
        self.data.push(row.data);
        self.run_ids.push(row.run_id.as_uuid());
        self.seqs.push(to_db_int(row.seq));
        self.types.push(row.kind);
        self.ts.push(stored_time(row.ts));
        self.first_seqs.push(to_db_int(row.first_seq));
    }
}

/// Telemetry rows as one array per column; the newest of each `(provider, model)`
/// (an upsert may not touch one row twice).
struct TelemetryColumns<'a> {
    providers: Vec<&'a str>,
    models: Vec<&'a str>,
    states: Vec<String>,
    updated_at: Vec<OffsetDateTime>,
}

impl<'a> TelemetryColumns<'a> {
    fn new(records: &[&'a TelemetryRecord]) -> Result<Self, JournalError> {
        let mut columns = TelemetryColumns {
            providers: Vec::with_capacity(records.len()),
            models: Vec::with_capacity(records.len()),
            states: Vec::with_capacity(records.len()),
            updated_at: Vec::with_capacity(records.len()),
        };
        for record in records {
            columns
                .states
                .push(to_json(&record.state, "telemetry state")?);
            columns.providers.push(record.provider.as_str());
            columns.models.push(record.model.as_str());
            columns.updated_at.push(stored_time(record.updated_at));
        }
        Ok(columns)
    }
}

/// Tasks as one array per column; the last of each `(run_id, task_id)`.
struct TaskColumns<'a> {
    run_ids: Vec<Uuid>,
    task_ids: Vec<&'a str>,
    positions: Vec<i64>,
    specs: Vec<String>,
    statuses: Vec<&'static str>,
    outputs: Vec<Option<&'a str>>,
    errors: Vec<Option<&'a str>>,
    providers: Vec<Option<&'a str>>,
    models: Vec<Option<&'a str>>,
    attempts: Vec<i64>,
    llm_calls: Vec<i64>,
    tokens_in: Vec<i64>,
    tokens_out: Vec<i64>,
    cost_usd: Vec<f64>,
    started_at: Vec<Option<OffsetDateTime>>,
    finished_at: Vec<Option<OffsetDateTime>>,
}

impl<'a> TaskColumns<'a> {
    fn new(tasks: &[&'a TaskRecord]) -> Result<Self, JournalError> {
        let n_tasks = tasks.len();
        let mut columns = TaskColumns {
            run_ids: Vec::with_capacity(n_tasks),
            task_ids: Vec::with_capacity(n_tasks),
            positions: Vec::with_capacity(n_tasks),
            specs: Vec::with_capacity(n_tasks),
            statuses: Vec::with_capacity(n_tasks),
            outputs: Vec::with_capacity(n_tasks),
            errors: Vec::with_capacity(n_tasks),
            providers: Vec::with_capacity(n_tasks),
            models: Vec::with_capacity(n_tasks),
            attempts: Vec::with_capacity(n_tasks),
            llm_calls: Vec::with_capacity(n_tasks),
            tokens_in: Vec::with_capacity(n_tasks),
            tokens_out: Vec::with_capacity(n_tasks),
            cost_usd: Vec::with_capacity(n_tasks),
            started_at: Vec::with_capacity(n_tasks),
            finished_at: Vec::with_capacity(n_tasks),
        };
        for task in tasks {
            columns.specs.push(to_json(&task.spec, "task spec")?);
            columns.run_ids.push(task.run_id.as_uuid());
            columns.task_ids.push(task.task_id.as_str());
            columns.positions.push(i64::from(task.position));
            columns.statuses.push(task.status.as_str());
            columns.outputs.push(task.output.as_deref());
            columns.errors.push(task.error.as_deref());
            columns.providers.push(task.provider.as_deref());
            columns.models.push(task.model.as_deref());
            columns.attempts.push(i64::from(task.attempts));
            columns.llm_calls.push(to_db_int(task.usage.llm_calls));
            columns.tokens_in.push(to_db_int(task.usage.tokens_in));
            columns.tokens_out.push(to_db_int(task.usage.tokens_out));
            columns.cost_usd.push(task.usage.cost_usd);
            columns.started_at.push(task.started_at.map(stored_time));
            columns.finished_at.push(task.finished_at.map(stored_time));
        }
        Ok(columns)
    }
}

/// Attempts as one array per column; the last of each id.
struct AttemptColumns<'a> {
    ids: Vec<Uuid>,
    run_ids: Vec<Uuid>,
    task_ids: Vec<Option<&'a str>>,
    kinds: Vec<&'static str>,
    numbers: Vec<i64>,
    providers: Vec<&'a str>,
    models: Vec<&'a str>,
    statuses: Vec<&'static str>,
    reserved_cost_usd: Vec<f64>,
    tokens_in: Vec<Option<i64>>,
    tokens_out: Vec<Option<i64>>,
    tokens_cached: Vec<Option<i64>>,
    tokens_reasoning: Vec<Option<i64>>,
    usage_estimated: Vec<Option<bool>>,
    cost_usd: Vec<f64>,
    latency_ms: Vec<Option<i64>>,
    errors: Vec<Option<&'a str>>,
    started_at: Vec<OffsetDateTime>,
    finished_at: Vec<Option<OffsetDateTime>>,
}

impl<'a> AttemptColumns<'a> {
    fn new(attempts: &[&'a AttemptRecord]) -> Self {
        let n_attempts = attempts.len();
        let mut columns = AttemptColumns {
            ids: Vec::with_capacity(n_attempts),
            run_ids: Vec::with_capacity(n_attempts),
            task_ids: Vec::with_capacity(n_attempts),
            kinds: Vec::with_capacity(n_attempts),
            numbers: Vec::with_capacity(n_attempts),
            providers: Vec::with_capacity(n_attempts),
            models: Vec::with_capacity(n_attempts),
            statuses: Vec::with_capacity(n_attempts),
            reserved_cost_usd: Vec::with_capacity(n_attempts),
            tokens_in: Vec::with_capacity(n_attempts),
            tokens_out: Vec::with_capacity(n_attempts),
            tokens_cached: Vec::with_capacity(n_attempts),
            tokens_reasoning: Vec::with_capacity(n_attempts),
            usage_estimated: Vec::with_capacity(n_attempts),
            cost_usd: Vec::with_capacity(n_attempts),
            latency_ms: Vec::with_capacity(n_attempts),
            errors: Vec::with_capacity(n_attempts),
            started_at: Vec::with_capacity(n_attempts),
            finished_at: Vec::with_capacity(n_attempts),
        };
        for attempt in attempts {
            let usage = attempt.usage.as_ref();
            columns.ids.push(attempt.id.as_uuid());
            columns.run_ids.push(attempt.run_id.as_uuid());
            columns
                .task_ids
                .push(attempt.task_id.as_ref().map(TaskId::as_str));
            columns.kinds.push(attempt.kind.as_str());
            columns.numbers.push(i64::from(attempt.number));
            columns.providers.push(attempt.provider.as_str());
            columns.models.push(attempt.model.as_str());
            columns.statuses.push(attempt.status.as_str());
            columns.reserved_cost_usd.push(attempt.reserved_cost_usd);
            columns
                .tokens_in
                .push(usage.map(|usage| to_db_int(usage.input_tokens)));
            columns
                .tokens_out
                .push(usage.map(|usage| to_db_int(usage.output_tokens)));
            columns
                .tokens_cached
                .push(usage.map(|usage| to_db_int(usage.cached_input_tokens)));
            columns
                .tokens_reasoning
                .push(usage.map(|usage| to_db_int(usage.reasoning_tokens)));
            columns
                .usage_estimated
                .push(usage.map(|usage| usage.estimated));
            columns.cost_usd.push(attempt.cost_usd);
            columns.latency_ms.push(attempt.latency_ms.map(to_db_int));
            columns.errors.push(attempt.error.as_deref());
            columns.started_at.push(stored_time(attempt.started_at));
            columns
                .finished_at
                .push(attempt.finished_at.map(stored_time));
        }
        columns
    }
}

// Last, so that the statement's macros above are in scope there.
#[cfg(test)]
mod tests;
