//! SQLite rows back to records; anything that does not decode is `Corrupt`.

use std::str::FromStr;
use std::sync::Arc;

use baton_core::ids::{AttemptId, RunId, TaskId};
use baton_core::journal::{
    AttemptRecord, JournalError, RunRecord, RunState, TaskRecord, TelemetryRecord,
};
use baton_core::usage::{RunUsage, Usage};
use sqlx::sqlite::SqliteRow;
use sqlx::{Decode, Row, Sqlite, Type};
use time::OffsetDateTime;

use crate::codec::{
    encoded, from_db_u32, from_db_u64, from_json, parse_sqlite_time, parse_status, stored_plan,
    tenant_from_db,
};
use crate::error::corrupt;

/// A run from the columns `run_columns!` names.
pub(super) fn run(row: &SqliteRow) -> Result<RunRecord, JournalError> {
    let id = run_id(row, "id")?;
    let status = get::<String>(row, "status")?;
    Ok(RunRecord {
        id,
        tenant: tenant_from_db(get(row, "tenant")?),
        request: encoded(get::<String>(row, "request")?, "run request")?,
        idempotency_key: get(row, "idempotency_key")?,
        request_hash: get(row, "request_hash")?,
        created_at: time(row, "created_at")?,
        state: RunState {
            id,
            status: parse_status(&status, "run status")?,
            plan: stored_plan(get(row, "plan")?)?,
            output: get(row, "output")?,
            error: optional_json(row, "error")?,
            usage: usage(row)?,
            started_at: optional_time(row, "started_at")?,
            finished_at: optional_time(row, "finished_at")?,
            updated_at: time(row, "updated_at")?,
        },
    })
}

/// A saved telemetry row.
pub(super) fn telemetry(row: &SqliteRow) -> Result<TelemetryRecord, JournalError> {
    Ok(TelemetryRecord {
        provider: get(row, "provider")?,
        model: get(row, "model")?,
        state: from_json(&get::<String>(row, "state")?, "telemetry state")?,
        updated_at: time(row, "updated_at")?,
    })
}

/// A task from the columns `task_columns!` names.
pub(super) fn task(row: &SqliteRow) -> Result<TaskRecord, JournalError> {
    let task_id = get::<String>(row, "task_id")?;
    let status = get::<String>(row, "status")?;
    Ok(TaskRecord {
        run_id: run_id(row, "run_id")?,
        task_id: TaskId::parse(&task_id).map_err(|error| corrupt("task id", error))?,
        position: from_db_u32(get(row, "position")?, "task position")?,
        spec: Arc::new(from_json(&get::<String>(row, "spec")?, "task spec")?),
        status: parse_status(&status, "task status")?,
        output: get(row, "output")?,
        error: get(row, "error")?,
        provider: get(row, "provider")?,
        model: get(row, "model")?,
        attempts: from_db_u32(get(row, "attempts")?, "task attempts")?,
        usage: usage(row)?,
        started_at: optional_time(row, "started_at")?,
        finished_at: optional_time(row, "finished_at")?,
    })
}

/// An attempt from the columns `attempt_columns!` names.
pub(super) fn attempt(row: &SqliteRow) -> Result<AttemptRecord, JournalError> {
    let id = get::<String>(row, "id")?;
    let task_id = match get::<Option<String>>(row, "task_id")? {
        Some(task_id) => {
            Some(TaskId::parse(&task_id).map_err(|error| corrupt("attempt task id", error))?)
        }
        None => None,
    };
    let kind = get::<String>(row, "kind")?;
    let status = get::<String>(row, "status")?;
    let usage = match get::<Option<i64>>(row, "tokens_in")? {
        Some(tokens_in) => Some(Usage {
            input_tokens: from_db_u64(tokens_in, "attempt tokens_in")?,
            output_tokens: count_or_zero(row, "tokens_out")?,
            cached_input_tokens: count_or_zero(row, "tokens_cached")?,
            reasoning_tokens: count_or_zero(row, "tokens_reasoning")?,
            estimated: get::<Option<bool>>(row, "usage_estimated")?.unwrap_or(false),
        }),
        None => None,
    };
    let latency_ms = match get::<Option<i64>>(row, "latency_ms")? {
        Some(latency_ms) => Some(from_db_u64(latency_ms, "attempt latency_ms")?),
        None => None,
    };
    Ok(AttemptRecord {
        id: AttemptId::from_str(&id).map_err(|error| corrupt("attempt id", error))?,
        run_id: run_id(row, "run_id")?,
        task_id,
        kind: parse_status(&kind, "attempt kind")?,
        number: from_db_u32(get(row, "number")?, "attempt number")?,
        provider: get(row, "provider")?,
        model: get(row, "model")?,
        status: parse_status(&status, "attempt status")?,
        reserved_cost_usd: get(row, "reserved_cost_usd")?,
        usage,
        cost_usd: get(row, "cost_usd")?,
        latency_ms,
        error: get(row, "error")?,
        started_at: time(row, "started_at")?,
        finished_at: optional_time(row, "finished_at")?,
    })
}

/// The usage columns shared by runs and tasks.
fn usage(row: &SqliteRow) -> Result<RunUsage, JournalError> {
    Ok(RunUsage {
        llm_calls: from_db_u64(get(row, "llm_calls")?, "llm_calls")?,
        tokens_in: from_db_u64(get(row, "tokens_in")?, "tokens_in")?,
        tokens_out: from_db_u64(get(row, "tokens_out")?, "tokens_out")?,
        cost_usd: get(row, "cost_usd")?,
    })
}

/// A run id stored as text.
fn run_id(row: &SqliteRow, column: &str) -> Result<RunId, JournalError> {
    let text = get::<String>(row, column)?;
    RunId::from_str(&text).map_err(|error| corrupt(column, error))
}

/// A time stored as text.
fn time(row: &SqliteRow, column: &str) -> Result<OffsetDateTime, JournalError> {
    parse_sqlite_time(&get::<String>(row, column)?, column)
}

/// A nullable time stored as text.
fn optional_time(row: &SqliteRow, column: &str) -> Result<Option<OffsetDateTime>, JournalError> {
    get::<Option<String>>(row, column)?
        .map(|text| parse_sqlite_time(&text, column))
        .transpose()
}

/// A nullable JSON value stored as text.
fn optional_json<T: serde::de::DeserializeOwned>(
    row: &SqliteRow,
    column: &str,
) -> Result<Option<T>, JournalError> {
    get::<Option<String>>(row, column)?
        .map(|text| from_json(&text, column))
        .transpose()
}

/// A nullable count, zero when null.
fn count_or_zero(row: &SqliteRow, column: &str) -> Result<u64, JournalError> {
    match get::<Option<i64>>(row, column)? {
        Some(count) => from_db_u64(count, column),
        None => Ok(0),
    }
}

/// One column, or `Corrupt` naming it.
fn get<'r, T>(row: &'r SqliteRow, column: &str) -> Result<T, JournalError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    row.try_get(column).map_err(|error| corrupt(column, error))
}
