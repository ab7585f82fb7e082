//! Baton's HTTP surface: the axum app with its routes, RFC 9457 problem errors,
//! Server-Sent Events, the OpenAPI 3.1 document and the offline docs page.
//!
//! Invariant: this is the only crate that knows HTTP. Handlers translate; decisions
//! (validation, idempotency, running) belong to the engine, and every run is read back
//! from the journal, which is the source of truth.
//!
//! Modules in reading order: the configuration and the shared state; the one error
//! type; the extractors that turn bad input into that error; the wire types; the
//! routes; the OpenAPI document.

pub mod config;
mod cursor;
pub mod error;
pub mod extract;
pub mod openapi;
mod routes;
pub mod state;
pub mod wire;

pub use crate::config::ServerConfig;
pub use crate::error::ApiError;
pub use crate::openapi::openapi;
pub use crate::state::AppState;

use std::future::Future;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Request};
use axum::middleware;
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::error::{log_server_errors, panic_response};
use crate::routes::{docs, events, health, runs, system};

/// The app: every route, the fallbacks, and the middleware (request ids, tracing,
/// error logging, panic catching, the body limit).
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit_bytes;
    Router::new()
        .route("/run", post(runs::execute_run))
        .route("/stream/run", post(runs::stream_run))
        .route("/runs", post(runs::create_run).get(runs::list_runs))
        .route("/runs/{id}", get(runs::get_run))
        .route("/runs/{id}/tasks", get(runs::list_run_tasks))
        .route("/runs/{id}/tasks/{task_id}", get(runs::get_run_task))
        .route("/runs/{id}/events", get(events::stream_run_events))
        .route("/runs/{id}/cancel", post(runs::cancel_run))
        .route("/models", get(system::list_models))
        .route("/stats", get(system::get_stats))
        .route("/healthz", get(health::get_health))
        .route("/readyz", get(health::get_readiness))
        .route("/openapi.json", get(docs::get_openapi))
        .route("/docs", get(docs::redirect_to_docs))
        .route("/docs/", get(docs::get_docs_index))
        .route("/docs/{*file}", get(docs::get_docs_file))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::x_request_id(MakeTimeOrderedRequestId))
                .layer(
                    TraceLayer::new_for_http()
                        .make_span_with(|request: &Request<axum::body::Body>| {
                            let request_id = request
                                .headers()
                                .get("x-request-id")
                                .and_then(|value| value.to_str().ok())
                                .unwrap_or("");
                            tracing::info_span!(
                                "request",
                                method = %request.method(),
                                path = %request.uri().path(),
                                request_id,
                            )
                        })
                        .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                        // Error responses are logged once, by `log_server_errors`.
                        .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
                )
                .layer(PropagateRequestIdLayer::x_request_id())
                .layer(middleware::from_fn(log_server_errors))
                .layer(CatchPanicLayer::custom(panic_response)),
        )
        .with_state(state)
}

/// Serves the app on `listener` until `shutdown` completes, then stops accepting
/// connections, ends every open event stream and waiting `POST /run`, and returns
/// once the open requests are answered.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state.clone());
    // Events are small writes: without TCP_NODELAY, Nagle's algorithm holds the
    // second of two small writes until the client's delayed ACK, about 40 ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::debug!(error = %err, "could not set TCP_NODELAY on a connection");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections; open event streams end now");
            state.begin_shutdown();
        })
        .await
}

/// Request ids are UUIDv7, like run ids, so they sort by time in logs.
#[derive(Clone, Copy, Debug)]
struct MakeTimeOrderedRequestId;

impl MakeRequestId for MakeTimeOrderedRequestId {
    fn make_request_id<B>(&mut self, _request: &Request<B>) -> Option<RequestId> {
        HeaderValue::from_str(&uuid::Uuid::now_v7().to_string())
            .ok()
            .map(RequestId::new)
    }
}
