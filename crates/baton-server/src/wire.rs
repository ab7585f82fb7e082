//! The response bodies of the API, built from the journal's records. These are the
//! wire contract: every field is documented, because utoipa publishes the docs as the
//! schema descriptions.

use std::sync::Arc;

use baton_core::encoded::EncodedJson;
use baton_core::error::RunError;
use baton_core::graph::{Capability, Workflow};
use baton_core::ids::{AttemptId, RunId, TaskId};
use baton_core::journal::{AttemptRecord, RunRecord, StoredRun, TaskRecord};
use baton_core::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};
use baton_core::usage::{RunUsage, Usage};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

/// A run with everything that happened to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunResponse {
    /// The run's id, a UUIDv7 (time-ordered).
    #[schema(value_type = String, format = Uuid)]
    pub id: RunId,
    /// Where the run is in its life.
    pub status: RunStatus,
    /// The request as accepted, with every option resolved.
    #[schema(value_type = Object)]
    pub request: EncodedJson,
    /// The task graph, once planned (or the client's workflow); null before planning.
    #[schema(value_type = Option<Workflow>)]
    pub plan: Option<EncodedJson>,
    /// The tasks in plan order, each with its attempts; empty before planning.
    pub tasks: Vec<TaskResponse>,
    /// Model calls that belong to no single task: assessment, planning, synthesis.
    pub calls: Vec<AttemptResponse>,
    /// The assembled answer, once the run has one.
    pub output: Option<String>,
    /// Why the run did not succeed, when it did not.
    pub error: Option<RunError>,
    /// Calls, tokens and dollars over every call of the run.
    pub usage: RunUsage,
    /// What the run cost so far, in US dollars (the same as `usage.cost_usd`).
    pub cost_usd: f64,
    /// When the run was created, started, last changed and finished.
    pub timings: RunTimings,
}

/// A run in a list: its state without the request, plan, tasks and output.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunSummaryResponse {
    /// The run's id, a UUIDv7 (time-ordered).
    #[schema(value_type = String, format = Uuid)]
    pub id: RunId,
    /// Where the run is in its life.
    pub status: RunStatus,
    /// The prompt, when the run was given one.
    pub prompt: Option<String>,
    /// Why the run did not succeed, when it did not.
    pub error: Option<RunError>,
    /// Calls, tokens and dollars over every call of the run.
    pub usage: RunUsage,
    /// What the run cost so far, in US dollars.
    pub cost_usd: f64,
    /// When the run was created, started, last changed and finished.
    pub timings: RunTimings,
}

/// When things happened to a run (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunTimings {
    /// When the run was stored.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    /// When the engine started it; null while it is queued.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// When it ended; null until it does.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// Milliseconds from `started_at` (or `created_at` if it never started) to
    /// `finished_at`; null until the run ends.
    pub duration_ms: Option<u64>,
}

/// One task of a run: the task as planned, its state, and every model call made for it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskResponse {
    /// The task's id within its run.
    #[schema(value_type = String, example = "research")]
    pub id: TaskId,
    /// Its position in plan order, from 0.
    pub position: u32,
    /// A short human title (the id when the plan gave none).
    pub title: String,
    /// What the model was asked to do.
    pub instructions: String,
    /// Ids of the tasks whose outputs this task needs.
    #[schema(value_type = Vec<String>)]
    pub depends_on: Vec<TaskId>,
    /// Higher runs first among ready tasks.
    pub priority: i32,
    /// The kind of work, used for routing.
    pub capability: Capability,
    /// Whether the run fails when this task fails.
    pub critical: bool,
    /// What a good output must satisfy.
    pub success_criteria: Vec<String>,
    /// The JSON Schema the output must match, when the plan gave one.
    #[schema(value_type = Option<Object>)]
    pub output_schema: Option<serde_json::Value>,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// Its verified output, once it has one.
    pub output: Option<String>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// The provider of its last call.
    pub provider: Option<String>,
    /// The model of its last call.
    pub model: Option<String>,
    /// Calls, tokens and dollars over every call made for it.
    pub usage: RunUsage,
    /// What it cost, in US dollars.
    pub cost_usd: f64,
    /// When its first call began and when it ended.
    pub timings: TaskTimings,
    /// Every model call made for it (task, judge and repair calls), in the order they began.
    pub attempts: Vec<AttemptResponse>,
}

/// When things happened to a task (RFC 3339, UTC).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TaskTimings {
    /// When its first call began; null until then.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub started_at: Option<OffsetDateTime>,
    /// When it ended; null until it does.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
    /// Milliseconds from `started_at` to `finished_at`; null unless both are known.
    pub duration_ms: Option<u64>,
}

/// One model call (an attempt): who answered, what it used and cost, how it ended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AttemptResponse {
    /// The attempt's id, unique across all runs.
    #[schema(value_type = String, format = Uuid)]
    pub id: AttemptId,
    /// The task it was made for; null for assessment, planning and synthesis calls.
    #[schema(value_type = Option<String>)]
    pub task_id: Option<TaskId>,
    /// What the call was for.
    pub kind: CallKind,
    /// Its number within its task (or within its kind for run-level calls), from 1.
    pub number: u32,
    /// The provider that answered.
    pub provider: String,
    /// The model that answered.
    pub model: String,
    /// The call's outcome (`in_flight` while it runs).
    pub status: AttemptStatus,
    /// Tokens used, once known (flagged `estimated` when the vendor's count was lost).
    pub usage: Option<Usage>,
    /// What the call cost, in US dollars.
    pub cost_usd: f64,
    /// The worst-case cost reserved against the budget before the call, in US dollars.
    pub reserved_cost_usd: f64,
    /// How long the call took, in milliseconds, once it ended.
    pub latency_ms: Option<u64>,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When the call began.
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: OffsetDateTime,
    /// When the call ended; null while it is in flight.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub finished_at: Option<OffsetDateTime>,
}

/// A page of runs, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListRunsResponse {
    /// The runs of this page, newest first.
    pub runs: Vec<RunSummaryResponse>,
    /// Pass it as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// The tasks of a run, in plan order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ListTasksResponse {
    /// The tasks, each with its attempts.
    pub tasks: Vec<TaskResponse>,
}

/// The answer of `GET /healthz` and `GET /readyz`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HealthResponse {
    /// `ok` (the process is up) or `ready` (it can serve requests).
    #[schema(example = "ok")]
    pub status: String,
}

impl RunResponse {
    /// The response for a stored run with its tasks and attempts.
    pub fn from_stored(stored: StoredRun) -> RunResponse {
        RunResponse::from_records(stored.run, stored.tasks, stored.attempts)
    }

    /// The run, its tasks and its attempts (all of them: task calls are put under
    /// their task, the others in `calls`).
    pub fn from_records(
        run: RunRecord,
        tasks: Vec<TaskRecord>,
        attempts: Vec<AttemptRecord>,
    ) -> RunResponse {
        let (task_attempts, calls): (Vec<AttemptRecord>, Vec<AttemptRecord>) = attempts
            .into_iter()
            .partition(|attempt| attempt.task_id.is_some());
        let tasks = tasks
            .into_iter()
            .map(|task| {
                let attempts = task_attempts
                    .iter()
                    .filter(|attempt| attempt.task_id.as_ref() == Some(&task.task_id))
                    .cloned()
                    .collect();
                TaskResponse::from_records(task, attempts)
            })
            .collect();
        let timings = RunTimings::of(&run);
        RunResponse {
            id: run.id,
            status: run.state.status,
            request: run.request,
            plan: run.state.plan,
            tasks,
            calls: calls
                .into_iter()
                .map(AttemptResponse::from_record)
                .collect(),
            output: run.state.output,
            error: run.state.error,
            usage: run.state.usage,
            cost_usd: run.state.usage.cost_usd,
            timings,
        }
    }
}

impl RunSummaryResponse {
    /// The summary of a stored run.
    pub fn from_record(run: RunRecord) -> RunSummaryResponse {
        let timings = RunTimings::of(&run);
        let prompt = run.prompt();
        RunSummaryResponse {
            id: run.id,
            status: run.state.status,
            prompt,
            error: run.state.error,
            usage: run.state.usage,
            cost_usd: run.state.usage.cost_usd,
            timings,
        }
    }
}

impl RunTimings {
    fn of(run: &RunRecord) -> RunTimings {
        let duration_ms = run.state.finished_at.map(|finished| {
            milliseconds_between(run.state.started_at.unwrap_or(run.created_at), finished)
        });
        RunTimings {
            created_at: run.created_at,
            started_at: run.state.started_at,
            updated_at: run.state.updated_at,
            finished_at: run.state.finished_at,
            duration_ms,
        }
    }
}

impl TaskResponse {
    /// A stored task with the attempts made for it.
    pub fn from_records(task: TaskRecord, attempts: Vec<AttemptRecord>) -> TaskResponse {
        let duration_ms = match (task.started_at, task.finished_at) {
            (Some(started), Some(finished)) => Some(milliseconds_between(started, finished)),
            _ => None,
        };
        let title = task.spec.display_title().to_owned();
        let spec = Arc::unwrap_or_clone(task.spec);
        TaskResponse {
            id: task.task_id,
            position: task.position,
            title,
            instructions: spec.instructions,
            depends_on: spec.depends_on,
            priority: spec.priority,
            capability: spec.capability,
            critical: spec.critical,
            success_criteria: spec.success_criteria,
            output_schema: spec.output_schema,
            status: task.status,
            output: task.output,
            error: task.error,
            provider: task.provider,
            model: task.model,
            usage: task.usage,
            cost_usd: task.usage.cost_usd,
            timings: TaskTimings {
                started_at: task.started_at,
                finished_at: task.finished_at,
                duration_ms,
            },
            attempts: attempts
                .into_iter()
                .map(AttemptResponse::from_record)
                .collect(),
        }
    }
}

impl AttemptResponse {
    /// A stored attempt.
    pub fn from_record(attempt: AttemptRecord) -> AttemptResponse {
        AttemptResponse {
            id: attempt.id,
            task_id: attempt.task_id,
            kind: attempt.kind,
            number: attempt.number,
            provider: attempt.provider,
            model: attempt.model,
            status: attempt.status,
            usage: attempt.usage,
            cost_usd: attempt.cost_usd,
            reserved_cost_usd: attempt.reserved_cost_usd,
            latency_ms: attempt.latency_ms,
            error: attempt.error,
            started_at: attempt.started_at,
            finished_at: attempt.finished_at,
        }
    }
}

/// Whole milliseconds from `start` to `end`, 0 if the clock went backwards.
fn milliseconds_between(start: OffsetDateTime, end: OffsetDateTime) -> u64 {
    u64::try_from((end - start).whole_milliseconds()).unwrap_or(0)
}

/// The body of `GET /models`.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct ModelsResponse {
    /// Every model of the catalogue, by provider then model.
    pub models: Vec<baton_router::ModelStatus>,
}

/// Runs by outcome.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunCounts {
    /// Every run ever stored.
    pub started: u64,
    /// Runs that ended `succeeded`.
    pub succeeded: u64,
    /// Runs that ended `failed`.
    pub failed: u64,
    /// Runs that ended `partial`.
    pub partial: u64,
    /// Runs that ended `cancelled`.
    pub cancelled: u64,
    /// Runs not ended yet (`queued`, `running`, `awaiting_input`).
    pub running: u64,
}

/// The body of `GET /stats`: the figures overall, then per provider.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StatsResponse {
    /// Runs by outcome.
    pub runs: RunCounts,
    /// Succeeded runs over ended runs; null before any run ended.
    pub success_rate: Option<f64>,
    /// Tasks of every run.
    pub tasks: u64,
    /// Tasks that succeeded.
    pub tasks_succeeded: u64,
    /// Tasks that failed.
    pub tasks_failed: u64,
    /// The average time from a task's first call to its end, in milliseconds.
    pub average_task_latency_ms: Option<f64>,
    /// Model calls made (attempts, in flight included).
    pub calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// The average latency of a finished call, in milliseconds.
    pub average_call_latency_ms: Option<f64>,
    /// Prompt tokens over every call.
    pub tokens_in: u64,
    /// Completion tokens over every call.
    pub tokens_out: u64,
    /// Dollars over every call.
    pub cost_usd: f64,
    /// Calls that waited for a rate limit (this process, since it started).
    pub rate_limit_waits: u64,
    /// Time those calls waited, in milliseconds.
    pub rate_limit_waited_ms: u64,
    /// How often circuit breakers opened (models' and providers').
    pub breaker_openings: u64,
    /// The same figures per provider, by name.
    pub providers: Vec<ProviderStats>,
}

/// One provider's figures in `GET /stats`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProviderStats {
    /// The provider's name.
    pub provider: String,
    /// Calls made to it.
    pub calls: u64,
    /// Calls that failed.
    pub failed_calls: u64,
    /// Calls that did not fail over calls made; null before any call.
    pub call_success_rate: Option<f64>,
    /// Prompt tokens over its calls.
    pub tokens_in: u64,
    /// Completion tokens over its calls.
    pub tokens_out: u64,
    /// Dollars over its calls.
    pub cost_usd: f64,
    /// The average latency of its finished calls, in milliseconds.
    pub average_call_latency_ms: Option<f64>,
    /// Tasks whose last call went to it.
    pub tasks: u64,
    /// Of those, the ones that succeeded.
    pub tasks_succeeded: u64,
    /// Of those, the ones that failed.
    pub tasks_failed: u64,
    /// The average duration of those tasks, in milliseconds.
    pub average_task_latency_ms: Option<f64>,
    /// Its calls that waited for a rate limit (this process).
    pub rate_limit_waits: u64,
    /// Time they waited, in milliseconds.
    pub rate_limit_waited_ms: u64,
    /// How often its breakers (its own and its models') opened.
    pub breaker_openings: u64,
}
