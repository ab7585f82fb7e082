//! Extractors whose rejections are [`ApiError`]s, so malformed input never reaches a
//! client as axum's plain text: the JSON body, the query string, the path ids, the
//! caller, and the `Idempotency-Key` and `Last-Event-ID` headers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, RawPathParams, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use baton_core::error::ErrorCode;
use baton_core::ids::{RunId, TaskId};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::state::AppState;

/// The longest `Idempotency-Key` accepted, in bytes.
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 255;

/// A JSON body of type `T`. Rejections: 415 `unsupported_media_type` without a JSON
/// content type, 413 `body_too_large` over the limit, 400 `invalid_json` for malformed
/// JSON (with line and column), 422 `unknown_field` for a field `T` does not know, and
/// 422 `invalid_request` for a wrong type or a missing field (with the field's path).
#[derive(Clone, Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        check_json_content_type(request.headers())?;
        let body = match Bytes::from_request(request, state).await {
            Ok(body) => body,
            Err(rejection) if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::new(
                    ErrorCode::BodyTooLarge,
                    format!(
                        "the body is larger than the limit of {} bytes: send a smaller body, or raise `server.body_limit_bytes` in the server's configuration",
                        state.config().body_limit_bytes
                    ),
                ));
            }
            Err(rejection) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidRequest,
                    format!("the body could not be read: {}", rejection.body_text()),
                ));
            }
        };
        parse_json(&body).map(ApiJson)
    }
}

/// A query string of type `T`, whose fields should be `Option<String>` so that every
/// value is checked by a parser with a useful message. Rejection: 400
/// `invalid_parameter` naming the parameter (unknown parameters included).
#[derive(Clone, Debug)]
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::try_from_uri(&parts.uri) {
            Ok(Query(query)) => Ok(ApiQuery(query)),
            Err(rejection) => {
                let text = rejection.body_text();
                let message = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .replace("unknown field", "unknown parameter")
                    .replace("duplicate field", "repeated parameter");
                Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    format!("the query string is invalid: {message}"),
                ))
            }
        }
    }
}

/// The `{id}` of a `/runs/{id}…` path. Rejection: 400 `invalid_parameter` when it is
/// not a UUID.
#[derive(Clone, Copy, Debug)]
pub struct RunPath {
    /// The run named by the path.
    pub run_id: RunId,
}

impl<S: Send + Sync> FromRequestParts<S> for RunPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts, state).await?;
        Ok(RunPath {
            run_id: parse_run_id(path_param(&params, "id")?)?,
        })
    }
}

/// The `{id}` and `{task_id}` of a `/runs/{id}/tasks/{task_id}` path. Rejection: 400
/// `invalid_parameter` when either is malformed.
#[derive(Clone, Debug)]
pub struct TaskPath {
    /// The run named by the path.
    pub run_id: RunId,
    /// The task named by the path.
    pub task_id: TaskId,
}

impl<S: Send + Sync> FromRequestParts<S> for TaskPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = path_params(parts, state).await?;
        let run_id = parse_run_id(path_param(&params, "id")?)?;
        let task_id = TaskId::parse(path_param(&params, "task_id")?).map_err(|error| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("the task id in the path is malformed: {error}"),
            )
        })?;
        Ok(TaskPath { run_id, task_id })
    }
}

/// Who is calling. Auth is not built yet, so every caller is anonymous with no tenant
/// and sees every run; when API keys arrive, this extractor checks them and handlers
/// keep passing [`Caller::tenant`] to the engine and the journal unchanged.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    tenant: Option<String>,
}

impl Caller {
    /// The tenant whose runs the caller may see and create (`None`: auth is off).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        _parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Caller { tenant: None })
    }
}

/// Reads the optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
pub(crate) fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let invalid = || {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "the Idempotency-Key header must be 1 to {IDEMPOTENCY_KEY_MAX_LEN} visible ASCII characters, such as a UUID"
            ),
        )
    };
    let key = value.to_str().map_err(|_| invalid())?;
    if key.is_empty()
        || key.len() > IDEMPOTENCY_KEY_MAX_LEN
        || !key
            .bytes()
            .all(|byte| byte.is_ascii_graphic() || byte == b' ')
    {
        return Err(invalid());
    }
    Ok(Some(key.to_owned()))
}

/// Reads the optional `Last-Event-ID` header: the `seq` of the last event the client got.
pub(crate) fn last_event_id(headers: &HeaderMap) -> Result<Option<u64>, ApiError> {
    let Some(value) = headers.get("last-event-id") else {
        return Ok(None);
    };
    let text = value.to_str().unwrap_or("").trim();
    // EventSource sends an empty Last-Event-ID when no event carried an id yet.
    if text.is_empty() {
        return Ok(None);
    }
    parse_event_seq(text, "the Last-Event-ID header").map(Some)
}

/// Parses an event sequence number given by a client (`after` or `Last-Event-ID`).
pub(crate) fn parse_event_seq(text: &str, what: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "{what} must be the `id` of an event (an integer of 0 or more), got `{}`",
                truncate(text, 64)
            ),
        )
    })
}

/// Checks that the request says its body is JSON (`application/json`, or any
/// `application/*+json`, with optional parameters).
fn check_json_content_type(headers: &HeaderMap) -> Result<(), ApiError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok());
    let Some(content_type) = content_type else {
        return Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            "the request has no Content-Type: send the body as JSON with `Content-Type: application/json`",
        ));
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let is_json = essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"));
    if is_json {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::UnsupportedMediaType,
            format!(
                "the body is `{}`: send it as JSON with `Content-Type: application/json`",
                truncate(&essence, 64)
            ),
        ))
    }
}

/// Parses a JSON body, sorting serde's errors into the codes the API promises.
fn parse_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::new(
            ErrorCode::InvalidJson,
            r#"the body is empty: send a JSON object, e.g. {"prompt": "…"}"#,
        ));
    }
    // serde reads a struct from an array too (`["hi"]` would be a prompt), so anything
    // but an object is refused here, after checking that it is JSON at all.
    if body.iter().find(|byte| !byte.is_ascii_whitespace()) != Some(&b'{') {
        serde_json::from_slice::<serde::de::IgnoredAny>(body)
            .map_err(|error| json_error(&error, "."))?;
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            r#"the body must be a JSON object, e.g. {"prompt": "…"}"#,
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        json_error(error.inner(), &path)
    })?;
    deserializer
        .end()
        .map_err(|error| json_error(&error, "."))?;
    Ok(value)
}

/// Turns one serde_json error at `path` into the problem the API promises.
fn json_error(error: &serde_json::Error, path: &str) -> ApiError {
    use serde_json::error::Category;

    let message = message_without_position(error);
    let position = format!("line {}, column {}", error.line(), error.column());
    match error.classify() {
        Category::Syntax | Category::Eof | Category::Io => ApiError::new(
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {message} at {position}"),
        ),
        Category::Data if message.starts_with("unknown field") => {
            let location = match parent_path(path) {
                Some(parent) => format!("in `{parent}`"),
                None => "at the top level".to_owned(),
            };
            ApiError::new(
                ErrorCode::UnknownField,
                format!("{message} ({location}, {position}): remove it or fix its spelling"),
            )
        }
        Category::Data => {
            let field = if path == "." {
                String::new()
            } else {
                format!("`{path}`: ")
            };
            ApiError::new(
                ErrorCode::InvalidRequest,
                format!("{field}{message} ({position})"),
            )
        }
    }
}

/// serde_json's message without its ` at line L column C` suffix (said separately).
fn message_without_position(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    match message.strip_suffix(&suffix) {
        Some(stripped) => stripped.to_owned(),
        None => message,
    }
}

/// The path of the object holding the field at `path` (`options.foo` → `options`),
/// or `None` for a top-level field.
fn parent_path(path: &str) -> Option<&str> {
    match path.rfind('.') {
        Some(dot) if dot > 0 => Some(&path[..dot]),
        _ => None,
    }
}

async fn path_params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<RawPathParams, ApiError> {
    RawPathParams::from_request_parts(parts, state)
        .await
        .map_err(|rejection| {
            ApiError::new(
                ErrorCode::InvalidParameter,
                format!("the path is malformed: {}", rejection.body_text()),
            )
        })
}

fn path_param<'a>(params: &'a RawPathParams, name: &str) -> Result<&'a str, ApiError> {
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Internal,
                format!("the route has no `{name}` path parameter"),
            )
        })
}

fn parse_run_id(text: &str) -> Result<RunId, ApiError> {
    text.parse::<RunId>().map_err(|error| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "the run id in the path is malformed: {error}; run ids are UUIDs such as the `id` returned by POST /runs"
            ),
        )
    })
}

/// At most `max` characters of a client's text, for echoing it in a detail.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut short: String = text.chars().take(max).collect();
        short.push('…');
        short
    }
}

#[cfg(test)]
mod tests;
