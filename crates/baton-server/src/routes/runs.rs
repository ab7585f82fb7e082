//! Runs: start one (and wait, stream, or return at once), list them, read one with its
//! tasks and attempts, cancel one.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use baton_core::error::ErrorCode;
use baton_core::ids::RunId;
use baton_core::journal::{RunQuery, RunRecord, StoredRun};
use baton_core::request::RunRequest;
use baton_core::status::RunStatus;
use baton_executor::engine::{Started, Submission};
use serde::Deserialize;
use utoipa::IntoParams;

use crate::cursor::{decode_cursor, encode_cursor};
use crate::error::ApiError;
use crate::extract::{
    ApiJson, ApiQuery, Caller, RunPath, TaskPath, idempotency_key, last_event_id, truncate,
};
use crate::openapi::{ListProblems, RunProblems, SubmitProblems};
use crate::routes::events::event_stream_response;
use crate::state::AppState;
use crate::wire::{
    ListRunsResponse, ListTasksResponse, RunResponse, RunSummaryResponse, TaskResponse,
};

/// The header set to `true` when an `Idempotency-Key` named an existing run, so the
/// response describes that run and nothing new was started.
pub(crate) const IDEMPOTENT_REPLAYED: &str = "idempotent-replayed";

/// The query of `GET /runs`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListRunsQuery {
    /// Only runs in this status: `queued`, `running`, `awaiting_input`, `succeeded`,
    /// `partial`, `failed` or `cancelled`.
    #[param(value_type = Option<RunStatus>)]
    status: Option<String>,
    /// The most runs to return, from 1 to the server's `max_page_size` (default 20,
    /// at most 100 unless configured otherwise).
    #[param(value_type = Option<u32>, minimum = 1)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page; leave it out for the first page.
    cursor: Option<String>,
}

/// Runs a request to completion and returns the finished run.
///
/// The request waits until the run ends (or pauses for answers, with `clarify: auto`).
/// A client that disconnects does not cancel the run: `GET /runs/{id}` finds it.
#[utoipa::path(
    post,
    path = "/run",
    operation_id = "execute_run",
    tag = "runs",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried submission return the same run instead of starting a second one: 1 to 255 visible ASCII characters, such as a UUID."),
    ),
    request_body(content = RunRequest, content_type = "application/json", description = "A prompt (or a workflow) and options."),
    responses(
        (status = 200, description = "The finished run (or a run waiting for answers). `Idempotent-Replayed: true` when the key named an existing run.", body = RunResponse),
        SubmitProblems,
    )
)]
pub(crate) async fn execute_run(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RunRequest>,
) -> Result<Response, ApiError> {
    let started = submit(&state, &caller, &headers, request, Endpoint::Run).await?;
    let body = wait_until_settled(&state, started.run_id(), caller.tenant()).await?;
    Ok(with_replay_header(
        (StatusCode::OK, Json(body)).into_response(),
        started,
    ))
}

/// Starts a run and streams its events as Server-Sent Events until its last event.
///
/// Frames are `event: <type>`, `id: <seq>` and `data: <Event as one line of JSON>`;
/// the stream ends after the `stats` event. Model tokens are streamed as `task_delta`
/// events unless `options.stream` is false. A client that disconnects does not
/// cancel the run: `GET /runs/{id}/events` picks it up again.
#[utoipa::path(
    post,
    path = "/stream/run",
    operation_id = "stream_run",
    tag = "runs",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried submission stream the same run instead of starting a second one."),
        ("Last-Event-ID" = Option<String>, Header, description = "With an Idempotency-Key that names an existing run: stream only the events after this `seq`."),
    ),
    request_body(content = RunRequest, content_type = "application/json", description = "A prompt (or a workflow) and options."),
    responses(
        (status = 200, description = "The run's events, from `run_created` to `stats`, each as `event: <type>`, `id: <seq>`, `data: <Event>`; `: keepalive` comments while idle.", content_type = "text/event-stream", body = baton_core::event::Event),
        SubmitProblems,
    )
)]
pub(crate) async fn stream_run(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RunRequest>,
) -> Result<Response, ApiError> {
    let after = last_event_id(&headers)?.unwrap_or(0);
    let started = submit(&state, &caller, &headers, request, Endpoint::Stream).await?;
    let response = event_stream_response(
        state,
        started.run_id(),
        caller.tenant().map(str::to_owned),
        after,
    );
    Ok(with_replay_header(response, started))
}

/// Starts a run in the background and returns it at once.
#[utoipa::path(
    post,
    path = "/runs",
    operation_id = "create_run",
    tag = "runs",
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried submission return the same run instead of starting a second one: 1 to 255 visible ASCII characters, such as a UUID."),
    ),
    request_body(content = RunRequest, content_type = "application/json", description = "A prompt (or a workflow) and options."),
    responses(
        (status = 202, description = "The run as stored; follow it at `Location`. `Idempotent-Replayed: true` when the key named an existing run.", body = RunResponse,
            headers(("Location" = String, description = "`/runs/{id}`"))),
        SubmitProblems,
    )
)]
pub(crate) async fn create_run(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    ApiJson(request): ApiJson<RunRequest>,
) -> Result<Response, ApiError> {
    let started = submit(&state, &caller, &headers, request, Endpoint::Background).await?;
    let body = load_run_response(&state, started.run_id(), caller.tenant()).await?;
    let mut response = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/runs/{}", started.run_id())) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(with_replay_header(response, started))
}

/// Lists runs, newest first, a page at a time.
#[utoipa::path(
    get,
    path = "/runs",
    operation_id = "list_runs",
    tag = "runs",
    params(ListRunsQuery),
    responses(
        (status = 200, description = "A page of runs, newest first, and the cursor of the next page.", body = ListRunsResponse),
        ListProblems,
    )
)]
pub(crate) async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(query): ApiQuery<ListRunsQuery>,
) -> Result<Json<ListRunsResponse>, ApiError> {
    let status = query.status.as_deref().map(parse_status).transpose()?;
    let limit = match query.limit.as_deref() {
        Some(limit) => parse_limit(limit, state.config().max_page_size)?,
        None => state.config().default_page_size,
    };
    let before = query.cursor.as_deref().map(decode_cursor).transpose()?;
    // One more than asked tells whether there is a next page.
    let mut runs = state
        .journal()
        .list_runs(&RunQuery {
            tenant: caller.tenant().map(str::to_owned),
            status,
            before,
            limit: limit.saturating_add(1),
        })
        .await?;
    let has_more = runs.len() > limit as usize;
    runs.truncate(limit as usize);
    let next_cursor = match runs.last() {
        Some(last) if has_more => Some(encode_cursor(last.id)),
        _ => None,
    };
    Ok(Json(ListRunsResponse {
        runs: runs
            .into_iter()
            .map(RunSummaryResponse::from_record)
            .collect(),
        next_cursor,
    }))
}

/// Returns a run: status, request, plan, tasks with their attempts, output, usage,
/// cost, timings and error.
#[utoipa::path(
    get,
    path = "/runs/{id}",
    operation_id = "get_run",
    tag = "runs",
    params(("id" = String, Path, format = Uuid, description = "The run's id.")),
    responses(
        (status = 200, description = "The run.", body = RunResponse),
        RunProblems,
    )
)]
pub(crate) async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
) -> Result<Json<RunResponse>, ApiError> {
    Ok(Json(
        load_run_response(&state, path.run_id, caller.tenant()).await?,
    ))
}

/// Lists a run's tasks in plan order, each with every attempt made for it.
#[utoipa::path(
    get,
    path = "/runs/{id}/tasks",
    operation_id = "list_run_tasks",
    tag = "runs",
    params(("id" = String, Path, format = Uuid, description = "The run's id.")),
    responses(
        (status = 200, description = "The run's tasks (empty before planning).", body = ListTasksResponse),
        RunProblems,
    )
)]
pub(crate) async fn list_run_tasks(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
) -> Result<Json<ListTasksResponse>, ApiError> {
    let response = load_run_response(&state, path.run_id, caller.tenant()).await?;
    Ok(Json(ListTasksResponse {
        tasks: response.tasks,
    }))
}

/// Returns one task of a run with every attempt: provider, model, tokens, cost,
/// latency, outcome and error.
#[utoipa::path(
    get,
    path = "/runs/{id}/tasks/{task_id}",
    operation_id = "get_run_task",
    tag = "runs",
    params(
        ("id" = String, Path, format = Uuid, description = "The run's id."),
        ("task_id" = String, Path, description = "The task's id within the run."),
    ),
    responses(
        (status = 200, description = "The task with its attempts.", body = TaskResponse),
        RunProblems,
    )
)]
pub(crate) async fn get_run_task(
    State(state): State<AppState>,
    caller: Caller,
    path: TaskPath,
) -> Result<Json<TaskResponse>, ApiError> {
    load_run(&state, path.run_id, caller.tenant()).await?;
    let journal = state.journal();
    let tasks = journal.list_tasks(path.run_id).await?;
    let known: Vec<&str> = tasks.iter().map(|task| task.task_id.as_str()).collect();
    let Some(task) = tasks.iter().find(|task| task.task_id == path.task_id) else {
        let detail = if known.is_empty() {
            format!(
                "run {} has no tasks yet (it is not planned): list them at /runs/{}/tasks",
                path.run_id, path.run_id
            )
        } else {
            format!(
                "run {} has no task `{}`; its tasks are: {}",
                path.run_id,
                path.task_id,
                truncate(&known.join(", "), 500)
            )
        };
        return Err(ApiError::new(ErrorCode::TaskNotFound, detail));
    };
    let attempts = journal
        .list_attempts(path.run_id, Some(&path.task_id))
        .await?;
    Ok(Json(TaskResponse::from_records(task.clone(), attempts)))
}

/// Cancels a run. Idempotent: cancelling a run that already ended changes nothing.
#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    operation_id = "cancel_run",
    tag = "runs",
    params(("id" = String, Path, format = Uuid, description = "The run's id.")),
    responses(
        (status = 202, description = "Cancellation is requested (the run's calls stop promptly); the run as it is now.", body = RunResponse),
        RunProblems,
    )
)]
pub(crate) async fn cancel_run(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
) -> Result<(StatusCode, Json<RunResponse>), ApiError> {
    state.engine().cancel(path.run_id, caller.tenant()).await?;
    let response = load_run_response(&state, path.run_id, caller.tenant()).await?;
    Ok((StatusCode::ACCEPTED, Json(response)))
}

/// The endpoint a run is submitted through, which decides how the engine runs it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    /// `POST /run`: answered with the finished run, which the engine keeps as its
    /// commits leave it so it need not be read back.
    Run,
    /// `POST /stream/run`: model tokens are streamed unless the request says not to.
    Stream,
    /// `POST /runs`: answered at once.
    Background,
}

/// Hands a request to the engine, which validates it, stores the run and starts it.
async fn submit(
    state: &AppState,
    caller: &Caller,
    headers: &HeaderMap,
    request: RunRequest,
    endpoint: Endpoint,
) -> Result<Started, ApiError> {
    let idempotency_key = idempotency_key(headers)?;
    let started = state
        .engine()
        .submit(Submission {
            request,
            tenant: caller.tenant().map(str::to_owned),
            idempotency_key,
            stream_by_default: endpoint == Endpoint::Stream,
            keep_committed: endpoint == Endpoint::Run,
        })
        .await?;
    Ok(started)
}

/// Waits until a run ends or pauses for answers, and gives its response. The
/// engine's `wait` covers runs of this process, and gives a run it kept as its
/// commits left it (what the journal holds) without a read; the journal is read
/// otherwise, and polled for runs another process holds.
async fn wait_until_settled(
    state: &AppState,
    run_id: RunId,
    tenant: Option<&str>,
) -> Result<RunResponse, ApiError> {
    let shutting_down = || {
        ApiError::new(
            ErrorCode::Unavailable,
            format!("the server is shutting down before run {run_id} ended"),
        )
    };
    let shutdown = state.shutdown_token();
    let committed = tokio::select! {
        committed = state.engine().wait(run_id) => committed,
        () = shutdown.cancelled() => return Err(shutting_down()),
    };
    if let Some(committed) = committed
        && settled(committed.run.state.status)
        && tenant.is_none_or(|tenant| committed.run.tenant.as_deref() == Some(tenant))
    {
        return Ok(RunResponse::from_stored(committed));
    }
    let period = state.config().journal_poll_interval;
    let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    loop {
        let stored = load_stored_run(state, run_id, tenant).await?;
        if settled(stored.run.state.status) {
            return Ok(RunResponse::from_stored(stored));
        }
        tokio::select! {
            _ = poll.tick() => {}
            () = shutdown.cancelled() => return Err(shutting_down()),
        }
    }
}

/// Whether `POST /run` answers a run in this status: it ended, or waits for answers.
fn settled(status: RunStatus) -> bool {
    status.is_terminal() || status == RunStatus::AwaitingInput
}

/// A run by id, or 404 `run_not_found`.
pub(crate) async fn load_run(
    state: &AppState,
    run_id: RunId,
    tenant: Option<&str>,
) -> Result<RunRecord, ApiError> {
    match state.journal().get_run(run_id, tenant).await? {
        Some(run) => Ok(run),
        None => Err(run_not_found(run_id)),
    }
}

fn run_not_found(run_id: RunId) -> ApiError {
    ApiError::new(
        ErrorCode::RunNotFound,
        format!("no run with id {run_id}: check the id, or list runs with GET /runs"),
    )
}

/// A stored run with its tasks and attempts, or `run_not_found`.
async fn load_stored_run(
    state: &AppState,
    run_id: RunId,
    tenant: Option<&str>,
) -> Result<StoredRun, ApiError> {
    match state.journal().get_run_with_rows(run_id, tenant).await? {
        Some(stored) => Ok(stored),
        None => Err(run_not_found(run_id)),
    }
}

/// The full response for a stored run, or `run_not_found`.
async fn load_run_response(
    state: &AppState,
    run_id: RunId,
    tenant: Option<&str>,
) -> Result<RunResponse, ApiError> {
    Ok(RunResponse::from_stored(
        load_stored_run(state, run_id, tenant).await?,
    ))
}

fn with_replay_header(mut response: Response, started: Started) -> Response {
    if let Started::Existing(_) = started {
        response
            .headers_mut()
            .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    }
    response
}

fn parse_status(text: &str) -> Result<RunStatus, ApiError> {
    text.parse::<RunStatus>().map_err(|_| {
        let allowed: Vec<&str> = RunStatus::ALL
            .iter()
            .map(|status| status.as_str())
            .collect();
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "`status` must be one of {}, got `{}`",
                allowed.join(", "),
                truncate(text, 64)
            ),
        )
    })
}

fn parse_limit(text: &str, max: u32) -> Result<u32, ApiError> {
    match text.parse::<u32>() {
        Ok(limit) if (1..=max).contains(&limit) => Ok(limit),
        _ => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!(
                "`limit` must be an integer from 1 to {max}, got `{}`",
                truncate(text, 64)
            ),
        )),
    }
}
