//! The events of a run: the append-only log that clients read as SSE and the
//! journal stores. Names keep the vocabulary of the earlier Ai3 orchestrator.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::encoded::EncodedJson;
use crate::error::RunError;
use crate::graph::TaskSpec;
use crate::ids::{RunId, TaskId};
use crate::status::RunStatus;
use crate::usage::Usage;

/// One event of a run. On the wire: `event: <type>`, `id: <seq>`, and this object as
/// one line of JSON in `data:`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// The run it belongs to.
    #[schema(value_type = String, format = Uuid)]
    pub run_id: RunId,
    /// Its number within the run: from 1, no gaps.
    pub seq: u64,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub ts: OffsetDateTime,
    /// What happened; `type` names it.
    #[serde(flatten)]
    pub payload: EventPayload,
}

impl Event {
    /// The SSE event name, which is also the `type` field.
    pub fn name(&self) -> &'static str {
        self.payload.name()
    }

    /// A run's events numbered in order from `first_seq`, all at `ts`.
    pub fn numbered(
        run_id: RunId,
        first_seq: u64,
        ts: OffsetDateTime,
        payloads: impl IntoIterator<Item = EventPayload>,
    ) -> Vec<Event> {
        (first_seq..)
            .zip(payloads)
            .map(|(seq, payload)| Event {
                run_id,
                seq,
                ts,
                payload,
            })
            .collect()
    }
}

/// Whether planning is starting or done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanPhase {
    /// The planner was asked.
    Started,
    /// The plan is final.
    Completed,
}

/// A model the router considered for a call, with its score or the reason it was skipped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Candidate {
    /// The provider's name.
    pub provider: String,
    /// The model id.
    pub model: String,
    /// The total score (higher is better); absent when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Each part of the score, already weighted; absent when skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<ScoreParts>,
    /// Why the candidate was not eligible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The parts of a candidate's score, each already weighted by the routing profile,
/// so that they add up to the score.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ScoreParts {
    /// How well the model's capabilities fit the task's.
    pub capability: f64,
    /// How fast it answers (live telemetry, else the catalogue's typical latency).
    pub latency: f64,
    /// How cheap it is for the task's expected tokens.
    pub price: f64,
    /// Its quality tier for the capability.
    pub quality: f64,
    /// Its recent success rate.
    pub success: f64,
}

impl ScoreParts {
    /// The parts by name, in the order they are serialised.
    pub fn by_name(&self) -> [(&'static str, f64); 5] {
        [
            ("capability", self.capability),
            ("latency", self.latency),
            ("price", self.price),
            ("quality", self.quality),
            ("success", self.success),
        ]
    }
}

/// One verification check and its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Check {
    /// The check's name: `non_empty`, `length`, `output_schema`, `judge`.
    pub name: String,
    /// Whether it passed.
    pub passed: bool,
    /// What was wrong, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// What happened, by kind. Serialised with a `type` tag in snake_case.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventPayload {
    /// The run is stored.
    RunCreated {
        /// The request as accepted, with resolved options.
        #[schema(value_type = Object)]
        request: EncodedJson,
    },
    /// The assessment is done.
    Confidence {
        /// The weighted total (0..1).
        overall: f64,
        /// How clear the request is.
        clarity: f64,
        /// How complete.
        completeness: f64,
        /// How feasible.
        feasibility: f64,
        /// How specific.
        specificity: f64,
    },
    /// The run paused for answers.
    ClarificationNeeded {
        /// The questions to answer.
        questions: Vec<String>,
    },
    /// Planning started or completed.
    Plan {
        /// `started` or `completed`.
        phase: PlanPhase,
        /// The tasks, on `completed`.
        // Shared with the run's graph, not copied.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(value_type = Option<Vec<TaskSpec>>)]
        tasks: Option<Vec<Arc<TaskSpec>>>,
        /// True when the planner failed and the run fell back to one task.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        fallback: bool,
        /// Where the plan came from: `planner`, `workflow` or `fallback`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        source: Option<String>,
    },
    /// A model was chosen for a task.
    Decision {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// The chosen provider.
        provider: String,
        /// The chosen model.
        model: String,
        /// Its score.
        score: f64,
        /// Every model considered.
        candidates: Vec<Candidate>,
    },
    /// A call for a task begins.
    TaskStart {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// The attempt number within the task, from 1.
        attempt: u32,
        /// The provider.
        provider: String,
        /// The model.
        model: String,
    },
    /// Streamed tokens (only on streaming requests).
    TaskDelta {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// The new text.
        text: String,
    },
    /// A transient failure; the call will be retried.
    TaskRetry {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// The attempt that failed.
        attempt: u32,
        /// The wait before the next attempt.
        delay_ms: u64,
        /// What went wrong.
        error: String,
    },
    /// A call produced output.
    TaskArtifact {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// The output.
        output: String,
        /// Tokens used.
        usage: Usage,
        /// What the call cost.
        cost_usd: f64,
        /// How long it took.
        latency_ms: u64,
    },
    /// Verification result.
    TaskVerified {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// Whether every check passed.
        passed: bool,
        /// 0..1; the judge's score when it ran, else the share of checks passed.
        score: f64,
        /// Each check.
        checks: Vec<Check>,
    },
    /// A repair attempt starts.
    TaskRepaired {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// The attempt number of the repair.
        attempt: u32,
        /// What was wrong with the previous output.
        reason: String,
    },
    /// A task attempt failed.
    TaskFailed {
        /// The task.
        #[schema(value_type = String)]
        task_id: TaskId,
        /// What went wrong.
        error: String,
        /// The next model to try, or null when the task has failed for good.
        fallback: Option<String>,
    },
    /// Assembly begins.
    AssembleStart {
        /// `synthesize`, `concat` or `single`.
        strategy: String,
    },
    /// The run ended.
    Final {
        /// Its final status.
        status: RunStatus,
        /// The answer, if any.
        output: Option<String>,
        /// Why it did not succeed, if it did not.
        error: Option<RunError>,
    },
    /// The run's totals; always the last event.
    Stats {
        /// Tasks in the plan.
        tasks_total: u64,
        /// Tasks that succeeded.
        tasks_succeeded: u64,
        /// Tasks that failed.
        tasks_failed: u64,
        /// Model calls made.
        llm_calls: u64,
        /// Prompt tokens.
        tokens_in: u64,
        /// Completion tokens.
        tokens_out: u64,
        /// Dollars spent.
        cost_usd: f64,
        /// Wall time of the run.
        duration_ms: u64,
    },
}

impl EventPayload {
    /// The event's name, as in `type` and the SSE `event:` line.
    pub fn name(&self) -> &'static str {
        match self {
            EventPayload::RunCreated { .. } => "run_created",
            EventPayload::Confidence { .. } => "confidence",
            EventPayload::ClarificationNeeded { .. } => "clarification_needed",
            EventPayload::Plan { .. } => "plan",
            EventPayload::Decision { .. } => "decision",
            EventPayload::TaskStart { .. } => "task_start",
            EventPayload::TaskDelta { .. } => "task_delta",
            EventPayload::TaskRetry { .. } => "task_retry",
            EventPayload::TaskArtifact { .. } => "task_artifact",
            EventPayload::TaskVerified { .. } => "task_verified",
            EventPayload::TaskRepaired { .. } => "task_repaired",
            EventPayload::TaskFailed { .. } => "task_failed",
            EventPayload::AssembleStart { .. } => "assemble_start",
            EventPayload::Final { .. } => "final",
            EventPayload::Stats { .. } => "stats",
        }
    }

    /// Whether this is the last event a run emits.
    pub fn is_last(&self) -> bool {
        matches!(self, EventPayload::Stats { .. })
    }

    /// The first of its numbers that JSON cannot hold (NaN or infinite: `serde_json`
    /// would write `null`, which then does not read back, or for a candidate's
    /// `score` reads back as absent), by field name; `None` when every number is
    /// finite. The journal refuses such an event.
    pub fn non_finite_field(&self) -> Option<&'static str> {
        fn first_non_finite(
            numbers: impl IntoIterator<Item = (&'static str, f64)>,
        ) -> Option<&'static str> {
            numbers
                .into_iter()
                .find(|(_, number)| !number.is_finite())
                .map(|(field, _)| field)
        }
        match self {
            EventPayload::Confidence {
                overall,
                clarity,
                completeness,
                feasibility,
                specificity,
            } => first_non_finite([
                ("overall", *overall),
                ("clarity", *clarity),
                ("completeness", *completeness),
                ("feasibility", *feasibility),
                ("specificity", *specificity),
            ]),
            EventPayload::Decision {
                score, candidates, ..
            } => first_non_finite(
                std::iter::once(("score", *score))
                    .chain(
                        candidates
                            .iter()
                            .filter_map(|candidate| candidate.score)
                            .map(|score| ("candidates.score", score)),
                    )
                    .chain(
                        candidates
                            .iter()
                            .filter_map(|candidate| candidate.parts)
                            .flat_map(|parts| parts.by_name())
                            .map(|(_, part)| ("candidates.parts", part)),
                    ),
            ),
            EventPayload::TaskArtifact { cost_usd, .. } | EventPayload::Stats { cost_usd, .. } => {
                first_non_finite([("cost_usd", *cost_usd)])
            }
            EventPayload::TaskVerified { score, .. } => first_non_finite([("score", *score)]),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
