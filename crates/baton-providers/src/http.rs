//! The one HTTP driver every vendor adapter uses. It owns, once for all vendors:
//!
//! - the `reqwest` client: rustls, **no redirects** (a redirect would carry the key to
//!   another host; a 3xx is an error of kind [`ErrorKind::Redirect`] and its target
//!   receives nothing), **no retries** of its own (`reqwest`'s default retry of
//!   protocol NACKs is switched off: each `HttpDriver` call sends exactly one
//!   request, and retries are the executor's policy);
//! - the four [`Timeouts`]: connect, first token (or response head), idle gap between
//!   stream events, and total;
//! - error classification and `Retry-After` extraction (`classify`);
//! - SSE framing (`sse`) and the rule that a stream which ends before its terminal
//!   event is [`ErrorKind::StreamCut`], transient, with partial usage — never a success;
//! - redaction: the configured key never appears in an error, even when the vendor
//!   echoes it.
//!
//! Adapters give the driver a URL, headers and a body, plus (for streams) a pure
//! function from one SSE event to normalised `StreamEvent`s.

mod classify;
mod sse;

use std::fmt;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use tokio::time::{Instant, timeout_at};
use url::Url;

use crate::accumulate::{Step, StreamAccumulator, StreamEvent};
use crate::config::ConfigError;
use crate::provider::{Completion, DeltaSender, ErrorKind, ProviderError, TimeoutKind};

pub(crate) use classify::{VendorError, classify_stream_error};
pub(crate) use sse::SseEvent;

/// The four time limits of one call.
///
/// - `connect`: opening the TCP (and TLS) connection.
/// - `first_token`: from sending the request to the first sign of an answer. For a
///   stream that is the first event that is not a keep-alive; for a plain call, the
///   response head (which vendors send only when the answer is ready, so this bounds
///   the model's thinking time as well).
/// - `idle`: the longest gap between two stream events once the stream has begun.
///   Comment lines (`: keep-alive`) and vendor pings do not count as progress, so a
///   stream that only keeps itself alive still times out.
/// - `total`: the whole call, body included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// Opening the connection.
    pub connect: Duration,
    /// Until the first stream event, or the response head of a plain call.
    pub first_token: Duration,
    /// The longest gap between two stream events.
    pub idle: Duration,
    /// The whole call.
    pub total: Duration,
}

impl Default for Timeouts {
    /// 10 s to connect; 120 s to the first token (reasoning models think before they
    /// speak); 60 s of silence mid-stream; 10 minutes in all, as the vendors' own
    /// SDKs allow.
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(10),
            first_token: Duration::from_secs(120),
            idle: Duration::from_secs(60),
            total: Duration::from_secs(600),
        }
    }
}

/// The shared HTTP driver: a client built once (connection pooling) plus the
/// timeouts and the secrets to redact.
#[derive(Clone)]
pub(crate) struct HttpDriver {
    client: reqwest::Client,
    timeouts: Timeouts,
    secrets: Vec<SecretString>,
}

impl fmt::Debug for HttpDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpDriver")
            .field("timeouts", &self.timeouts)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.secrets.len()),
            )
            .finish_non_exhaustive()
    }
}

/// One request for the driver to send: always a `POST` of a JSON body.
pub(crate) struct HttpCall {
    /// Where to send it.
    pub(crate) url: Url,
    /// Headers, including the vendor's auth header (marked sensitive).
    pub(crate) headers: HeaderMap,
    /// The JSON body.
    pub(crate) body: Vec<u8>,
}

/// Turns one SSE event of a vendor's stream into normalised events, or the vendor's
/// error.
pub(crate) type EventDecoder = fn(&SseEvent) -> Result<Vec<StreamEvent>, ProviderError>;

/// Decodes a plain (whole) answer body; given by each adapter.
pub(crate) type PlainDecoder<'a> = &'a (dyn Fn(&[u8]) -> Result<Completion, ProviderError> + Sync);

/// Most bytes of an error body read; error bodies are small, and a misbehaving server
/// must not make Baton buffer without bound.
const MAX_ERROR_BODY: usize = 64 * 1024;

impl HttpDriver {
    /// Builds the client. `secrets` are the values to redact from every error (the
    /// provider's API key).
    #[expect(
        clippy::disallowed_methods,
        reason = "the one place that builds a reqwest client: no redirects, no retries, timeouts"
    )]
    pub(crate) fn new(timeouts: Timeouts, secrets: Vec<SecretString>) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .connect_timeout(timeouts.connect)
            .user_agent(concat!("baton/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ConfigError::HttpClient)?;
        let secrets = secrets
            .into_iter()
            .filter(|s| !s.expose_secret().is_empty())
            .collect();
        Ok(Self {
            client,
            timeouts,
            secrets,
        })
    }

    /// Sends one plain (non-streaming) call and decodes the body of its 2xx answer
    /// with the adapter's `decode` (whose errors are redacted like the driver's own).
    pub(crate) async fn send(
        &self,
        call: HttpCall,
        decode: PlainDecoder<'_>,
    ) -> Result<Completion, ProviderError> {
        let deadlines = Deadlines::start(self.timeouts);
        let result = async {
            let response = self.head(call, &deadlines).await?;
            let limits = classify::vendor_limits(response.headers(), SystemTime::now());
            let body = read_body(response, &deadlines, self.timeouts).await?;
            decode(&body).map(|completion| Completion {
                limits,
                ..completion
            })
        }
        .await;
        result.map_err(|err| self.redact(err))
    }

    /// Sends one streaming call and reads its SSE answer to the end, forwarding text
    /// to `deltas` as it arrives.
    pub(crate) async fn stream(
        &self,
        call: HttpCall,
        decode: EventDecoder,
        accumulator: StreamAccumulator,
        deltas: Option<&DeltaSender>,
        decode_plain: PlainDecoder<'_>,
    ) -> Result<Completion, ProviderError> {
        let deadlines = Deadlines::start(self.timeouts);
        let result = async {
            let response = self.head(call, &deadlines).await?;
            let limits = classify::vendor_limits(response.headers(), SystemTime::now());
            let with_limits = |completion: Completion| Completion {
                limits,
                ..completion
            };
            if is_json(response.headers()) {
                // An error sent as JSON with a 200, or a server that ignored
                // `stream: true` and answered whole.
                let body = read_body(response, &deadlines, self.timeouts).await?;
                return plain_answer_to_stream(&body, decode_plain, deltas).map(with_limits);
            }
            let body = response.bytes_stream().map(|chunk| {
                chunk.map_err(|err| {
                    ProviderError::transient(
                        ErrorKind::StreamCut,
                        format!("the stream broke off: {}", error_chain(&err)),
                    )
                })
            });
            read_stream(body, decode, accumulator, deltas, self.timeouts, &deadlines)
                .await
                .map(with_limits)
        }
        .await;
        result.map_err(|err| self.redact(err))
    }

    /// Sends the request and waits for a successful response head.
    async fn head(
        &self,
        call: HttpCall,
        deadlines: &Deadlines,
    ) -> Result<reqwest::Response, ProviderError> {
        let request = self
            .client
            .post(call.url)
            .headers(call.headers)
            .body(call.body);
        let head_deadline = deadlines.first_token.min(deadlines.total);
        let response = match timeout_at(head_deadline, request.send()).await {
            Err(_) => return Err(deadlines.expired(head_deadline, false, self.timeouts)),
            Ok(Err(err)) => return Err(transport_error(&err)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let headers = response.headers().clone();
        let body = read_capped(response, deadlines.total).await;
        Err(classify::classify_status(
            status.as_u16(),
            &headers,
            &body,
            SystemTime::now(),
        ))
    }

    /// Removes every configured secret from an error's message. Vendors echo keys
    /// ("Incorrect API key provided: sk-…"), sometimes partly masked, so words that
    /// look like keys are removed as well.
    pub(crate) fn redact(&self, mut err: ProviderError) -> ProviderError {
        err.message = redact(&err.message, &self.secrets);
        err
    }
}

/// A header value holding a secret, marked sensitive so it is never printed.
pub(crate) fn secret_header(value: &str) -> Result<HeaderValue, ProviderError> {
    let mut value = HeaderValue::from_str(value).map_err(|_| {
        ProviderError::permanent(
            ErrorKind::Auth,
            "the API key has characters that cannot be sent in an HTTP header",
        )
    })?;
    value.set_sensitive(true);
    Ok(value)
}

/// An error for a body that is not the vendor's format. Transient: such a body is
/// most often a proxy's page or a truncated answer, and the retry policy bounds the
/// cost of trying again.
pub(crate) fn malformed(err: serde_json::Error) -> ProviderError {
    ProviderError::transient(
        ErrorKind::Malformed,
        format!("the response could not be decoded: {err}"),
    )
}

/// The error a vendor reported in the `error` member of a 200 body or stream event
/// (`{"error": {…}}` from OpenAI-format servers and Gemini; Anthropic's `event: error`
/// has the same inner shape).
pub(crate) fn body_error(error: serde_json::Value) -> ProviderError {
    let vendor = VendorError::from_json(serde_json::json!({ "error": error })).unwrap_or_default();
    classify_stream_error(&vendor)
}

/// Removes `secrets` and anything that looks like an API key from `text`.
pub(crate) fn redact(text: &str, secrets: &[SecretString]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let secret = secret.expose_secret();
        if !secret.is_empty() {
            text = text.replace(secret, "[REDACTED]");
        }
    }
    text.split_inclusive(char::is_whitespace)
        .map(|word| {
            let bare = word
                .trim_end()
                .trim_matches(|c: char| "\"'`,.;:()[]{}<>".contains(c));
            if looks_like_key(bare) {
                word.replace(bare, "[REDACTED]")
            } else {
                word.to_owned()
            }
        })
        .collect()
}

/// Whether a word looks like an API key: OpenAI `sk-…`, Anthropic `sk-ant-…`, Google
/// `AIza…`, or a vendor's masked echo (`sk-abc***xyz`).
fn looks_like_key(word: &str) -> bool {
    (word.starts_with("sk-") && word.len() > 8)
        || (word.starts_with("AIza") && word.len() > 20)
        || word.contains("****")
}

/// The three deadlines of one call, measured from when it was sent.
struct Deadlines {
    first_token: Instant,
    total: Instant,
}

impl Deadlines {
    fn start(timeouts: Timeouts) -> Self {
        let now = Instant::now();
        Self {
            first_token: now + timeouts.first_token,
            total: now + timeouts.total,
        }
    }

    /// The error for a wait that ran out at `deadline`.
    fn expired(&self, deadline: Instant, started: bool, timeouts: Timeouts) -> ProviderError {
        if deadline >= self.total {
            timeout(TimeoutKind::Total, timeouts.total)
        } else if started {
            timeout(TimeoutKind::Idle, timeouts.idle)
        } else {
            timeout(TimeoutKind::FirstToken, timeouts.first_token)
        }
    }
}

fn timeout(kind: TimeoutKind, limit: Duration) -> ProviderError {
    let what = match kind {
        TimeoutKind::Connect => "connecting",
        TimeoutKind::FirstToken => "waiting for the first token",
        TimeoutKind::Idle => "waiting for the next stream event",
        TimeoutKind::Total => "the whole call",
    };
    ProviderError::transient(
        ErrorKind::Timeout(kind),
        format!("timed out {what} (limit {} ms)", limit.as_millis()),
    )
}

/// Reads an SSE body to its end through `decode` into `accumulator`, enforcing the
/// first-token, idle and total deadlines. Generic over the body so it can be tested
/// with a channel and paused time.
async fn read_stream<S>(
    body: S,
    decode: EventDecoder,
    mut accumulator: StreamAccumulator,
    deltas: Option<&DeltaSender>,
    timeouts: Timeouts,
    deadlines: &Deadlines,
) -> Result<Completion, ProviderError>
where
    S: Stream<Item = Result<Bytes, ProviderError>>,
{
    let mut body = std::pin::pin!(body);
    let mut parser = sse::SseParser::new();
    let mut started = false;
    let mut progress_deadline = deadlines.first_token;
    let fail = |accumulator: &StreamAccumulator, mut err: ProviderError| {
        err.partial_usage = Some(accumulator.partial_usage());
        err.status.get_or_insert(200);
        err
    };
    loop {
        let deadline = progress_deadline.min(deadlines.total);
        let chunk = match timeout_at(deadline, body.next()).await {
            Err(_) => {
                return Err(fail(
                    &accumulator,
                    deadlines.expired(deadline, started, timeouts),
                ));
            }
            Ok(None) => break,
            Ok(Some(Err(err))) => return Err(fail(&accumulator, err)),
            Ok(Some(Ok(chunk))) => chunk,
        };
        for event in parser.push(&chunk).events {
            match take_event(&event, decode, &mut accumulator, deltas) {
                Err(err) => return Err(fail(&accumulator, err)),
                Ok(Step::KeepAlive) => {}
                Ok(Step::Progress(_)) => {
                    started = true;
                    progress_deadline = Instant::now() + timeouts.idle;
                }
                Ok(Step::Done) => return Ok(accumulator.finish()),
            }
        }
    }
    if let Some(event) = parser.finish() {
        match take_event(&event, decode, &mut accumulator, deltas) {
            Err(err) => return Err(fail(&accumulator, err)),
            Ok(Step::Done) => return Ok(accumulator.finish()),
            Ok(_) => {}
        }
    }
    if accumulator.is_complete() {
        return Ok(accumulator.finish());
    }
    Err(fail(
        &accumulator,
        ProviderError::transient(
            ErrorKind::StreamCut,
            "the stream ended before the vendor said it was done",
        ),
    ))
}

/// Replays a recorded SSE body, cut into `chunks`, through the same reader the live
/// driver uses (default timeouts), for decode tests without a socket.
#[cfg(test)]
pub(crate) async fn replay(
    chunks: Vec<Vec<u8>>,
    decode: EventDecoder,
    prompt_estimate: u64,
) -> Result<Completion, ProviderError> {
    let timeouts = Timeouts::default();
    let body = futures_util::stream::iter(chunks.into_iter().map(|chunk| Ok(Bytes::from(chunk))));
    let accumulator = StreamAccumulator::new(prompt_estimate);
    read_stream(
        body,
        decode,
        accumulator,
        None,
        timeouts,
        &Deadlines::start(timeouts),
    )
    .await
}

/// Replays a recorded stream fixture (`.sse` as recorded, `.jsonl` framed as the vendor
/// frames it) three ways — LF in one piece, CRLF, and LF in 5-byte pieces — checks
/// that all three decode alike, and returns the result.
#[cfg(test)]
pub(crate) async fn replay_fixture(
    path: &str,
    decode: EventDecoder,
) -> Result<Completion, ProviderError> {
    let framed: String = baton_testkit::fixtures::fixture_events(path)
        .iter()
        .map(|event| format!("{event}\n\n"))
        .collect();
    replay_text(&framed, decode).await
}

/// [`replay_fixture`] for SSE text.
#[cfg(test)]
pub(crate) async fn replay_text(
    text: &str,
    decode: EventDecoder,
) -> Result<Completion, ProviderError> {
    let lf = text.as_bytes().to_vec();
    let crlf = text.replace('\n', "\r\n").into_bytes();
    let pieces: Vec<Vec<u8>> = lf.chunks(5).map(<[u8]>::to_vec).collect();
    let whole = replay(vec![lf], decode, 10).await;
    assert_eq!(
        replay(vec![crlf], decode, 10).await,
        whole,
        "CRLF framing decodes differently"
    );
    assert_eq!(
        replay(pieces, decode, 10).await,
        whole,
        "5-byte pieces decode differently"
    );
    whole
}

fn take_event(
    event: &SseEvent,
    decode: EventDecoder,
    accumulator: &mut StreamAccumulator,
    deltas: Option<&DeltaSender>,
) -> Result<Step, ProviderError> {
    let mut step = Step::KeepAlive;
    for normalised in decode(event)? {
        match accumulator.apply(normalised) {
            Step::Done => return Ok(Step::Done),
            Step::KeepAlive => {}
            Step::Progress(text) => {
                if let (Some(text), Some(deltas)) = (&text, deltas) {
                    // A closed receiver means nobody watches the deltas any more; the
                    // completion still holds all of the text.
                    let _ = deltas.send(text.clone());
                }
                if step == Step::KeepAlive {
                    step = Step::Progress(None);
                }
            }
        }
    }
    Ok(step)
}

/// A JSON body received where a stream was asked for: the vendor's error, or a whole
/// answer (sent to `deltas` in one piece).
fn plain_answer_to_stream(
    body: &[u8],
    decode_plain: PlainDecoder<'_>,
    deltas: Option<&DeltaSender>,
) -> Result<Completion, ProviderError> {
    let vendor = VendorError::parse(body);
    if vendor.message.is_some() || vendor.error_type.is_some() {
        let mut err = classify_stream_error(&vendor);
        err.status = Some(200);
        return Err(err);
    }
    let completion = decode_plain(body)?;
    if let Some(deltas) = deltas
        && !completion.text.is_empty()
    {
        let _ = deltas.send(completion.text.clone());
    }
    Ok(completion)
}

/// Reads a whole response body within the total deadline.
async fn read_body(
    response: reqwest::Response,
    deadlines: &Deadlines,
    timeouts: Timeouts,
) -> Result<Bytes, ProviderError> {
    match timeout_at(deadlines.total, response.bytes()).await {
        Err(_) => Err(timeout(TimeoutKind::Total, timeouts.total)),
        Ok(Err(err)) => Err(ProviderError::transient(
            ErrorKind::Connection,
            format!("reading the response failed: {}", error_chain(&err)),
        )),
        Ok(Ok(body)) => Ok(body),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.to_ascii_lowercase().contains("json"))
}

async fn read_capped(response: reqwest::Response, deadline: Instant) -> Vec<u8> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Ok(Some(Ok(chunk))) = timeout_at(deadline, stream.next()).await {
        let room = MAX_ERROR_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    body
}

/// Classifies a failure to get a response head at all.
fn transport_error(err: &reqwest::Error) -> ProviderError {
    let detail = error_chain(err);
    if err.is_connect() && err.is_timeout() {
        return ProviderError::transient(
            ErrorKind::Timeout(TimeoutKind::Connect),
            format!("timed out connecting: {detail}"),
        );
    }
    if err.is_connect() {
        return ProviderError::transient(
            ErrorKind::Connection,
            format!("could not connect: {detail}"),
        );
    }
    if err.is_builder() {
        return ProviderError::permanent(
            ErrorKind::Unsupported,
            format!("the request could not be built: {detail}"),
        );
    }
    ProviderError::transient(
        ErrorKind::Connection,
        format!("the request failed: {detail}"),
    )
}

/// An error and its causes, one line: `reqwest`'s own message is often just "error
/// sending request"; the cause says what happened.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests;
