//! The journal port: how the engine writes what happens and how the server reads it
//! back. `baton-journal` implements it over SQLite and PostgreSQL; engine tests use
//! an in-memory implementation.
//!
//! Every write is a [`Commit`] that lands whole or not at all: the engine submits a
//! running run's commits with [`Journal::submit`] (in order, as one [`CommitChain`],
//! without waiting for each other; the journal may write many in one transaction),
//! and other writes (recovery at start, closing a run that is not running) use
//! [`Journal::commit`]. So the attempt protocol of DESIGN §4 is: commit the
//! attempt row (`in_flight`) before a call, then commit its outcome, the task's new
//! state and the events together after it. Writes are idempotent: attempts are keyed
//! by id, tasks by `(run_id, task_id)`, events by `(run_id, seq)`, so retrying a
//! commit is harmless.
//!
//! The router's learned state (telemetry and breakers) rides along in the same
//! commits as [`TelemetryRecord`]s, keyed by `(provider, model)`, and is read back
//! once at start with [`Journal::load_telemetry`]; [`Journal::stats`] sums up what
//! the journal holds for `GET /stats`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

mod committed;

pub use committed::CommittedRun;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::encoded::EncodedJson;
use crate::error::RunError;
use crate::event::Event;
use crate::graph::TaskSpec;
use crate::ids::{AttemptId, RunId, TaskId};
use crate::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};
use crate::usage::{RunUsage, Usage};

/// A new run, as first stored.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRun {
    /// Its id.
    pub id: RunId,
    /// The tenant that owns it (`None` when auth is off).
    pub tenant: Option<String>,
    /// The request as accepted, with resolved options (JSON).
    pub request: EncodedJson,
    /// The client's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// A hash of the request body, to tell a retried submission from a different one.
    pub request_hash: Option<String>,
    /// Its status (normally `queued`).
    pub status: RunStatus,
    /// When it was created.
    pub created_at: OffsetDateTime,
}

/// The changing state of a run, written whole on every run update.
#[derive(Clone, Debug, PartialEq)]
pub struct RunState {
    /// Its id.
    pub id: RunId,
    /// Its status.
    pub status: RunStatus,
    /// The plan, once made (`{"tasks": […]}`); `None` leaves the stored plan as it is.
    pub plan: Option<EncodedJson>,
    /// The answer, once assembled.
    pub output: Option<String>,
    /// Why it did not succeed.
    pub error: Option<RunError>,
    /// What it used so far.
    pub usage: RunUsage,
    /// When the engine started it.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub finished_at: Option<OffsetDateTime>,
    /// When this state was made: the run's `updated_at` once it is stored. The engine
    /// sets it with each change, so the stored row says when the run changed, and
    /// the engine knows what it says without reading it back.
    pub updated_at: OffsetDateTime,
}

impl RunState {
    /// A run's state as created at `at`: its status, and nothing done yet.
    pub fn new(id: RunId, status: RunStatus, at: OffsetDateTime) -> Self {
        RunState {
            id,
            status,
            plan: None,
            output: None,
            error: None,
            usage: RunUsage::default(),
            started_at: None,
            finished_at: None,
            updated_at: at,
        }
    }
}

/// A time as the journal stores and gives it back: in UTC, to the microsecond (both
/// backends keep microseconds; finer digits are dropped).
pub fn stored_time(ts: OffsetDateTime) -> OffsetDateTime {
    let utc = ts.to_offset(time::UtcOffset::UTC);
    let micros = utc.nanosecond() / 1_000 * 1_000;
    utc.replace_nanosecond(micros).unwrap_or(utc)
}

/// A stored run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRecord {
    /// Its id.
    pub id: RunId,
    /// Its owner.
    pub tenant: Option<String>,
    /// The request as accepted.
    pub request: EncodedJson,
    /// The idempotency key it was created with.
    pub idempotency_key: Option<String>,
    /// The request hash stored with the key.
    pub request_hash: Option<String>,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// Its current state (`state.updated_at`: when it last changed).
    pub state: RunState,
}

impl RunRecord {
    /// The prompt its request was given with, if any (the rest of the request is
    /// skipped unread).
    pub fn prompt(&self) -> Option<String> {
        #[derive(serde::Deserialize)]
        struct Prompt {
            prompt: Option<String>,
        }
        self.request
            .decode::<Prompt>()
            .ok()
            .and_then(|request| request.prompt)
    }

    /// A new run as first stored: its state as created, updated when it was made.
    pub fn new(run: &NewRun) -> Self {
        RunRecord {
            id: run.id,
            tenant: run.tenant.clone(),
            request: run.request.clone(),
            idempotency_key: run.idempotency_key.clone(),
            request_hash: run.request_hash.clone(),
            created_at: run.created_at,
            state: RunState::new(run.id, run.status, run.created_at),
        }
    }
}

/// The stored state of one task of a run, written whole on every change.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskRecord {
    /// The run.
    pub run_id: RunId,
    /// The task's id.
    pub task_id: TaskId,
    /// Its position in plan order, from 0.
    pub position: u32,
    /// The task as planned (shared with the run's graph, and with every copy of
    /// this record a commit takes).
    pub spec: Arc<TaskSpec>,
    /// Its status.
    pub status: TaskStatus,
    /// Its verified output.
    pub output: Option<String>,
    /// Why it failed.
    pub error: Option<String>,
    /// The provider of the last attempt.
    pub provider: Option<String>,
    /// The model of the last attempt.
    pub model: Option<String>,
    /// Calls made for it.
    pub attempts: u32,
    /// Tokens and cost over all its calls.
    pub usage: RunUsage,
    /// When its first call began.
    pub started_at: Option<OffsetDateTime>,
    /// When it ended.
    pub finished_at: Option<OffsetDateTime>,
}

impl TaskRecord {
    /// A task of a plan that has not started: no row of it is stored until then (its
    /// spec is in the run's plan), and the journal lists it as this.
    pub fn pending(run_id: RunId, position: u32, spec: Arc<TaskSpec>) -> Self {
        TaskRecord {
            run_id,
            task_id: spec.id.clone(),
            position,
            spec,
            status: TaskStatus::Pending,
            output: None,
            error: None,
            provider: None,
            model: None,
            attempts: 0,
            usage: RunUsage::default(),
            started_at: None,
            finished_at: None,
        }
    }
}

/// A run's tasks in plan order: each task's stored row, and a pending record
/// ([`TaskRecord::pending`]) for each task of the run's stored plan (`{"tasks":
/// [...]}`) that has no row yet. `rows` come in plan order; without a plan, or with
/// one that cannot be read, they are the answer as they are.
pub fn with_planned_tasks(
    run_id: RunId,
    plan: Option<&EncodedJson>,
    rows: Vec<TaskRecord>,
) -> Vec<TaskRecord> {
    /// A plan's tasks: counted first (each skipped unread), and read only when some
    /// have no row.
    #[derive(serde::Deserialize)]
    struct Planned<T> {
        tasks: Vec<T>,
    }
    let Some(plan) = plan else {
        return rows;
    };
    let Ok(Planned { tasks: planned }) = plan.decode::<Planned<serde::de::IgnoredAny>>() else {
        return rows;
    };
    if planned.len() <= rows.len() {
        return rows;
    }
    // Not a plan this version can read: the rows are the answer.
    let Ok(Planned { tasks: specs }) = plan.decode::<Planned<TaskSpec>>() else {
        return rows;
    };
    let mut rows: std::collections::HashMap<TaskId, TaskRecord> = rows
        .into_iter()
        .map(|row| (row.task_id.clone(), row))
        .collect();
    let mut tasks = Vec::with_capacity(specs.len());
    for (position, spec) in specs.into_iter().enumerate() {
        let position = u32::try_from(position).unwrap_or(u32::MAX);
        tasks.push(
            rows.remove(&spec.id)
                .unwrap_or_else(|| TaskRecord::pending(run_id, position, Arc::new(spec))),
        );
    }
    // Rows of tasks the plan does not name (none, normally) keep their place after.
    let mut rest: Vec<TaskRecord> = rows.into_values().collect();
    rest.sort_by(|a, b| (a.position, &a.task_id).cmp(&(b.position, &b.task_id)));
    tasks.extend(rest);
    tasks
}

/// One model call: written `in_flight` before the call and rewritten with the
/// outcome after it.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptRecord {
    /// Its id.
    pub id: AttemptId,
    /// The run.
    pub run_id: RunId,
    /// The task, for task, judge and repair calls; `None` for plan, assess and synthesis.
    pub task_id: Option<TaskId>,
    /// What the call was for.
    pub kind: CallKind,
    /// Its number within its task (or within its kind for run-level calls), from 1.
    pub number: u32,
    /// The provider.
    pub provider: String,
    /// The model.
    pub model: String,
    /// Its outcome.
    pub status: AttemptStatus,
    /// The worst-case cost reserved against the budget before the call.
    pub reserved_cost_usd: f64,
    /// Tokens used, once known (estimated if the vendor's count was lost).
    pub usage: Option<Usage>,
    /// What it cost.
    pub cost_usd: f64,
    /// How long it took.
    pub latency_ms: Option<u64>,
    /// Why it failed (never with secrets).
    pub error: Option<String>,
    /// When it began.
    pub started_at: OffsetDateTime,
    /// When it ended.
    pub finished_at: Option<OffsetDateTime>,
}

/// Writes that must land together, in one transaction.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Commit {
    /// The run's new state, if it changed. Boxed: most commits (a task's start or
    /// end) carry none, and thousands of them may wait in a write queue at once.
    pub run: Option<Box<RunState>>,
    /// Tasks to insert or replace.
    pub tasks: Vec<TaskRecord>,
    /// Attempts to insert or replace.
    pub attempts: Vec<AttemptRecord>,
    /// Events to append.
    pub events: Vec<Event>,
    /// The router's learned state to save: a row replaces the stored one for its
    /// `(provider, model)` unless the stored one is newer.
    pub telemetry: Vec<TelemetryRecord>,
}

impl Commit {
    /// Whether there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.run.is_none()
            && self.tasks.is_empty()
            && self.attempts.is_empty()
            && self.events.is_empty()
            && self.telemetry.is_empty()
    }
}

/// The router's learned state for one model (its telemetry and breaker), or for a
/// provider's own breaker (`model` empty). The journal stores `state` as opaque
/// JSON; only the router reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct TelemetryRecord {
    /// The provider's name.
    pub provider: String,
    /// The model id; empty for the provider's own row.
    pub model: String,
    /// The state, as the router wrote it.
    pub state: serde_json::Value,
    /// When the state was taken; an older row never replaces a newer one.
    pub updated_at: OffsetDateTime,
}

/// What the journal holds, summed up for `GET /stats`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JournalStats {
    /// Runs by status; statuses with no run are left out.
    pub runs: Vec<(RunStatus, u64)>,
    /// Tasks by status, over every run (the tasks of unfinished runs' plans that have
    /// no row yet as pending); statuses with no task are left out.
    pub tasks: Vec<(TaskStatus, u64)>,
    /// Tasks that ran and ended, with the sum of their durations (first call to
    /// end), for an average.
    pub task_latency: LatencySum,
    /// Calls, tokens, cost and task figures per provider, by provider name.
    pub providers: Vec<ProviderUsage>,
}

/// A count and a sum of durations, so averages can be combined.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySum {
    /// How many durations were summed.
    pub count: u64,
    /// Their sum, in milliseconds.
    pub total_ms: f64,
}

/// One provider's share of the journal: its calls (attempts) and the tasks whose
/// last call went to it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ProviderUsage {
    /// The provider's name.
    pub provider: String,
    /// Calls made (attempt rows, in flight included).
    pub calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// Prompt tokens over its calls.
    pub tokens_in: u64,
    /// Completion tokens over its calls.
    pub tokens_out: u64,
    /// Dollars over its calls.
    pub cost_usd: f64,
    /// Latency of its finished calls.
    pub call_latency: LatencySum,
    /// Tasks whose last call went to it.
    pub tasks: u64,
    /// Of those, the ones that succeeded.
    pub tasks_succeeded: u64,
    /// Of those, the ones that failed.
    pub tasks_failed: u64,
    /// Duration of those tasks that ran and ended.
    pub task_latency: LatencySum,
}

impl LatencySum {
    /// The average in milliseconds, when anything was summed.
    pub fn average_ms(&self) -> Option<f64> {
        (self.count > 0).then(|| self.total_ms / self.count as f64)
    }
}

/// Which runs to list, newest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunQuery {
    /// Only runs of this tenant (`None`: every run).
    pub tenant: Option<String>,
    /// Only runs in this status.
    pub status: Option<RunStatus>,
    /// Only runs older than this one (the cursor).
    pub before: Option<RunId>,
    /// The most to return.
    pub limit: u32,
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database is unreachable or failed; the write did not happen (or, for a
    /// commit, it is unknown whether it did: commits are idempotent, so retry).
    #[error("the journal is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A run with this idempotency key exists.
    #[error("a run with this idempotency key exists")]
    IdempotencyKeyTaken {
        /// The existing run.
        existing: RunId,
    },
    /// Stored data could not be read back (a bug or a manual edit).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

/// One run's commits, in the order they are submitted with [`Journal::submit`].
///
/// The journal writes the commits of one chain in submission order, and calls their
/// [`OnCommitted`] in that order, so a run's events become durable (and are
/// published) in `seq` order while many commits are in flight at once. Once one of
/// them fails, the chain is broken: every later commit of the chain fails without
/// being written, so a run's stored events never have a gap.
#[derive(Clone, Debug)]
pub struct CommitChain {
    key: u64,
    broken: Arc<AtomicBool>,
}

impl CommitChain {
    /// A new, unbroken chain for a run's commits; clone it to share it (another
    /// `for_run` for the same run does not share its broken state).
    pub fn for_run(run_id: RunId) -> Self {
        Self {
            key: Self::key_of(run_id),
            broken: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The chain's key: derived from the run id, so that a journal that spreads
    /// chains over several writers sends every write of a run (its creation
    /// included) to the same one.
    pub fn key(&self) -> u64 {
        self.key
    }

    /// The key of a run's chains (see [`CommitChain::key`]).
    pub fn key_of(run_id: RunId) -> u64 {
        run_id.as_uuid().as_u64_pair().1
    }

    /// Whether one of the chain's commits failed.
    pub fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Acquire)
    }

    /// `Ok` while the chain is whole; once one of its commits failed, the error every
    /// later one fails with, unwritten.
    pub fn check(&self) -> Result<(), JournalError> {
        if self.is_broken() {
            return Err(JournalError::Unavailable(Box::new(std::io::Error::other(
                "an earlier commit of this run failed, so its later ones are not written",
            ))));
        }
        Ok(())
    }

    /// Marks the chain broken: its later commits fail unwritten.
    pub fn break_chain(&self) {
        self.broken.store(true, Ordering::Release);
    }
}

/// Whether someone waits for a submitted commit before going on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Urgency {
    /// Someone waits for it (a call's attempt row, a run's end): write it at once.
    Now,
    /// Nobody waits for it: a later commit of its chain, which lands after it, is
    /// what someone will wait for. The journal may hold it for a moment so that it
    /// shares that commit's transaction (one flush instead of two).
    Later,
}

/// Called once with a submitted commit's outcome (and the commit itself, handed
/// back), after the commit is durable or has failed. It may run inside
/// [`Journal::submit`] itself (a broken chain, an empty commit, a closed journal, or
/// a journal that writes at once) or later on the journal's writer, so it must be
/// quick, must not wait, and must not take a lock the submitter holds.
pub type OnCommitted = Box<dyn FnOnce(Result<(), JournalError>, Commit) + Send>;

/// A stored run with its tasks and attempts (see [`Journal::get_run_with_rows`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRun {
    /// The run.
    pub run: RunRecord,
    /// Its tasks, in plan order.
    pub tasks: Vec<TaskRecord>,
    /// Its attempts, in the order they began.
    pub attempts: Vec<AttemptRecord>,
}

impl StoredRun {
    /// A run with its task rows and attempts, in any order, put in the journal's:
    /// tasks by plan position (then id), with a pending record for each task of the
    /// run's plan that has no row ([`with_planned_tasks`]); attempts by when they
    /// began (then id).
    pub fn in_order(
        run: RunRecord,
        mut rows: Vec<TaskRecord>,
        mut attempts: Vec<AttemptRecord>,
    ) -> Self {
        rows.sort_by(|a, b| (a.position, &a.task_id).cmp(&(b.position, &b.task_id)));
        attempts.sort_by_key(|attempt| (attempt.started_at, attempt.id));
        let tasks = with_planned_tasks(run.id, run.state.plan.as_ref(), rows);
        StoredRun {
            run,
            tasks,
            attempts,
        }
    }
}

/// The engine's and the server's port to the store.
#[async_trait]
pub trait Journal: Send + Sync + std::fmt::Debug {
    /// Stores a new run with its first events, atomically. Fails with
    /// [`JournalError::IdempotencyKeyTaken`] if its tenant already used its key.
    async fn create_run(&self, run: &NewRun, events: &[Event]) -> Result<(), JournalError>;

    /// Writes a commit whole (perhaps in one transaction with others) and returns
    /// once it is durable.
    async fn commit(&self, commit: &Commit) -> Result<(), JournalError>;

    /// Queues a commit and returns at once; `done` is called with its outcome once it
    /// is durable or has failed (perhaps before `submit` returns, see
    /// [`OnCommitted`]). The commits of one [`CommitChain`] are written, and their `done`
    /// called, in submission order; once one fails, the chain's later ones fail
    /// unwritten. Commits submitted together may share one transaction with other
    /// chains' commits. A commit submitted [`Urgency::Later`] may wait a moment for
    /// company before it is written.
    fn submit(&self, chain: &CommitChain, commit: Commit, urgency: Urgency, done: OnCommitted);

    /// Queues a new run with its first events as the first write of its
    /// [`CommitChain`] and returns at once, like [`Journal::submit`]: the chain's
    /// commits submitted after it land after it (perhaps in its transaction), and
    /// once it fails (a refused idempotency key included) they fail unwritten. `done`
    /// is called with its outcome (and an empty commit). So a run can go on before it
    /// is stored, while whoever answers for it waits for `done`.
    fn submit_run(
        &self,
        chain: &CommitChain,
        run: NewRun,
        events: Vec<Event>,
        urgency: Urgency,
        done: OnCommitted,
    );

    /// A run by id, if it exists (and belongs to `tenant`, when one is given).
    async fn get_run(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<RunRecord>, JournalError>;

    /// A run with its tasks (in plan order) and attempts (in the order they began),
    /// if it exists (and belongs to `tenant`, when one is given): what `get_run`,
    /// `list_tasks` and `list_attempts` give, read on one connection.
    async fn get_run_with_rows(
        &self,
        id: RunId,
        tenant: Option<&str>,
    ) -> Result<Option<StoredRun>, JournalError> {
        let Some(run) = self.get_run(id, tenant).await? else {
            return Ok(None);
        };
        let tasks = self.list_tasks(id).await?;
        let attempts = self.list_attempts(id, None).await?;
        Ok(Some(StoredRun {
            run,
            tasks,
            attempts,
        }))
    }

    /// The run a tenant created with an idempotency key.
    async fn find_by_idempotency_key(
        &self,
        tenant: Option<&str>,
        key: &str,
    ) -> Result<Option<RunRecord>, JournalError>;

    /// Runs, newest first.
    async fn list_runs(&self, query: &RunQuery) -> Result<Vec<RunRecord>, JournalError>;

    /// A run's tasks in plan order; a task of its stored plan that has no row yet
    /// (it has not started) as pending ([`with_planned_tasks`]).
    async fn list_tasks(&self, run_id: RunId) -> Result<Vec<TaskRecord>, JournalError>;

    /// A run's attempts in the order they began, optionally of one task only.
    async fn list_attempts(
        &self,
        run_id: RunId,
        task_id: Option<&TaskId>,
    ) -> Result<Vec<AttemptRecord>, JournalError>;

    /// A run's events with `seq > after`, in order, at most `limit`.
    async fn events_after(
        &self,
        run_id: RunId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<Event>, JournalError>;

    /// The `seq` of a run's last event, or 0 if it has none (or does not exist): where
    /// a resumed run numbers on from. The default reads the events page by page; a
    /// store that can ask its database for the largest `seq` should.
    async fn last_seq(&self, run_id: RunId) -> Result<u64, JournalError> {
        let mut last = 0;
        loop {
            let page = self.events_after(run_id, last, 1000).await?;
            match page.last() {
                Some(event) => last = event.seq,
                None => return Ok(last),
            }
        }
    }

    /// Runs that are not in a terminal status (to resume or close after a restart).
    async fn unfinished_runs(&self) -> Result<Vec<RunRecord>, JournalError>;

    /// Whether the database answers and every migration is applied.
    async fn ready(&self) -> Result<bool, JournalError>;

    /// Every saved [`TelemetryRecord`], by provider then model (read once at start).
    async fn load_telemetry(&self) -> Result<Vec<TelemetryRecord>, JournalError>;

    /// Runs, tasks, calls, tokens and cost summed up, overall and per provider.
    async fn stats(&self) -> Result<JournalStats, JournalError>;
}
