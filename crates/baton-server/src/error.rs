//! `ApiError`, the only error type that knows HTTP: it renders RFC 9457
//! `application/problem+json` with a stable `code`, and [`status_and_title`] is the one
//! place where a code gets its status and title.
//!
//! 5xx details never reach the client: the response carries a generic detail, and the
//! real error travels in the response extensions to `log_server_errors`, which logs it
//! once inside the request span.

use std::any::Any;
use std::error::Error as StdError;
use std::fmt;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use baton_core::error::{ErrorCode, HasCode};
use baton_core::journal::JournalError;
use baton_executor::engine::EngineError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The media type of every error response.
pub const PROBLEM_CONTENT_TYPE: &str = "application/problem+json";

/// The prefix of a problem's `type` URI; the code follows it.
const PROBLEM_TYPE_PREFIX: &str = "urn:baton:problem:";

/// An error response: a stable code, a detail that says what to fix and, for server
/// errors, the cause (logged, never sent).
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    detail: String,
    source: Option<Box<dyn StdError + Send + Sync>>,
}

/// The body of every error response (RFC 9457 problem details).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "type": "urn:baton:problem:prompt_empty",
    "title": "The prompt is empty",
    "status": 422,
    "detail": "prompt is empty: write the task in words, or send a workflow",
    "code": "prompt_empty"
}))]
pub struct Problem {
    /// A URI naming the kind of problem: `urn:baton:problem:` followed by `code`.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short summary of the kind of problem; the same for every occurrence of a code.
    pub title: String,
    /// The HTTP status code, repeated for convenience.
    pub status: u16,
    /// What went wrong this time and how to fix it (generic for 5xx errors).
    pub detail: String,
    /// The stable, machine-readable reason; clients match on this.
    pub code: ErrorCode,
}

/// The status and title of each code. This is the only place that decides them; the
/// table in `docs/API.md` is written from it.
pub fn status_and_title(code: ErrorCode) -> (StatusCode, &'static str) {
    match code {
        ErrorCode::InvalidJson => (StatusCode::BAD_REQUEST, "The body is not valid JSON"),
        ErrorCode::InvalidRequest => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The body does not have the expected shape",
        ),
        ErrorCode::UnknownField => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The body has an unknown field",
        ),
        ErrorCode::UnsupportedMediaType => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "The body must be application/json",
        ),
        ErrorCode::BodyTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "The body is too large"),
        ErrorCode::PromptEmpty => (StatusCode::UNPROCESSABLE_ENTITY, "The prompt is empty"),
        ErrorCode::PromptTooLong => (StatusCode::UNPROCESSABLE_ENTITY, "The prompt is too long"),
        ErrorCode::InvalidOption => (StatusCode::UNPROCESSABLE_ENTITY, "An option is invalid"),
        ErrorCode::InvalidWorkflow => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The workflow is not a valid task graph",
        ),
        ErrorCode::InvalidParameter => (
            StatusCode::BAD_REQUEST,
            "A path, query or header parameter is invalid",
        ),
        ErrorCode::InvalidCursor => (StatusCode::BAD_REQUEST, "The pagination cursor is invalid"),
        ErrorCode::RunNotFound => (StatusCode::NOT_FOUND, "No such run"),
        ErrorCode::TaskNotFound => (StatusCode::NOT_FOUND, "No such task in this run"),
        ErrorCode::NotFound => (StatusCode::NOT_FOUND, "No such route"),
        ErrorCode::MethodNotAllowed => (
            StatusCode::METHOD_NOT_ALLOWED,
            "The method is not allowed on this route",
        ),
        ErrorCode::IdempotencyConflict => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "The idempotency key was used for a different request",
        ),
        ErrorCode::RunNotAwaitingInput => {
            (StatusCode::CONFLICT, "The run is not waiting for answers")
        }
        ErrorCode::Unauthorized => (StatusCode::UNAUTHORIZED, "Missing or invalid credentials"),
        ErrorCode::Forbidden => (
            StatusCode::FORBIDDEN,
            "The credentials lack the needed scope",
        ),
        // Run outcomes are carried in a run's `error`, never as an HTTP error: if one
        // reaches a response it is a bug, hence 500.
        ErrorCode::PlanFailed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The plan could not be made",
        ),
        ErrorCode::TaskFailed => (StatusCode::INTERNAL_SERVER_ERROR, "A critical task failed"),
        ErrorCode::BudgetExceeded => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The run's budget was exceeded",
        ),
        ErrorCode::RunTimeout => (StatusCode::INTERNAL_SERVER_ERROR, "The run timed out"),
        ErrorCode::Cancelled => (StatusCode::INTERNAL_SERVER_ERROR, "The run was cancelled"),
        ErrorCode::NoModelAvailable => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "No model can serve a task",
        ),
        ErrorCode::AssemblyFailed => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "The assembly step failed",
        ),
        ErrorCode::Interrupted => (StatusCode::INTERNAL_SERVER_ERROR, "The run was interrupted"),
        ErrorCode::StorageUnavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is unavailable",
        ),
        ErrorCode::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "The server is not ready or is shutting down",
        ),
        ErrorCode::Internal => (StatusCode::INTERNAL_SERVER_ERROR, "Internal server error"),
    }
}

impl ApiError {
    /// An error with a code and a detail. For a 5xx code the detail is only logged;
    /// the client gets a generic one.
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            source: None,
        }
    }

    /// A server error caused by `source`, which is logged and never sent.
    pub fn from_source(
        code: ErrorCode,
        source: impl Into<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        let source = source.into();
        Self {
            code,
            detail: source.to_string(),
            source: Some(source),
        }
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        status_and_title(self.code).0
    }

    /// The detail as the client sees it.
    pub fn public_detail(&self) -> String {
        let (status, title) = status_and_title(self.code);
        if status.is_server_error() {
            format!(
                "{title}; try again later, and report the x-request-id of this response if it persists"
            )
        } else {
            self.detail.clone()
        }
    }

    /// The problem document sent to the client.
    pub fn problem(&self) -> Problem {
        let (status, title) = status_and_title(self.code);
        Problem {
            problem_type: format!("{PROBLEM_TYPE_PREFIX}{}", self.code),
            title: title.to_owned(),
            status: status.as_u16(),
            detail: self.public_detail(),
            code: self.code,
        }
    }

    /// The detail and the cause chain, for the log.
    fn report(&self) -> String {
        let mut report = self.detail.clone();
        let mut cause: Option<&(dyn StdError + 'static)> = match &self.source {
            Some(source) => source.source(),
            None => None,
        };
        while let Some(error) = cause {
            report.push_str(": ");
            report.push_str(&error.to_string());
            cause = error.source();
        }
        report
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match &self.source {
            Some(source) => Some(source.as_ref()),
            None => None,
        }
    }
}

/// What [`log_server_errors`] needs to log an error response; put in the response's
/// extensions by [`ApiError::into_response`].
#[derive(Clone, Debug)]
struct ErrorReport {
    code: ErrorCode,
    report: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        let status = self.status();
        let body = match serde_json::to_vec(&problem) {
            Ok(body) => body,
            // A struct of strings and numbers always serialises; keep a valid body anyway.
            Err(_) => br#"{"type":"urn:baton:problem:internal","title":"Internal server error","status":500,"detail":"Internal server error","code":"internal"}"#.to_vec(),
        };
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(PROBLEM_CONTENT_TYPE),
        );
        response.extensions_mut().insert(ErrorReport {
            code: self.code,
            report: self.report(),
        });
        response
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        let code = error.code();
        match error {
            EngineError::Journal(source) => ApiError::from(source),
            EngineError::Invalid(_)
            | EngineError::IdempotencyConflict
            | EngineError::RunNotFound(_)
            | EngineError::ShuttingDown => ApiError::new(code, error.to_string()),
        }
    }
}

impl From<JournalError> for ApiError {
    fn from(error: JournalError) -> Self {
        let code = match &error {
            JournalError::Unavailable(_) => ErrorCode::StorageUnavailable,
            // The server never creates runs itself, so a key clash reaching it is a bug,
            // like corrupt data.
            JournalError::IdempotencyKeyTaken { .. } | JournalError::Corrupt(_) => {
                ErrorCode::Internal
            }
        };
        ApiError::from_source(code, error)
    }
}

/// Logs every error response once, inside the request span: 5xx at `error` with the
/// cause, 4xx at `debug`. Installed inside `TraceLayer`.
pub(crate) async fn log_server_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if let Some(report) = response.extensions().get::<ErrorReport>() {
        if response.status().is_server_error() {
            tracing::error!(code = %report.code, error = %report.report, "request failed");
        } else {
            tracing::debug!(code = %report.code, detail = %report.report, "request refused");
        }
    }
    response
}

/// Turns a panic in a handler into a 500 problem (the panic message is logged, not sent).
pub(crate) fn panic_response(payload: Box<dyn Any + Send + 'static>) -> Response {
    let message = if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "a handler panicked".to_owned()
    };
    ApiError::new(ErrorCode::Internal, format!("panic: {message}")).into_response()
}

#[cfg(test)]
mod tests;
