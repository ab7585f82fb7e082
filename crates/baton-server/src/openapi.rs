//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` attributes
//! and the wire types, and the sets of problem responses the handlers share.

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{Ref, RefOr};
use utoipa::{IntoResponses, OpenApi};

use crate::error::{PROBLEM_CONTENT_TYPE, Problem};
use crate::routes::{docs, events, health, runs, system};

#[derive(OpenApi)]
#[openapi(
    paths(
        runs::execute_run,
        runs::stream_run,
        runs::create_run,
        runs::list_runs,
        runs::get_run,
        runs::list_run_tasks,
        runs::get_run_task,
        events::stream_run_events,
        runs::cancel_run,
        system::list_models,
        system::get_stats,
        health::get_health,
        health::get_readiness,
        docs::get_openapi,
    ),
    components(schemas(Problem, baton_core::error::ErrorCode, baton_core::event::Event)),
    tags(
        (name = "runs", description = "Start runs, read them, cancel them."),
        (name = "events", description = "A run's events as Server-Sent Events."),
        (name = "system", description = "The model registry, the server's figures, liveness, readiness and this document."),
    )
)]
struct ApiDoc;

/// The API's OpenAPI 3.1 document, as served at `GET /openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document.info.title = "Baton".to_owned();
    document.info.version = env!("CARGO_PKG_VERSION").to_owned();
    document.info.description = Some(
        "An LLM orchestration server: it plans a task into a graph of steps, runs them on \
         language models, checks and repairs the results, assembles one answer and journals \
         everything. Errors are RFC 9457 problem details (`application/problem+json`) with a \
         stable `code`; see docs/API.md."
            .to_owned(),
    );
    document.info.contact = None;
    document
}

/// Problems of the three `POST`s that create a run.
pub(crate) struct SubmitProblems;

impl IntoResponses for SubmitProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "400",
                "`invalid_json`: the body is not JSON; `invalid_parameter`: a bad Idempotency-Key or Last-Event-ID",
            ),
            (
                "413",
                "`body_too_large`: the body is over the server's limit",
            ),
            (
                "415",
                "`unsupported_media_type`: the body is not sent as application/json",
            ),
            (
                "422",
                "`invalid_request`, `unknown_field`, `prompt_empty`, `prompt_too_long`, `invalid_option`, `invalid_workflow` or `idempotency_conflict`: the detail says what to fix",
            ),
            ("500", "`internal`: a bug; the cause is in the server log"),
            (
                "503",
                "`storage_unavailable` or `unavailable`: the database failed, or the server is shutting down",
            ),
        ])
    }
}

/// Problems of the endpoints that read one run.
pub(crate) struct RunProblems;

impl IntoResponses for RunProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "400",
                "`invalid_parameter`: a malformed run or task id, or a bad query parameter",
            ),
            ("404", "`run_not_found` or `task_not_found`"),
            ("500", "`internal`: a bug; the cause is in the server log"),
            ("503", "`storage_unavailable`: the database failed"),
        ])
    }
}

/// Problems of `GET /runs`.
pub(crate) struct ListProblems;

impl IntoResponses for ListProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            (
                "400",
                "`invalid_parameter` (a bad `status` or `limit`, or an unknown parameter) or `invalid_cursor`",
            ),
            ("500", "`internal`: a bug; the cause is in the server log"),
            ("503", "`storage_unavailable`: the database failed"),
        ])
    }
}

/// Problems of the endpoints that only read the journal's sums (`GET /stats`).
pub(crate) struct ReadProblems;

impl IntoResponses for ReadProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[
            ("500", "`internal`: a bug; the cause is in the server log"),
            ("503", "`storage_unavailable`: the database failed"),
        ])
    }
}

/// Problems of `GET /readyz`.
pub(crate) struct ReadinessProblems;

impl IntoResponses for ReadinessProblems {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        problem_responses(&[(
            "503",
            "`unavailable` or `storage_unavailable`: the database is unreachable, migrations are not applied, or the server is shutting down",
        )])
    }
}

fn problem_responses(responses: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    responses
        .iter()
        .map(|&(status, description)| {
            let content = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build();
            let response = ResponseBuilder::new()
                .description(description)
                .content(PROBLEM_CONTENT_TYPE, content)
                .build();
            (status.to_owned(), RefOr::T(response))
        })
        .collect()
}
