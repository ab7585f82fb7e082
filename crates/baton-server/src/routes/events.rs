//! A run's events as Server-Sent Events: the journaled events after the client's
//! cursor, then the live ones, until the run's last event.
//!
//! The journal is the source of truth and the engine's broadcast channel only a fast
//! path: the stream subscribes to the channel *before* it reads the journal, so no
//! event can fall between the two, and skips live events it already sent. When the
//! receiver lags, or an event arrives out of order, it re-reads the journal. When the
//! run is not live in this process (it runs elsewhere, or is being resumed), it polls
//! the journal. Every frame has `id: <seq>`, so a client resumes with `Last-Event-ID`.

use std::convert::Infallible;

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use baton_core::event::Event;
use baton_core::ids::RunId;
use futures_util::{Stream, StreamExt};
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use utoipa::IntoParams;

use crate::error::ApiError;
use crate::extract::{ApiQuery, Caller, RunPath, last_event_id, parse_event_seq};
use crate::openapi::RunProblems;
use crate::routes::runs::load_run;
use crate::state::AppState;

/// The comment sent on an idle stream (`: keepalive`).
const KEEPALIVE_TEXT: &str = "keepalive";

/// The query of `GET /runs/{id}/events`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsQuery {
    /// Send only events with `seq` greater than this (default 0: every event). The
    /// `Last-Event-ID` header, when present, wins over it.
    #[param(value_type = Option<u64>, minimum = 0)]
    after: Option<String>,
}

/// Streams a run's events: every journaled event after the cursor, then live ones,
/// until the run's last event (`stats`), or at once when the run has ended and
/// everything was sent.
///
/// Frames are `event: <type>`, `id: <seq>`, `data: <Event as one line of JSON>`. Resume
/// with `Last-Event-ID: <seq>` (what a browser's `EventSource` sends on reconnection)
/// or `?after=<seq>`; the header wins when both are given. Idle streams carry a
/// `: keepalive` comment. A client that disconnects does not cancel the run.
#[utoipa::path(
    get,
    path = "/runs/{id}/events",
    operation_id = "stream_run_events",
    tag = "events",
    params(
        ("id" = String, Path, format = Uuid, description = "The run's id."),
        EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The `id` (seq) of the last event received: only later events are sent. Wins over `after`."),
    ),
    responses(
        (status = 200, description = "The run's events as `event: <type>`, `id: <seq>`, `data: <Event>` frames; `: keepalive` comments while idle; the stream ends after the run's last event.", content_type = "text/event-stream", body = Event),
        RunProblems,
    )
)]
pub(crate) async fn stream_run_events(
    State(state): State<AppState>,
    caller: Caller,
    path: RunPath,
    ApiQuery(query): ApiQuery<EventsQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let after_query = query
        .after
        .as_deref()
        .map(|text| parse_event_seq(text, "`after`"))
        .transpose()?;
    let after = last_event_id(&headers)?.or(after_query).unwrap_or(0);
    load_run(&state, path.run_id, caller.tenant()).await?;
    Ok(event_stream_response(
        state,
        path.run_id,
        caller.tenant().map(str::to_owned),
        after,
    ))
}

/// The SSE response for a run's events after `after`, with keepalives, ending on the
/// run's last event or on server shutdown.
pub(crate) fn event_stream_response(
    state: AppState,
    run_id: RunId,
    tenant: Option<String>,
    after: u64,
) -> Response {
    let keepalive = KeepAlive::new()
        .interval(state.config().sse_keepalive)
        .text(KEEPALIVE_TEXT);
    let shutdown = state.shutdown_token().clone();
    let stream = run_events(state, run_id, tenant, after).take_until(shutdown.cancelled_owned());
    let mut response = Sse::new(stream).keep_alive(keepalive).into_response();
    // Reverse proxies such as nginx would otherwise buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// The frames of a run's events with `seq > after`, in order, with no gaps or repeats.
fn run_events(
    state: AppState,
    run_id: RunId,
    tenant: Option<String>,
    after: u64,
) -> impl Stream<Item = Result<SseEvent, Infallible>> + Send {
    async_stream::stream! {
        let journal = state.journal().clone();
        let page_size = state.config().event_page_size;
        let period = state.config().journal_poll_interval;
        let mut poll = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // Subscribe first: whatever is published from now on is either in the journal
        // read below or arrives on this receiver.
        let mut live = state.engine().subscribe(run_id);
        let mut last_sent = after;

        'stream: loop {
            // The status is read before the events: when it is terminal, every event
            // was committed before it, so the replay below sees them all.
            let terminal = match journal.get_run(run_id, tenant.as_deref()).await {
                Ok(Some(run)) => run.state.status.is_terminal(),
                Ok(None) => break 'stream,
                Err(error) => {
                    tracing::error!(run.id = %run_id, error = %error, "event stream ended: the journal failed");
                    break 'stream;
                }
            };
            loop {
                let events = match journal.events_after(run_id, last_sent, page_size).await {
                    Ok(events) => events,
                    Err(error) => {
                        tracing::error!(run.id = %run_id, error = %error, "event stream ended: the journal failed");
                        break 'stream;
                    }
                };
                let full_page = events.len() >= page_size as usize;
                for event in events {
                    if event.seq <= last_sent {
                        continue;
                    }
                    last_sent = event.seq;
                    let Some(frame) = frame(&event) else { break 'stream };
                    yield Ok(frame);
                    if event.payload.is_last() {
                        break 'stream;
                    }
                }
                if !full_page {
                    break;
                }
            }
            if terminal {
                break 'stream;
            }

            // Wait for more: live events while they follow on, else the journal.
            let mut channel_closed = false;
            match live.as_mut() {
                Some(receiver) => loop {
                    match receiver.recv().await {
                        Ok(event) if event.seq <= last_sent => {}
                        Ok(event) if event.seq == last_sent + 1 => {
                            last_sent = event.seq;
                            let Some(frame) = frame(&event) else { break 'stream };
                            yield Ok(frame);
                            if event.payload.is_last() {
                                break 'stream;
                            }
                        }
                        // A gap: the missing events are in the journal.
                        Ok(_) | Err(RecvError::Lagged(_)) => break,
                        // The run left this process (it ended, or paused): read the
                        // journal, then poll it.
                        Err(RecvError::Closed) => {
                            channel_closed = true;
                            break;
                        }
                    }
                },
                None => {
                    poll.tick().await;
                }
            }
            if channel_closed {
                live = None;
            }
        }
    }
}

/// One SSE frame: `event: <type>`, `id: <seq>`, `data: <one line of JSON>`.
fn frame(event: &Event) -> Option<SseEvent> {
    match serde_json::to_string(event) {
        Ok(json) => Some(
            SseEvent::default()
                .event(event.name())
                .id(event.seq.to_string())
                .data(json),
        ),
        Err(error) => {
            tracing::error!(run.id = %event.run_id, seq = event.seq, error = %error, "event stream ended: an event could not be serialised");
            None
        }
    }
}
