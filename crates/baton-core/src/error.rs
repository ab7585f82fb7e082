//! Stable error codes. Each library crate has its own error type; they share only
//! these codes, which clients match on. The HTTP status and title of each code are
//! decided in one place, in `baton-server`.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A stable, documented, machine-readable reason. The wire form is snake_case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    // Request errors (4xx).
    /// The body is not valid JSON.
    InvalidJson,
    /// The body is JSON but not of the expected shape (a missing field or a wrong type).
    InvalidRequest,
    /// The body has a field the API does not know.
    UnknownField,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    /// The body is larger than the server accepts.
    BodyTooLarge,
    /// Neither a prompt nor a workflow was given, or the prompt is blank.
    PromptEmpty,
    /// The prompt is longer than the server accepts.
    PromptTooLong,
    /// An option is out of range or impossible.
    InvalidOption,
    /// The workflow is not a valid task graph (cycle, unknown dependency, bad id…).
    InvalidWorkflow,
    /// A path or query parameter is malformed.
    InvalidParameter,
    /// A pagination cursor was not one this server issued.
    InvalidCursor,
    /// No run with that id (or not visible to the caller).
    RunNotFound,
    /// No task with that id in the run.
    TaskNotFound,
    /// No such route.
    NotFound,
    /// The route exists but not for this method.
    MethodNotAllowed,
    /// The same idempotency key was used with a different body.
    IdempotencyConflict,
    /// The run is not waiting for answers.
    RunNotAwaitingInput,
    /// Missing or invalid credentials.
    Unauthorized,
    /// The credentials lack the scope for this operation.
    Forbidden,
    // Run outcomes (carried in a run's `error`).
    /// The plan could not be made.
    PlanFailed,
    /// A critical task failed.
    TaskFailed,
    /// A call would have broken the run's budget.
    BudgetExceeded,
    /// The run took longer than its `timeout_s`.
    RunTimeout,
    /// A client cancelled the run.
    Cancelled,
    /// No configured model can serve a task.
    NoModelAvailable,
    /// The assembly step failed.
    AssemblyFailed,
    /// The server stopped while the run was in flight and could not resume it.
    Interrupted,
    // Server errors (5xx).
    /// The database is unreachable or failing.
    StorageUnavailable,
    /// The server is shutting down or not ready.
    Unavailable,
    /// A bug; the details are in the server log, never in the response.
    Internal,
}

impl ErrorCode {
    /// Every code, for the table test.
    pub const ALL: &'static [ErrorCode] = &[
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRequest,
        ErrorCode::UnknownField,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::BodyTooLarge,
        ErrorCode::PromptEmpty,
        ErrorCode::PromptTooLong,
        ErrorCode::InvalidOption,
        ErrorCode::InvalidWorkflow,
        ErrorCode::InvalidParameter,
        ErrorCode::InvalidCursor,
        ErrorCode::RunNotFound,
        ErrorCode::TaskNotFound,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::IdempotencyConflict,
        ErrorCode::RunNotAwaitingInput,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::PlanFailed,
        ErrorCode::TaskFailed,
        ErrorCode::BudgetExceeded,
        ErrorCode::RunTimeout,
        ErrorCode::Cancelled,
        ErrorCode::NoModelAvailable,
        ErrorCode::AssemblyFailed,
        ErrorCode::Interrupted,
        ErrorCode::StorageUnavailable,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::BodyTooLarge => "body_too_large",
            ErrorCode::PromptEmpty => "prompt_empty",
            ErrorCode::PromptTooLong => "prompt_too_long",
            ErrorCode::InvalidOption => "invalid_option",
            ErrorCode::InvalidWorkflow => "invalid_workflow",
            ErrorCode::InvalidParameter => "invalid_parameter",
            ErrorCode::InvalidCursor => "invalid_cursor",
            ErrorCode::RunNotFound => "run_not_found",
            ErrorCode::TaskNotFound => "task_not_found",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::IdempotencyConflict => "idempotency_conflict",
            ErrorCode::RunNotAwaitingInput => "run_not_awaiting_input",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::PlanFailed => "plan_failed",
            ErrorCode::TaskFailed => "task_failed",
            ErrorCode::BudgetExceeded => "budget_exceeded",
            ErrorCode::RunTimeout => "run_timeout",
            ErrorCode::Cancelled => "cancelled",
            ErrorCode::NoModelAvailable => "no_model_available",
            ErrorCode::AssemblyFailed => "assembly_failed",
            ErrorCode::Interrupted => "interrupted",
            ErrorCode::StorageUnavailable => "storage_unavailable",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Implemented by every error that can reach a client, so the server can map it
/// to a status without knowing the error's type.
pub trait HasCode {
    /// The stable code of this error.
    fn code(&self) -> ErrorCode;
}

/// Why a run ended without success, as stored on the run and sent in `final`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RunError {
    /// The stable code.
    pub code: ErrorCode,
    /// What happened, in words, with no secrets.
    pub message: String,
}

impl RunError {
    /// A run error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests;
