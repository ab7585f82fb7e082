//! What both backends share when they turn records into columns and back: numbers,
//! times, tenants, statuses, JSON, and merging the rows of the commits written in one
//! statement.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::str::FromStr;

use baton_core::encoded::EncodedJson;
use baton_core::event::Event;
use baton_core::ids::RunId;
use baton_core::journal::{
    AttemptRecord, Commit, JournalError, RunState, TaskRecord, TelemetryRecord, stored_time,
    with_planned_tasks,
};
use baton_core::status::UnknownStatus;
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::format_description::FormatItem;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};

use crate::error::corrupt;

/// The columns of a run, in one order for both backends (a literal, for `concat!`).
macro_rules! run_columns {
    () => {
        "id, tenant, request, idempotency_key, request_hash, status, plan, output, error, \
         llm_calls, tokens_in, tokens_out, cost_usd, created_at, updated_at, started_at, \
         finished_at"
    };
}

/// The columns of a task.
macro_rules! task_columns {
    () => {
        "run_id, task_id, position, spec, status, output, error, provider, model, attempts, \
         llm_calls, tokens_in, tokens_out, cost_usd, started_at, finished_at"
    };
}

/// The columns of an attempt.
macro_rules! attempt_columns {
    () => {
        "id, run_id, task_id, kind, number, provider, model, status, reserved_cost_usd, \
         tokens_in, tokens_out, tokens_cached, tokens_reasoning, usage_estimated, cost_usd, \
         latency_ms, error, started_at, finished_at"
    };
}

/// The terminal run statuses as an SQL list (a literal, for `concat!`). The
/// `runs_unfinished_idx` index of both migrations has the same predicate, so the
/// query can use it; a unit test checks the list against `RunStatus::is_terminal`.
macro_rules! terminal_run_statuses {
    () => {
        "('succeeded', 'partial', 'failed', 'cancelled')"
    };
}

pub(crate) use {attempt_columns, run_columns, task_columns, terminal_run_statuses};

/// How SQLite stores a time: UTC, microseconds, fixed width, so that text order is
/// time order.
const SQLITE_TIME_FORMAT: &[FormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

/// A count as a database integer. Counts never come near `i64::MAX`; one that did
/// would be stored as `i64::MAX` rather than fail the commit.
pub(crate) fn to_db_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// A stored count, which must not be negative.
pub(crate) fn from_db_u64(value: i64, what: &str) -> Result<u64, JournalError> {
    u64::try_from(value).map_err(|_| corrupt(what, format_args!("negative count {value}")))
}

/// A stored small count, which must fit in 32 bits.
pub(crate) fn from_db_u32(value: i64, what: &str) -> Result<u32, JournalError> {
    u32::try_from(value).map_err(|_| corrupt(what, format_args!("count {value} out of range")))
}

/// A time as SQLite text ([`SQLITE_TIME_FORMAT`]), written digit by digit: `time`
/// interprets a format description on every call, which was 4 % of W3's
/// instructions on SQLite (several times per task: every row's times). A year
/// outside 0..=9999, which no clock gives, takes `time`'s way.
pub(crate) fn sqlite_time(ts: OffsetDateTime) -> Result<String, JournalError> {
    let ts = stored_time(ts);
    let Ok(year @ 0..=9999) = u32::try_from(ts.year()) else {
        return ts
            .format(SQLITE_TIME_FORMAT)
            .map_err(|error| corrupt("time", error));
    };
    let mut text = String::with_capacity(27);
    push_digits(&mut text, year, 4);
    text.push('-');
    push_digits(&mut text, u32::from(u8::from(ts.month())), 2);
    text.push('-');
    push_digits(&mut text, u32::from(ts.day()), 2);
    text.push('T');
    push_digits(&mut text, u32::from(ts.hour()), 2);
    text.push(':');
    push_digits(&mut text, u32::from(ts.minute()), 2);
    text.push(':');
    push_digits(&mut text, u32::from(ts.second()), 2);
    text.push('.');
    push_digits(&mut text, ts.microsecond(), 6);
    text.push('Z');
    Ok(text)
}

/// Appends the last `width` decimal digits of `value`, zero-padded.
fn push_digits(text: &mut String, value: u32, width: u32) {
    for place in (0..width).rev() {
        let digit = value / 10_u32.pow(place) % 10;
        text.push(char::from_digit(digit, 10).unwrap_or('0'));
    }
}

/// SQLite text back to a time.
pub(crate) fn parse_sqlite_time(text: &str, what: &str) -> Result<OffsetDateTime, JournalError> {
    PrimitiveDateTime::parse(text, SQLITE_TIME_FORMAT)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|error| corrupt(what, error))
}

/// The tenant column: `''` stands for "no tenant" (auth off), so that the unique
/// constraint on `(tenant, idempotency_key)` also holds for runs without one.
pub(crate) fn tenant_to_db(tenant: Option<&str>) -> &str {
    tenant.unwrap_or("")
}

/// The tenant column back to a tenant.
pub(crate) fn tenant_from_db(tenant: String) -> Option<String> {
    if tenant.is_empty() {
        None
    } else {
        Some(tenant)
    }
}

/// A stored status name back to its enum.
pub(crate) fn parse_status<T>(text: &str, what: &str) -> Result<T, JournalError>
where
    T: FromStr<Err = UnknownStatus>,
{
    text.parse().map_err(|error| corrupt(what, error))
}

/// A value as JSON text.
pub(crate) fn to_json<T: Serialize + ?Sized>(
    value: &T,
    what: &str,
) -> Result<String, JournalError> {
    serde_json::to_string(value).map_err(|error| corrupt(what, error))
}

/// JSON text back to a value.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str, what: &str) -> Result<T, JournalError> {
    serde_json::from_str(text).map_err(|error| corrupt(what, error))
}

/// Stored JSON text kept as it is (checked to be JSON, not read into a tree).
pub(crate) fn encoded(text: String, what: &str) -> Result<EncodedJson, JournalError> {
    EncodedJson::from_text(text).map_err(|error| corrupt(what, error))
}

/// A run's stored plan, if it has one (see [`encoded`]).
pub(crate) fn stored_plan(text: Option<String>) -> Result<Option<EncodedJson>, JournalError> {
    text.map(|plan| encoded(plan, "run plan")).transpose()
}

/// An event as the JSON text to store. An event with a number JSON cannot hold (a
/// NaN score would be written as `null` and then not read back) fails this commit
/// instead of every later read of the run's log.
pub(crate) fn event_json(event: &Event) -> Result<String, JournalError> {
    if let Some(field) = event.payload.non_finite_field() {
        return Err(corrupt(
            "event",
            format_args!(
                "event {} of run {} has a `{field}` that is not a finite number",
                event.seq, event.run_id
            ),
        ));
    }
    to_json(event, "event")
}

/// A run's task rows, in plan order, with a pending record for each task of its
/// stored plan (its JSON text, if it has one) that has no row ([`with_planned_tasks`]).
pub(crate) fn with_stored_plan(
    run_id: RunId,
    plan: Option<String>,
    rows: Vec<TaskRecord>,
) -> Result<Vec<TaskRecord>, JournalError> {
    Ok(with_planned_tasks(
        run_id,
        stored_plan(plan)?.as_ref(),
        rows,
    ))
}

/// A batch's events as rows of `events`: each row a stretch of one run's log, events
/// with consecutive numbers. A run's commits go through one writer in order (its
/// `CommitChain`), and a new run's creation goes ahead of them, so its events in a
/// batch are one stretch and take one row. A row's `seq`, `type` and `ts` are those of
/// its last event, and its `data` is the event's JSON object when it holds one, a JSON
/// array of them in `seq` order otherwise ([`events_of_row`] reads either).
/// PostgreSQL's cost is per row, not per byte (BENCHMARKS.md), and a 5-task run's 26
/// events take about 4 rows.
#[derive(Clone)]
pub(crate) struct EventRow {
    /// The run.
    pub(crate) run_id: RunId,
    /// The `seq` of its last event.
    pub(crate) seq: u64,
    /// The type of its last event.
    pub(crate) kind: &'static str,
    /// When its last event happened.
    pub(crate) ts: OffsetDateTime,
    /// The `seq` of its first event (stored as `first_seq`): a row holds exactly the
    /// events from it to `seq`, so two rows overlap only where they hold the same
    /// event, which the inserts check for.
    pub(crate) first_seq: u64,
    /// The JSON text of the row's `data`.
    pub(crate) data: String,
}

impl EventRow {
    /// The row of one event (checked by [`event_json`]).
    pub(crate) fn of(event: &Event) -> Result<Self, JournalError> {
        Ok(EventRow {
            run_id: event.run_id,
            seq: event.seq,
            kind: event.name(),
            ts: event.ts,
            first_seq: event.seq,
            data: event_json(event)?,
        })
    }

    /// The JSON text of its events without the brackets around several.
    fn inner(&self) -> &str {
        if self.first_seq == self.seq {
            &self.data
        } else {
            &self.data[1..self.data.len() - 1]
        }
    }
}

/// Groups a batch's events into rows: first the rows of the runs it creates (made
/// when they were queued), then the events of its commits. A row joins its run's
/// latest row when that one ends just before it, or stays a row of its own.
pub(crate) fn event_rows<'a>(
    created: impl IntoIterator<Item = &'a EventRow>,
    events: &[&Event],
) -> Result<Vec<EventRow>, JournalError> {
    let mut rows = Vec::new();
    // Each run's latest row.
    let mut latest = HashMap::new();
    for row in created {
        add_to_rows(&mut rows, &mut latest, row.clone());
    }
    for &event in events {
        add_to_rows(&mut rows, &mut latest, EventRow::of(event)?);
    }
    Ok(rows)
}

/// Adds a row to the rows, joining its run's latest row when that one ends just
/// before it (see [`event_rows`]).
fn add_to_rows(rows: &mut Vec<EventRow>, latest: &mut HashMap<RunId, usize>, next: EventRow) {
    let before = latest
        .get(&next.run_id)
        .map(|&index| &mut rows[index])
        .filter(|row| row.seq.checked_add(1) == Some(next.first_seq));
    match before {
        Some(row) => {
            // In place: a run's row in a wide batch takes thousands of events.
            if row.first_seq == row.seq {
                row.data.insert(0, '[');
            } else {
                row.data.pop();
            }
            row.data.push(',');
            row.data.push_str(next.inner());
            row.data.push(']');
            row.seq = next.seq;
            row.kind = next.kind;
            row.ts = next.ts;
        }
        None => {
            latest.insert(next.run_id, rows.len());
            rows.push(next);
        }
    }
}

/// The events a stored row of `events` holds (see [`EventRow`]): one, or several
/// in `seq` order.
pub(crate) fn events_of_row(data: &str) -> Result<Vec<Event>, JournalError> {
    if data.starts_with('[') {
        from_json(data, "events")
    } else {
        Ok(vec![from_json(data, "event")?])
    }
}

/// The events after `after`, at most `limit`, from rows read in `seq` order (each
/// row holds one event or more, so `limit` rows hold at least `limit` events).
pub(crate) fn events_after_in<'a>(
    rows: impl IntoIterator<Item = &'a str>,
    after: u64,
    limit: u32,
) -> Result<Vec<Event>, JournalError> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let mut events = Vec::new();
    for data in rows {
        for event in events_of_row(data)? {
            if events.len() == limit {
                return Ok(events);
            }
            if event.seq > after {
                events.push(event);
            }
        }
    }
    Ok(events)
}

/// Commits written together, merged into one row per key as if they had been
/// applied one after another: the last state of each run (with the last plan any of
/// them set, as a state without a plan keeps the stored one), task and attempt, the
/// first of each event, the newest telemetry. A multi-row upsert then touches each
/// row once.
pub(crate) struct Merged<'a> {
    pub(crate) runs: Vec<(&'a RunState, Option<&'a EncodedJson>)>,
    pub(crate) tasks: Vec<&'a TaskRecord>,
    pub(crate) attempts: Vec<&'a AttemptRecord>,
    pub(crate) events: Vec<&'a Event>,
    pub(crate) telemetry: Vec<&'a TelemetryRecord>,
}

impl<'a> Merged<'a> {
    pub(crate) fn new(commits: &[&'a Commit]) -> Self {
        let mut runs: Vec<(&'a RunState, Option<&'a EncodedJson>)> = Vec::new();
        for state in commits.iter().filter_map(|commit| commit.run.as_ref()) {
            match runs.iter_mut().find(|(kept, _)| kept.id == state.id) {
                Some((kept, plan)) => {
                    *kept = state;
                    *plan = state.plan.as_ref().or(*plan);
                }
                None => runs.push((state, state.plan.as_ref())),
            }
        }
        Merged {
            runs,
            tasks: last_per_key(commits.iter().flat_map(|commit| &commit.tasks), |task| {
                (task.run_id, task.task_id.clone())
            }),
            attempts: last_per_key(
                commits.iter().flat_map(|commit| &commit.attempts),
                |attempt| attempt.id,
            ),
            events: first_per_key(commits.iter().flat_map(|commit| &commit.events), |event| {
                (event.run_id, event.seq)
            }),
            telemetry: newest_telemetry(commits.iter().flat_map(|commit| &commit.telemetry)),
        }
    }
}

/// The items with the last one of each key kept, in their first order: a commit
/// that names the same row twice means its last state.
pub(crate) fn last_per_key<'a, T, K, F>(
    items: impl IntoIterator<Item = &'a T>,
    key: F,
) -> Vec<&'a T>
where
    T: 'a,
    K: Eq + Hash,
    F: Fn(&T) -> K,
{
    let items: Vec<&T> = items.into_iter().collect();
    if items.len() < 2 {
        return items;
    }
    let mut seen = HashSet::with_capacity(items.len());
    let mut kept: Vec<&T> = items
        .into_iter()
        .rev()
        .filter(|item| seen.insert(key(item)))
        .collect();
    kept.reverse();
    kept
}

/// The items with the first one of each key kept: an event, once written, is never
/// replaced.
pub(crate) fn first_per_key<'a, T, K, F>(
    items: impl IntoIterator<Item = &'a T>,
    key: F,
) -> Vec<&'a T>
where
    T: 'a,
    K: Eq + Hash,
    F: Fn(&T) -> K,
{
    let items = items.into_iter();
    let mut seen = HashSet::with_capacity(items.size_hint().0);
    items.filter(|item| seen.insert(key(item))).collect()
}

/// Telemetry rows with only the newest of each `(provider, model)`, in their first
/// order: a row never replaces a newer one, within a commit as across commits.
pub(crate) fn newest_telemetry<'a>(
    records: impl IntoIterator<Item = &'a TelemetryRecord>,
) -> Vec<&'a TelemetryRecord> {
    let mut kept: Vec<&TelemetryRecord> = Vec::new();
    for record in records {
        match kept
            .iter_mut()
            .find(|k| k.provider == record.provider && k.model == record.model)
        {
            Some(existing) if existing.updated_at <= record.updated_at => *existing = record,
            Some(_) => {}
            None => kept.push(record),
        }
    }
    kept
}

#[cfg(test)]
mod tests;
