//! PostgreSQL rows back to records; anything that does not decode is `Corrupt`.

use std::sync::Arc;

use baton_core::error::RunError;
use baton_core::graph::TaskSpec;
use baton_core::ids::{AttemptId, RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, JournalError, RunRecord, RunState, TaskRecord, TelemetryRecord,
};
use baton_core::usage::{RunUsage, Usage};
use sqlx::postgres::PgRow;
use sqlx::types::Json;
use sqlx::{Decode, Postgres, Row, Type};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::codec::{
    encoded, from_db_u32, from_db_u64, from_json, parse_status, stored_plan, tenant_from_db,
};
use crate::error::corrupt;

/// A run from the columns `run_columns!` names, in that order.
pub(super) fn run(row: &PgRow) -> Result<RunRecord, JournalError> {
    run_at(&Columns::from(row, 0))
}

/// A run from `run_columns!`'s columns, the first at `columns`' first index.
pub(super) fn run_at(columns: &Columns<'_>) -> Result<RunRecord, JournalError> {
    let id = RunId::from_uuid(columns.get::<Uuid>(0, "id")?);
    let request = encoded(columns.get::<String>(2, "request")?, "run request")?;
    let plan = stored_plan(columns.get(6, "plan")?)?;
    let error = columns
        .get::<Option<Json<RunError>>>(8, "error")?
        .map(|Json(error)| error);
    let status = columns.get::<String>(5, "status")?;
    Ok(RunRecord {
        id,
        tenant: tenant_from_db(columns.get(1, "tenant")?),
        request,
        idempotency_key: columns.get(3, "idempotency_key")?,
        request_hash: columns.get(4, "request_hash")?,
        created_at: columns.get(13, "created_at")?,
        state: RunState {
            id,
            status: parse_status(&status, "run status")?,
            plan,
            output: columns.get(7, "output")?,
            error,
            usage: usage(columns, 9)?,
            started_at: columns.get(15, "started_at")?,
            finished_at: columns.get(16, "finished_at")?,
            updated_at: columns.get(14, "updated_at")?,
        },
    })
}

/// A saved telemetry row.
pub(super) fn telemetry(row: &PgRow) -> Result<TelemetryRecord, JournalError> {
    let Json(state) = get::<Json<serde_json::Value>>(row, "state")?;
    Ok(TelemetryRecord {
        provider: get(row, "provider")?,
        model: get(row, "model")?,
        state,
        updated_at: get(row, "updated_at")?,
    })
}

/// A task from the columns `task_columns!` names, in that order.
pub(super) fn task(row: &PgRow) -> Result<TaskRecord, JournalError> {
    task_at(&Columns::from(row, 0))
}

/// A task from `task_columns!`'s columns, the first at `columns`' first index.
pub(super) fn task_at(columns: &Columns<'_>) -> Result<TaskRecord, JournalError> {
    let task_id = columns.get::<String>(1, "task_id")?;
    let spec: TaskSpec = from_json(columns.get(3, "spec")?, "task spec")?;
    let status = columns.get::<String>(4, "status")?;
    Ok(TaskRecord {
        run_id: RunId::from_uuid(columns.get(0, "run_id")?),
        task_id: TaskId::parse(&task_id).map_err(|error| corrupt("task id", error))?,
        position: from_db_u32(columns.get(2, "position")?, "task position")?,
        spec: Arc::new(spec),
        status: parse_status(&status, "task status")?,
        output: columns.get(5, "output")?,
        error: columns.get(6, "error")?,
        provider: columns.get(7, "provider")?,
        model: columns.get(8, "model")?,
        attempts: from_db_u32(columns.get(9, "attempts")?, "task attempts")?,
        usage: usage(columns, 10)?,
        started_at: columns.get(14, "started_at")?,
        finished_at: columns.get(15, "finished_at")?,
    })
}

/// An attempt from the columns `attempt_columns!` names, in that order.
pub(super) fn attempt(row: &PgRow) -> Result<AttemptRecord, JournalError> {
    attempt_at(&Columns::from(row, 0))
}

/// An attempt from `attempt_columns!`'s columns, the first at `columns`' first index.
pub(super) fn attempt_at(columns: &Columns<'_>) -> Result<AttemptRecord, JournalError> {
    let task_id = match columns.get::<Option<String>>(2, "task_id")? {
        Some(task_id) => {
            Some(TaskId::parse(&task_id).map_err(|error| corrupt("attempt task id", error))?)
        }
        None => None,
    };
    let kind = columns.get::<String>(3, "kind")?;
    let status = columns.get::<String>(7, "status")?;
    let usage = match columns.get::<Option<i64>>(9, "tokens_in")? {
        Some(tokens_in) => Some(Usage {
            input_tokens: from_db_u64(tokens_in, "attempt tokens_in")?,
            output_tokens: count_or_zero(columns, 10, "tokens_out")?,
            cached_input_tokens: count_or_zero(columns, 11, "tokens_cached")?,
            reasoning_tokens: count_or_zero(columns, 12, "tokens_reasoning")?,
            estimated: columns
                .get::<Option<bool>>(13, "usage_estimated")?
                .unwrap_or(false),
        }),
        None => None,
    };
    let latency_ms = match columns.get::<Option<i64>>(15, "latency_ms")? {
        Some(latency_ms) => Some(from_db_u64(latency_ms, "attempt latency_ms")?),
        None => None,
    };
    Ok(AttemptRecord {
        id: AttemptId::from_uuid(columns.get(0, "id")?),
        run_id: RunId::from_uuid(columns.get(1, "run_id")?),
        task_id,
        kind: parse_status(&kind, "attempt kind")?,
        number: from_db_u32(columns.get(4, "number")?, "attempt number")?,
        provider: columns.get(5, "provider")?,
        model: columns.get(6, "model")?,
        status: parse_status(&status, "attempt status")?,
        reserved_cost_usd: columns.get(8, "reserved_cost_usd")?,
        usage,
        cost_usd: columns.get(14, "cost_usd")?,
        latency_ms,
        error: columns.get(16, "error")?,
        started_at: columns.get::<OffsetDateTime>(17, "started_at")?,
        finished_at: columns.get(18, "finished_at")?,
    })
}

/// The usage columns shared by runs and tasks (`llm_calls`, `tokens_in`, `tokens_out`,
/// `cost_usd`), the first at `first`.
fn usage(columns: &Columns<'_>, first: usize) -> Result<RunUsage, JournalError> {
    Ok(RunUsage {
        llm_calls: from_db_u64(columns.get(first, "llm_calls")?, "llm_calls")?,
        tokens_in: from_db_u64(columns.get(first + 1, "tokens_in")?, "tokens_in")?,
        tokens_out: from_db_u64(columns.get(first + 2, "tokens_out")?, "tokens_out")?,
        cost_usd: columns.get(first + 3, "cost_usd")?,
    })
}

/// A nullable count, zero when null.
fn count_or_zero(columns: &Columns<'_>, at: usize, column: &str) -> Result<u64, JournalError> {
    match columns.get::<Option<i64>>(at, column)? {
        Some(count) => from_db_u64(count, column),
        None => Ok(0),
    }
}

/// A record's columns in a row, by their place in the record's column list (as
/// `run_columns!`, `task_columns!` and `attempt_columns!` name them): the row may hold
/// other columns before them (`get_run_with_rows` reads a run, its tasks and its
/// attempts in one statement, each record's columns side by side).
pub(super) struct Columns<'r> {
    row: &'r PgRow,
    first: usize,
}

impl<'r> Columns<'r> {
    /// The columns of the record whose first column is the row's `first`.
    pub(super) fn from(row: &'r PgRow, first: usize) -> Self {
        Columns { row, first }
    }

    /// The record's column `at` (from 0), or `Corrupt` naming it.
    fn get<T>(&self, at: usize, column: &str) -> Result<T, JournalError>
    where
        T: Decode<'r, Postgres> + Type<Postgres>,
    {
        self.row
            .try_get(self.first + at)
            .map_err(|error| corrupt(column, error))
    }
}

/// One column, or `Corrupt` naming it.
fn get<'r, T>(row: &'r PgRow, column: &str) -> Result<T, JournalError>
where
    T: Decode<'r, Postgres> + Type<Postgres>,
{
    row.try_get(column).map_err(|error| corrupt(column, error))
}
