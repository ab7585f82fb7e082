//! [`FakeVendor`]: a real HTTP server on `127.0.0.1:0` that speaks one vendor's wire
//! format, answers each request with the next scripted [`Response`] (or a
//! well-formed default answer), and records every request it received.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use bytes::Bytes;
use tokio::sync::{Notify, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;

use crate::response::{Content, Response, StreamEnd, StreamOptions};

/// Which vendor's wire format a fake speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Vendor {
    /// OpenAI Chat Completions (`POST {base}/chat/completions`, base ending in `/v1`).
    OpenAi,
    /// Anthropic Messages (`POST /v1/messages`).
    Anthropic,
    /// Gemini (`POST /v1beta/models/{model}:generateContent` or
    /// `:streamGenerateContent?alt=sse`).
    Gemini,
}

/// A request the fake received.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// The HTTP method.
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The headers, names lowercased, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether the request asked for a stream (a `stream: true` body, or Gemini's
    /// `:streamGenerateContent`).
    pub fn wants_stream(&self) -> bool {
        self.path.ends_with(":streamGenerateContent")
            || self.json().and_then(|body| body.get("stream")?.as_bool()) == Some(true)
    }

    /// The model the request named (in the body, or in Gemini's path).
    pub fn model(&self) -> Option<String> {
        if let Some(rest) = self.path.split("/models/").nth(1) {
            return rest.split(':').next().map(str::to_owned);
        }
        self.json()?.get("model")?.as_str().map(str::to_owned)
    }
}

/// Decides a response for a request when the queue is empty.
pub type Responder = Arc<dyn Fn(&RecordedRequest) -> Response + Send + Sync>;

/// A fake vendor server. Dropping it stops the server and ends stalled streams.
pub struct FakeVendor {
    vendor: Vendor,
    addr: SocketAddr,
    state: Arc<FakeState>,
    shutdown: CancellationToken,
}

impl std::fmt::Debug for FakeVendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeVendor")
            .field("vendor", &self.vendor)
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

struct FakeState {
    vendor: Vendor,
    require_auth: bool,
    queue: Mutex<VecDeque<Response>>,
    responder: Mutex<Option<Responder>>,
    requests: Mutex<Vec<RecordedRequest>>,
    /// Woken after every recorded request; waited on by [`FakeVendor::wait_for_requests`].
    arrived: Notify,
    in_flight: AtomicUsize,
    peak: AtomicUsize,
    /// Cancelled when the fake is dropped: stalled streams end then.
    shutdown: CancellationToken,
}

/// Counts a request as in flight until dropped (when its body has been sent).
struct InFlight(Arc<FakeState>);

impl InFlight {
    fn start(state: &Arc<FakeState>) -> Self {
        let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        state.peak.fetch_max(now, Ordering::SeqCst);
        Self(Arc::clone(state))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock has failed already; keep serving.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl FakeVendor {
    /// Starts a fake that requires the vendor's auth header (any non-empty key), as
    /// the real vendor does, and answers 401 without it.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start(vendor: Vendor) -> FakeVendor {
        Self::spawn(vendor, true).await
    }

    /// Starts a fake that needs no key, like a local Ollama or LM Studio.
    ///
    /// # Panics
    /// If no local port can be bound.
    pub async fn start_without_auth(vendor: Vendor) -> FakeVendor {
        Self::spawn(vendor, false).await
    }

    async fn spawn(vendor: Vendor, require_auth: bool) -> FakeVendor {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(err) => panic!("fake vendor cannot bind 127.0.0.1:0: {err}"),
        };
        let addr = match listener.local_addr() {
            Ok(addr) => addr,
            Err(err) => panic!("fake vendor has no local address: {err}"),
        };
        let shutdown = CancellationToken::new();
        let state = Arc::new(FakeState {
            vendor,
            require_auth,
            queue: Mutex::new(VecDeque::new()),
            responder: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            arrived: Notify::new(),
            in_flight: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
            shutdown: shutdown.clone(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&state));
        let stop = shutdown.clone();
        tokio::spawn(async move {
            // Errors end the server; the test then sees connection failures.
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        FakeVendor {
            vendor,
            addr,
            state,
            shutdown,
        }
    }

    /// The vendor this fake speaks.
    pub fn vendor(&self) -> Vendor {
        self.vendor
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The base URL as the vendor's SDK expects it: `…/v1` for OpenAI, the root for
    /// Anthropic and Gemini. Put it in `OPENAI_BASE_URL` (etc.).
    pub fn base_url(&self) -> String {
        match self.vendor {
            Vendor::OpenAi => format!("{}/v1", self.url()),
            Vendor::Anthropic | Vendor::Gemini => self.url(),
        }
    }

    /// Queues a response for the next request that has none.
    pub fn enqueue(&self, response: Response) {
        lock(&self.state.queue).push_back(response);
    }

    /// Decides the responses of requests that find the queue empty (instead of the
    /// default well-formed answer).
    pub fn set_responder(
        &self,
        responder: impl Fn(&RecordedRequest) -> Response + Send + Sync + 'static,
    ) {
        *lock(&self.state.responder) = Some(Arc::new(responder));
    }

    /// Every request received so far, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.requests).clone()
    }

    /// How many requests were received.
    pub fn request_count(&self) -> usize {
        lock(&self.state.requests).len()
    }

    /// The most requests that were in flight at once (from arrival until the body was
    /// fully sent).
    pub fn peak_concurrency(&self) -> usize {
        self.state.peak.load(Ordering::SeqCst)
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.state.in_flight.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` requests have arrived, or `limit` passes; returns
    /// whether they did.
    pub async fn wait_for_requests(&self, n: usize, limit: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.state.arrived.notified();
                if self.request_count() >= n {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(limit, wait).await.is_ok()
    }
}

impl Drop for FakeVendor {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

async fn handle(State(state): State<Arc<FakeState>>, request: Request) -> axum::response::Response {
    let guard = InFlight::start(&state);
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 64 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    lock(&state.requests).push(recorded.clone());
    state.arrived.notify_waiters();

    let scripted = match check(&state, &recorded) {
        Some(refusal) => refusal,
        None => {
            let queued = lock(&state.queue).pop_front();
            match queued {
                Some(response) => response,
                None => {
                    let responder = lock(&state.responder).clone();
                    match responder {
                        Some(responder) => responder(&recorded),
                        None => Response::answer(format!(
                            "Hello from the fake {}.",
                            vendor_name(state.vendor)
                        )),
                    }
                }
            }
        }
    };
    if !scripted.head_delay.is_zero() {
        tokio::select! {
            () = tokio::time::sleep(scripted.head_delay) => {}
            () = state.shutdown.cancelled() => {}
        }
    }
    render(&state, &recorded, scripted, guard)
}

fn vendor_name(vendor: Vendor) -> &'static str {
    match vendor {
        Vendor::OpenAi => "OpenAI",
        Vendor::Anthropic => "Anthropic",
        Vendor::Gemini => "Gemini",
    }
}

/// The vendor's refusal of a request it would refuse: wrong method or path, missing
/// key, a Gemini key in the URL. The key is never echoed.
fn check(state: &FakeState, request: &RecordedRequest) -> Option<Response> {
    let vendor = state.vendor;
    let path_ok = request.method == "POST"
        && match vendor {
            Vendor::OpenAi => request.path.ends_with("/chat/completions"),
            Vendor::Anthropic => request.path.ends_with("/v1/messages"),
            Vendor::Gemini => {
                request.path.contains("/v1beta/models/")
                    && (request.path.ends_with(":generateContent")
                        || (request.path.ends_with(":streamGenerateContent")
                            && request
                                .query
                                .as_deref()
                                .is_some_and(|q| q.contains("alt=sse"))))
            }
        };
    if !path_ok {
        return Some(vendor_error(
            vendor,
            404,
            "not_found_error",
            "NOT_FOUND",
            "no such route on this fake",
        ));
    }
    if vendor == Vendor::Gemini && request.query.as_deref().is_some_and(|q| q.contains("key=")) {
        return Some(vendor_error(
            vendor,
            400,
            "invalid_request_error",
            "INVALID_ARGUMENT",
            "the API key must travel in x-goog-api-key, not in the URL",
        ));
    }
    if !state.require_auth {
        return None;
    }
    let present = |name: &str| request.header(name).is_some_and(|v| !v.trim().is_empty());
    let authorised = match vendor {
        Vendor::OpenAi => request
            .header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .is_some_and(|key| !key.trim().is_empty()),
        Vendor::Anthropic => present("x-api-key") && present("anthropic-version"),
        Vendor::Gemini => present("x-goog-api-key"),
    };
    (!authorised).then(|| {
        vendor_error(
            vendor,
            401,
            "authentication_error",
            "UNAUTHENTICATED",
            "missing or malformed API key",
        )
    })
}

fn vendor_error(
    vendor: Vendor,
    status: u16,
    error_type: &str,
    google_status: &str,
    message: &str,
) -> Response {
    let body = match vendor {
        Vendor::OpenAi => {
            serde_json::json!({"error": {"message": message, "type": error_type, "param": null, "code": null}})
        }
        Vendor::Anthropic => {
            serde_json::json!({"type": "error", "error": {"type": error_type, "message": message}})
        }
        Vendor::Gemini => {
            serde_json::json!({"error": {"code": status, "message": message, "status": google_status}})
        }
    };
    Response::json(status, body)
}

fn render(
    state: &Arc<FakeState>,
    request: &RecordedRequest,
    scripted: Response,
    guard: InFlight,
) -> axum::response::Response {
    let Response {
        status,
        headers,
        content,
        stream,
        ..
    } = scripted;
    let (content_type, body) = match content {
        Content::Bytes {
            content_type,
            bytes,
        } => {
            drop(guard);
            (content_type, Body::from(bytes))
        }
        Content::Events(events) => (
            "text/event-stream".to_owned(),
            sse_body(state, events, stream, guard),
        ),
        Content::Answer(answer) if request.wants_stream() => {
            let events = crate::render::stream_events(state.vendor, request, &answer);
            (
                "text/event-stream".to_owned(),
                sse_body(state, events, stream, guard),
            )
        }
        Content::Answer(answer) => {
            drop(guard);
            let body = crate::render::whole_answer(state.vendor, request, &answer);
            ("application/json".to_owned(), Body::from(body.to_string()))
        }
    };
    let mut response = axum::response::Response::new(body);
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let response_headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response_headers.insert(axum::http::header::CONTENT_TYPE, value);
    }
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::from_str(&value)) {
            response_headers.append(name, value);
        }
    }
    response
}

/// A streamed body that sends `events` with the framing, pacing and ending of
/// `options`. A task feeds a one-slot channel, so pacing is what the client sees.
fn sse_body(
    state: &Arc<FakeState>,
    events: Vec<String>,
    options: StreamOptions,
    guard: InFlight,
) -> Body {
    // The body task sends frames; the response body receives them; the channel
    // closing ends the body cleanly, an `Err` item aborts the connection.
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let shutdown = state.shutdown.clone();
    let events = options.select(events);
    tokio::spawn(async move {
        let _guard = guard;
        let limit = match options.end {
            StreamEnd::Complete => events.len(),
            StreamEnd::CloseAfter(n) | StreamEnd::ResetAfter(n) | StreamEnd::StallAfter(n) => {
                n.min(events.len())
            }
        };
        for (index, event) in events.iter().take(limit).enumerate() {
            let pause = if index == 0 {
                options.first_event_delay
            } else {
                options.event_interval
            };
            if !pause.is_zero() {
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = shutdown.cancelled() => return,
                }
            }
            for piece in options.pieces(options.frame(event)) {
                if sender.send(Ok(Bytes::from(piece))).await.is_err() {
                    return;
                }
                // Let the server write each piece on its own, so pieces reach the
                // client as separate reads where the network allows.
                tokio::task::yield_now().await;
            }
        }
        match options.end {
            StreamEnd::Complete | StreamEnd::CloseAfter(_) => {}
            StreamEnd::ResetAfter(_) => {
                let _ = sender
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "scripted reset",
                    )))
                    .await;
            }
            StreamEnd::StallAfter(_) => {
                tokio::select! {
                    () = shutdown.cancelled() => {}
                    () = sender.closed() => {}
                }
                let _ = sender
                    .send(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        "fake stopped",
                    )))
                    .await;
            }
        }
    });
    Body::from_stream(ReceiverStream::new(receiver))
}

#[cfg(test)]
mod tests;
