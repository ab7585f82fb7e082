//! What a client asks for: the run request body, its options, and the rules that
//! turn it into a validated request (parse, don't validate).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::{ErrorCode, HasCode};
use crate::graph::{GraphErrors, GraphLimits, TaskGraph, Workflow};

/// The body of `POST /run`, `POST /stream/run` and `POST /runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The task in plain words. Required unless `workflow` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(
        example = "Research the history of the bicycle, then write a short blog post about it"
    )]
    pub prompt: Option<String>,
    /// A ready task graph; planning is skipped when it is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<Workflow>,
    /// Overrides of the server's default options.
    #[serde(default)]
    pub options: RunOptionsPatch,
    /// Free-form data kept with the run and returned with it.
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// The order in which ready tasks run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Every ready task runs, up to the concurrency limits; priority then plan order.
    #[default]
    Parallel,
    /// The highest-priority ready task, one at a time.
    Greedy,
    /// Plan order, one at a time.
    Sequential,
}

/// Whether the request is assessed (and questions asked) before planning.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClarifyMode {
    /// Plan right away.
    #[default]
    Off,
    /// Assess first; ask when confidence is below `min_confidence`.
    Auto,
}

/// How task outputs become the answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssembleMode {
    /// A model merges the outputs (one task: its output is the answer).
    #[default]
    Synthesize,
    /// The outputs are joined in plan order.
    Concat,
}

/// A set of routing weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RoutingProfile {
    /// Balanced weights.
    #[default]
    Default,
    /// Latency first.
    Fast,
    /// Quality first.
    Accurate,
    /// Price first.
    Cheap,
}

/// Options as a client sends them: every field optional, falling back to the
/// server's defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunOptionsPatch {
    /// `parallel` (default), `greedy` or `sequential`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<Strategy>,
    /// The most tasks of this run in flight at once (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// The most calls of this run in flight at once to one provider (at least 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency_per_provider: Option<u32>,
    /// Pin the planner's model instead of routing it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub planner_model: Option<String>,
    /// Judge each output against its success criteria with a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    /// Repair attempts after a failed check, per task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repair_limit: Option<u32>,
    /// Retries of transient errors per task attempt (tasks may override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
    /// `off` (default) or `auto`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clarify: Option<ClarifyMode>,
    /// The confidence below which `clarify: auto` asks questions (0..1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_confidence: Option<f64>,
    /// The most this run may spend, in dollars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
    /// The longest this run may take, in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// The time limit of one task attempt, in seconds (tasks may override).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_timeout_s: Option<f64>,
    /// Cancel the other tasks at the first failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_fast: Option<bool>,
    /// `synthesize` (default) or `concat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assemble: Option<AssembleMode>,
    /// Routing weights: `default`, `fast`, `accurate` or `cheap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<RoutingProfile>,
    /// Stream model tokens as `task_delta` events (on by default for `/stream/run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<bool>,
}

/// Options with every value decided: the server's defaults with the client's
/// overrides applied and checked against the server's limits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunOptions {
    /// See [`RunOptionsPatch::strategy`].
    pub strategy: Strategy,
    /// See [`RunOptionsPatch::max_concurrency`].
    pub max_concurrency: u32,
    /// See [`RunOptionsPatch::max_concurrency_per_provider`].
    pub max_concurrency_per_provider: u32,
    /// See [`RunOptionsPatch::planner_model`].
    pub planner_model: Option<String>,
    /// See [`RunOptionsPatch::verify`].
    pub verify: bool,
    /// See [`RunOptionsPatch::repair_limit`].
    pub repair_limit: u32,
    /// See [`RunOptionsPatch::max_retries`].
    pub max_retries: u32,
    /// See [`RunOptionsPatch::clarify`].
    pub clarify: ClarifyMode,
    /// See [`RunOptionsPatch::min_confidence`].
    pub min_confidence: f64,
    /// See [`RunOptionsPatch::budget_usd`].
    pub budget_usd: Option<f64>,
    /// See [`RunOptionsPatch::timeout_s`].
    pub timeout_s: Option<f64>,
    /// See [`RunOptionsPatch::task_timeout_s`].
    pub task_timeout_s: f64,
    /// See [`RunOptionsPatch::fail_fast`].
    pub fail_fast: bool,
    /// See [`RunOptionsPatch::assemble`].
    pub assemble: AssembleMode,
    /// See [`RunOptionsPatch::profile`].
    pub profile: RoutingProfile,
    /// See [`RunOptionsPatch::stream`].
    pub stream: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            strategy: Strategy::Parallel,
            max_concurrency: 5,
            max_concurrency_per_provider: 3,
            planner_model: None,
            verify: true,
            repair_limit: 1,
            max_retries: 2,
            clarify: ClarifyMode::Off,
            min_confidence: 0.7,
            budget_usd: None,
            timeout_s: None,
            task_timeout_s: 120.0,
            fail_fast: false,
            assemble: AssembleMode::Synthesize,
            profile: RoutingProfile::Default,
            stream: false,
        }
    }
}

/// The server's limits on what a request may ask for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RequestLimits {
    /// The longest prompt accepted, in bytes.
    pub max_prompt_bytes: usize,
    /// The highest `max_concurrency` (and per-provider concurrency) a request may ask for.
    pub max_concurrency: u32,
    /// The highest `repair_limit`.
    pub max_repair_limit: u32,
    /// The highest `max_retries`.
    pub max_retries: u32,
    /// The longest `timeout_s` and `task_timeout_s`, in seconds.
    pub max_timeout_s: f64,
    /// Limits on a client's workflow.
    pub graph: GraphLimits,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_prompt_bytes: 256 * 1024,
            max_concurrency: 10_000,
            max_repair_limit: 5,
            max_retries: 10,
            max_timeout_s: 24.0 * 3600.0,
            graph: GraphLimits::default(),
        }
    }
}

/// A request that passed every check.
#[derive(Clone, Debug)]
pub struct ValidRunRequest {
    /// The prompt, trimmed; present unless a workflow was given alone.
    pub prompt: Option<String>,
    /// The client's graph, validated; `None` means the planner makes one.
    pub workflow: Option<TaskGraph>,
    /// The resolved options.
    pub options: RunOptions,
    /// The client's metadata.
    pub metadata: serde_json::Map<String, serde_json::Value>,
}

/// Why a request was refused; the message says what to fix.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// Neither a prompt nor a workflow, or a blank prompt.
    #[error("{0}")]
    PromptEmpty(&'static str),
    /// The prompt is over the limit.
    #[error("the prompt is {bytes} bytes; at most {max} are accepted")]
    PromptTooLong {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// An option is out of range.
    #[error("options.{option}: {message}")]
    InvalidOption {
        /// The option's name.
        option: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// The workflow is not a valid graph.
    #[error("workflow: {0}")]
    InvalidWorkflow(#[from] GraphErrors),
}

impl HasCode for RequestError {
    fn code(&self) -> ErrorCode {
        match self {
            RequestError::PromptEmpty(_) => ErrorCode::PromptEmpty,
            RequestError::PromptTooLong { .. } => ErrorCode::PromptTooLong,
            RequestError::InvalidOption { .. } => ErrorCode::InvalidOption,
            RequestError::InvalidWorkflow(_) => ErrorCode::InvalidWorkflow,
        }
    }
}

impl RunRequest {
    /// Checks the request against the server's limits and resolves its options over
    /// `defaults`.
    pub fn validate(
        &self,
        defaults: &RunOptions,
        limits: &RequestLimits,
    ) -> Result<ValidRunRequest, RequestError> {
        let prompt = match &self.prompt {
            Some(prompt) if prompt.trim().is_empty() => {
                return Err(RequestError::PromptEmpty(
                    "prompt is empty: write the task in words, or send a workflow",
                ));
            }
            Some(prompt) if prompt.len() > limits.max_prompt_bytes => {
                return Err(RequestError::PromptTooLong {
                    bytes: prompt.len(),
                    max: limits.max_prompt_bytes,
                });
            }
            Some(prompt) => Some(prompt.trim().to_owned()),
            None if self.workflow.is_none() => {
                return Err(RequestError::PromptEmpty(
                    "the request has neither a prompt nor a workflow: send `prompt` (the task in words) or `workflow` (a task graph)",
                ));
            }
            None => None,
        };
        let options = self.options.resolve(defaults, limits)?;
        let workflow = match &self.workflow {
            Some(workflow) => Some(TaskGraph::new(workflow.clone(), &limits.graph)?),
            None => None,
        };
        Ok(ValidRunRequest {
            prompt,
            workflow,
            options,
            metadata: self.metadata.clone(),
        })
    }
}

impl RunOptionsPatch {
    /// Applies these overrides to `defaults`, checking each against `limits`.
    pub fn resolve(
        &self,
        defaults: &RunOptions,
        limits: &RequestLimits,
    ) -> Result<RunOptions, RequestError> {
        let count = |option: &'static str, value: Option<u32>, default: u32, max: u32| match value {
            None => Ok(default),
            Some(0) if option.starts_with("max_concurrency") => Err(RequestError::InvalidOption {
                option,
                message: format!("must be at least 1 (at most {max}), got 0"),
            }),
            Some(value) if value > max => Err(RequestError::InvalidOption {
                option,
                message: format!("must be at most {max}, got {value}"),
            }),
            Some(value) => Ok(value),
        };
        let seconds = |option: &'static str, value: f64| {
            if value.is_finite() && value > 0.0 && value <= limits.max_timeout_s {
                Ok(value)
            } else {
                Err(RequestError::InvalidOption {
                    option,
                    message: format!(
                        "must be a number of seconds above 0 and at most {}, got {value}",
                        limits.max_timeout_s
                    ),
                })
            }
        };
        let min_confidence = self.min_confidence.unwrap_or(defaults.min_confidence);
        if !(0.0..=1.0).contains(&min_confidence) {
            return Err(RequestError::InvalidOption {
                option: "min_confidence",
                message: format!("must be between 0 and 1, got {min_confidence}"),
            });
        }
        let budget_usd = match self.budget_usd.or(defaults.budget_usd) {
            Some(budget) if !(budget.is_finite() && budget >= 0.0) => {
                return Err(RequestError::InvalidOption {
                    option: "budget_usd",
                    message: format!("must be zero or more dollars, got {budget}"),
                });
            }
            budget => budget,
        };
        let timeout_s = match self.timeout_s.or(defaults.timeout_s) {
            Some(value) => Some(seconds("timeout_s", value)?),
            None => None,
        };
        let planner_model = match &self.planner_model {
            Some(model) if model.trim().is_empty() => {
                return Err(RequestError::InvalidOption {
                    option: "planner_model",
                    message: "must name a model, or be left out".to_owned(),
                });
            }
            Some(model) => Some(model.clone()),
            None => defaults.planner_model.clone(),
        };
        Ok(RunOptions {
            strategy: self.strategy.unwrap_or(defaults.strategy),
            max_concurrency: count(
                "max_concurrency",
                self.max_concurrency,
                defaults.max_concurrency,
                limits.max_concurrency,
            )?,
            max_concurrency_per_provider: count(
                "max_concurrency_per_provider",
                self.max_concurrency_per_provider,
                defaults.max_concurrency_per_provider,
                limits.max_concurrency,
            )?,
            planner_model,
            verify: self.verify.unwrap_or(defaults.verify),
            repair_limit: count(
                "repair_limit",
                self.repair_limit,
                defaults.repair_limit,
                limits.max_repair_limit,
            )?,
            max_retries: count(
                "max_retries",
                self.max_retries,
                defaults.max_retries,
                limits.max_retries,
            )?,
            clarify: self.clarify.unwrap_or(defaults.clarify),
            min_confidence,
            budget_usd,
            timeout_s,
            task_timeout_s: seconds(
                "task_timeout_s",
                self.task_timeout_s.unwrap_or(defaults.task_timeout_s),
            )?,
            fail_fast: self.fail_fast.unwrap_or(defaults.fail_fast),
            assemble: self.assemble.unwrap_or(defaults.assemble),
            profile: self.profile.unwrap_or(defaults.profile),
            stream: self.stream.unwrap_or(defaults.stream),
        })
    }
}

#[cfg(test)]
mod tests;
