//! Error classification, once for every vendor: an HTTP status, the vendor's error
//! body and its headers become a [`ProviderError`] that says whether to retry and how
//! long the vendor asked us to wait.
//!
//! The three vendors' error bodies share a shape closely enough to read them with one
//! type: OpenAI (and compatible servers) `{"error": {message, type, code, param}}`,
//! Anthropic `{"type": "error", "error": {type, message}}`, Gemini `{"error": {code,
//! message, status, details}}` (sometimes wrapped in a one-element array).

use std::time::{Duration, SystemTime};

use reqwest::header::HeaderMap;
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::{Rfc2822, Rfc3339};

use crate::provider::{ErrorClass, ErrorKind, ProviderError, VendorLimits};

/// What a vendor said about an error, read from its body.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct VendorError {
    /// The human message.
    pub(crate) message: Option<String>,
    /// OpenAI `error.type`, Anthropic `error.type`.
    pub(crate) error_type: Option<String>,
    /// OpenAI `error.code` (a string), Gemini `error.code` (the HTTP status).
    pub(crate) code: Option<String>,
    /// Gemini `error.status` (a `google.rpc.Code` name such as `RESOURCE_EXHAUSTED`).
    pub(crate) status: Option<String>,
    /// Gemini `RetryInfo.retryDelay`, when the details carry one.
    pub(crate) retry_delay: Option<Duration>,
}

#[derive(Deserialize)]
struct Envelope {
    error: Option<ErrorBody>,
    message: Option<String>,
    detail: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Object(ErrorObject),
    Text(String),
}

#[derive(Deserialize)]
struct ErrorObject {
    message: Option<String>,
    #[serde(rename = "type")]
    error_type: Option<String>,
    code: Option<serde_json::Value>,
    status: Option<String>,
    details: Option<Vec<serde_json::Value>>,
}

impl VendorError {
    /// Reads an error body in any of the vendors' shapes; a body that is not JSON
    /// becomes the message (shortened), so a proxy's HTML page is still reported.
    pub(crate) fn parse(body: &[u8]) -> Self {
        match serde_json::from_slice::<serde_json::Value>(body) {
            Ok(value) => Self::from_json(value).unwrap_or_else(|| Self::from_text(body)),
            Err(_) => Self::from_text(body),
        }
    }

    /// Reads an error envelope that is already JSON (a stream event); `None` if it is
    /// not shaped like one.
    pub(crate) fn from_json(value: serde_json::Value) -> Option<Self> {
        // Gemini's non-SSE stream endpoint wraps the error in an array.
        let value = match value {
            serde_json::Value::Array(mut items) if !items.is_empty() => items.swap_remove(0),
            other => other,
        };
        let envelope = serde_json::from_value::<Envelope>(value).ok()?;
        Some(Self::from_envelope(envelope))
    }

    fn from_envelope(envelope: Envelope) -> Self {
        match envelope.error {
            Some(ErrorBody::Object(error)) => Self {
                message: error.message,
                error_type: error.error_type,
                code: error.code.and_then(|code| match code {
                    serde_json::Value::String(code) => Some(code),
                    serde_json::Value::Number(code) => Some(code.to_string()),
                    _ => None,
                }),
                status: error.status,
                retry_delay: error.details.iter().flatten().find_map(retry_delay_of),
            },
            Some(ErrorBody::Text(message)) => Self {
                message: Some(message),
                ..Self::default()
            },
            None => Self {
                message: envelope.message.or_else(|| match envelope.detail {
                    Some(serde_json::Value::String(detail)) => Some(detail),
                    Some(other) => Some(other.to_string()),
                    None => None,
                }),
                ..Self::default()
            },
        }
    }

    fn from_text(body: &[u8]) -> Self {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        if text.is_empty() {
            return Self::default();
        }
        let mut message: String = text.chars().take(MAX_MESSAGE_CHARS).collect();
        if message.len() < text.len() {
            message.push('…');
        }
        Self {
            message: Some(message),
            ..Self::default()
        }
    }

    /// Whether the type, code or status equals `name`.
    fn is(&self, name: &str) -> bool {
        [&self.error_type, &self.code, &self.status]
            .into_iter()
            .any(|field| {
                field
                    .as_deref()
                    .is_some_and(|field| field.eq_ignore_ascii_case(name))
            })
    }

    fn message_contains(&self, needles: &[&str]) -> bool {
        let Some(message) = &self.message else {
            return false;
        };
        let message = message.to_ascii_lowercase();
        needles.iter().any(|needle| message.contains(needle))
    }

    /// A permanent kind this error has whatever its status: no quota, context too
    /// long, content policy.
    pub(crate) fn permanent_kind(&self) -> Option<ErrorKind> {
        if self.is("insufficient_quota") || self.is("billing_error") {
            return Some(ErrorKind::QuotaExhausted);
        }
        if self.is("context_length_exceeded")
            || self.is("request_too_large")
            || self.message_contains(CONTEXT_TOO_LONG_MARKERS)
        {
            return Some(ErrorKind::ContextTooLong);
        }
        if self.is("content_policy_violation")
            || self.is("content_filter")
            || self.message_contains(&["content management policy", "content policy"])
        {
            return Some(ErrorKind::ContentPolicy);
        }
        None
    }

    /// The vendor's message, or a stand-in naming what is known.
    pub(crate) fn describe(&self, fallback: &str) -> String {
        let mut text = match &self.message {
            Some(message) if !message.trim().is_empty() => message.trim().to_owned(),
            _ => fallback.to_owned(),
        };
        if let Some(kind) = self.error_type.as_ref().or(self.status.as_ref()) {
            text = format!("{kind}: {text}");
        }
        text
    }
}

/// Longest vendor message kept from a body that is not JSON.
const MAX_MESSAGE_CHARS: usize = 500;

/// Phrases vendors use for a prompt that does not fit: OpenAI ("maximum context
/// length"), Anthropic ("prompt is too long"), Gemini ("input token count … exceeds
/// the maximum"), vLLM and llama.cpp ("context length", "context window").
const CONTEXT_TOO_LONG_MARKERS: &[&str] = &[
    "maximum context length",
    "context length",
    "context window",
    "prompt is too long",
    "input token count",
    "too many tokens",
];

/// Classifies a non-2xx response. `now` is the wall clock, for reset timestamps.
pub(crate) fn classify_status(
    status: u16,
    headers: &HeaderMap,
    body: &[u8],
    now: SystemTime,
) -> ProviderError {
    let vendor = VendorError::parse(body);
    let should_retry = header_str(headers, "x-should-retry").map(str::trim);
    let (class, kind) = if let Some(kind) = vendor.permanent_kind() {
        (ErrorClass::Permanent, kind)
    } else if (300..400).contains(&status) {
        (ErrorClass::Permanent, ErrorKind::Redirect)
    } else {
        let (class, kind) = classify_code(status, &vendor);
        // Anthropic's servers say outright whether a retry can help; its SDKs obey.
        match should_retry {
            Some("true") => (ErrorClass::Transient, kind),
            Some("false") => (ErrorClass::Permanent, kind),
            _ => (class, kind),
        }
    };
    let fallback = match kind {
        ErrorKind::Redirect => {
            "the vendor answered with a redirect, which is never followed (it would carry the key to another host)"
                .to_owned()
        }
        _ => format!("HTTP {status}"),
    };
    let message = match kind {
        ErrorKind::Redirect => fallback,
        _ => vendor.describe(&fallback),
    };
    ProviderError {
        class,
        kind,
        message,
        status: Some(status),
        retry_after: retry_after(headers, &vendor, now),
        partial_usage: None,
    }
}

fn classify_code(status: u16, vendor: &VendorError) -> (ErrorClass, ErrorKind) {
    use ErrorClass::{Permanent, Transient};
    if vendor.is("overloaded_error") {
        return (Transient, ErrorKind::Overloaded);
    }
    match status {
        429 => (Transient, ErrorKind::RateLimited),
        529 | 503 => (Transient, ErrorKind::Overloaded),
        // 408 (the vendor's own request timeout) and Cloudflare's 52x origin errors are
        // as transient as a 502.
        408 | 500 | 502 | 504 | 520..=524 => (Transient, ErrorKind::Server),
        400 | 409 | 413 | 422 => (Permanent, ErrorKind::BadRequest),
        401 | 403 => (Permanent, ErrorKind::Auth),
        402 => (Permanent, ErrorKind::QuotaExhausted),
        404 => (Permanent, ErrorKind::NotFound),
        500..=599 => (Permanent, ErrorKind::Server),
        _ => (Permanent, ErrorKind::BadRequest),
    }
}

/// Classifies an error event that arrived inside a 200 stream: transient, unless
/// the vendor's error type is one that no retry can fix.
pub(crate) fn classify_stream_error(vendor: &VendorError) -> ProviderError {
    let message = vendor.describe("the vendor reported an error inside the stream");
    let mut error = match vendor.permanent_kind() {
        Some(kind) => ProviderError::permanent(kind, message),
        None => ProviderError::transient(ErrorKind::StreamError, message),
    };
    error.retry_after = vendor.retry_delay;
    error
}

/// How long the vendor asked us to wait, from (in order of precedence)
/// `retry-after-ms`, `Retry-After` (seconds or an HTTP date), Gemini's
/// `RetryInfo.retryDelay`, OpenAI's `x-ratelimit-reset-{requests,tokens}` durations
/// and Anthropic's `anthropic-ratelimit-*-reset` timestamps.
///
/// Of several reset headers, the latest among the limits that are exhausted
/// (remaining `0`) is the one to wait for; when none says it is exhausted, the
/// earliest reset is taken, since waiting longer than that might be for nothing.
/// The executor applies its cap; this function reports what the vendor said.
pub(crate) fn retry_after(
    headers: &HeaderMap,
    vendor: &VendorError,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(ms) =
        header_str(headers, "retry-after-ms").and_then(|v| v.trim().parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    if let Some(value) = header_str(headers, "retry-after") {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<f64>()
            && seconds.is_finite()
            && seconds >= 0.0
        {
            return Some(Duration::from_secs_f64(seconds));
        }
        if let Ok(date) = OffsetDateTime::parse(value, &Rfc2822) {
            return Some(until(date, now));
        }
    }
    if let Some(delay) = vendor.retry_delay {
        return Some(delay);
    }
    let openai = ["requests", "tokens"].into_iter().filter_map(|limit| {
        let reset = header_str(headers, &format!("x-ratelimit-reset-{limit}"))?;
        let remaining = header_str(headers, &format!("x-ratelimit-remaining-{limit}"));
        Some((parse_go_duration(reset)?, remaining))
    });
    if let Some(wait) = pick_reset(openai) {
        return Some(wait);
    }
    let anthropic = ["requests", "tokens", "input-tokens", "output-tokens"]
        .into_iter()
        .filter_map(|limit| {
            let reset = header_str(headers, &format!("anthropic-ratelimit-{limit}-reset"))?;
            let remaining = header_str(headers, &format!("anthropic-ratelimit-{limit}-remaining"));
            Some((until_rfc3339(reset, now)?, remaining))
        });
    pick_reset(anthropic)
}

/// The rate-limit figures of a response's headers: OpenAI's (and compatible
/// servers') `x-ratelimit-{remaining,reset}-{requests,tokens}`, or Anthropic's
/// `anthropic-ratelimit-{requests,tokens}-{remaining,reset}`. `None` when the
/// response carries none of them that can be read.
pub(crate) fn vendor_limits(headers: &HeaderMap, now: SystemTime) -> Option<VendorLimits> {
    let count = |name: &str| header_str(headers, name).and_then(|v| v.trim().parse::<u64>().ok());
    let go_duration = |name: &str| header_str(headers, name).and_then(parse_go_duration);
    let timestamp = |name: &str| header_str(headers, name).and_then(|v| until_rfc3339(v, now));
    let limits = VendorLimits {
        remaining_requests: count("x-ratelimit-remaining-requests")
            .or_else(|| count("anthropic-ratelimit-requests-remaining")),
        remaining_tokens: count("x-ratelimit-remaining-tokens")
            .or_else(|| count("anthropic-ratelimit-tokens-remaining")),
        reset_requests: go_duration("x-ratelimit-reset-requests")
            .or_else(|| timestamp("anthropic-ratelimit-requests-reset")),
        reset_tokens: go_duration("x-ratelimit-reset-tokens")
            .or_else(|| timestamp("anthropic-ratelimit-tokens-reset")),
    };
    (limits != VendorLimits::default()).then_some(limits)
}

fn pick_reset<'a>(resets: impl Iterator<Item = (Duration, Option<&'a str>)>) -> Option<Duration> {
    let mut exhausted: Option<Duration> = None;
    let mut earliest: Option<Duration> = None;
    for (wait, remaining) in resets {
        if remaining.is_some_and(|remaining| remaining.trim() == "0") {
            exhausted = Some(exhausted.map_or(wait, |longest| longest.max(wait)));
        }
        earliest = Some(earliest.map_or(wait, |shortest| shortest.min(wait)));
    }
    exhausted.or(earliest)
}

/// How long until an RFC 3339 timestamp (Anthropic's reset headers); `None` when it
/// does not parse.
fn until_rfc3339(value: &str, now: SystemTime) -> Option<Duration> {
    let reset = OffsetDateTime::parse(value.trim(), &Rfc3339).ok()?;
    Some(until(reset, now))
}

fn until(moment: OffsetDateTime, now: SystemTime) -> Duration {
    let now = OffsetDateTime::from(now);
    let wait = moment - now;
    if wait.is_negative() {
        Duration::ZERO
    } else {
        wait.unsigned_abs()
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// Reads a Go-style duration as OpenAI and Groq send it: `12ms`, `1m30s`,
/// `172.799999ms`, `6m0s`, `1h2m3.5s`, `0s`.
pub(crate) fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut seconds = 0.0_f64;
    while !rest.is_empty() {
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if number_len == 0 {
            return None;
        }
        let number: f64 = rest[..number_len].parse().ok()?;
        rest = &rest[number_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" | "μs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        seconds += number * scale;
    }
    seconds
        .is_finite()
        .then(|| Duration::from_secs_f64(seconds))
}

/// Reads a protobuf JSON duration (`"34.4s"`), as in Gemini's `RetryInfo`.
pub(crate) fn parse_proto_duration(text: &str) -> Option<Duration> {
    let seconds: f64 = text.trim().strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds))
}

fn retry_delay_of(detail: &serde_json::Value) -> Option<Duration> {
    let kind = detail.get("@type")?.as_str()?;
    if !kind.ends_with("google.rpc.RetryInfo") {
        return None;
    }
    parse_proto_duration(detail.get("retryDelay")?.as_str()?)
}
