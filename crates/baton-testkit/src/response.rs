//! Scripted responses for a [`crate::FakeVendor`]: a JSON body, a recorded exchange, a
//! recorded or synthetic SSE stream with the framing and timing faults real servers
//! and proxies produce, or a well-formed answer rendered in the vendor's format.

use std::time::Duration;

use crate::fixtures::{fixture_events, read_fixture_json};

/// One scripted HTTP response.
#[derive(Clone, Debug)]
pub struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) head_delay: Duration,
    pub(crate) content: Content,
    pub(crate) stream: StreamOptions,
}

/// What the body is.
#[derive(Clone, Debug)]
pub(crate) enum Content {
    /// Fixed bytes with a content type.
    Bytes {
        content_type: String,
        bytes: Vec<u8>,
    },
    /// SSE events, each without its closing blank line.
    Events(Vec<String>),
    /// A well-formed answer, rendered in the vendor's format when served (streamed if
    /// the request asked for a stream).
    Answer(Answer),
}

/// A well-formed answer's text and token counts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// The text.
    pub text: String,
    /// Prompt tokens to report.
    pub input_tokens: u64,
    /// Output tokens to report.
    pub output_tokens: u64,
}

/// How an SSE body is framed and paced, and how it ends.
#[derive(Clone, Debug, Default)]
pub(crate) struct StreamOptions {
    pub(crate) crlf: bool,
    pub(crate) pad_data: bool,
    pub(crate) comments: bool,
    pub(crate) without_done: bool,
    pub(crate) chunk_size: Option<usize>,
    pub(crate) first_event_delay: Duration,
    pub(crate) event_interval: Duration,
    pub(crate) end: StreamEnd,
    pub(crate) extra_events: Vec<String>,
    pub(crate) keep_events: Option<usize>,
}

/// How a stream ends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StreamEnd {
    /// Every event is sent, then the body ends cleanly.
    #[default]
    Complete,
    /// After this many events the body ends cleanly (a clean close mid-stream).
    CloseAfter(usize),
    /// After this many events the connection is aborted (a reset mid-stream).
    ResetAfter(usize),
    /// After this many events nothing more is sent until the fake is dropped.
    StallAfter(usize),
}

impl Response {
    fn new(status: u16, content: Content) -> Self {
        Self {
            status,
            headers: Vec::new(),
            head_delay: Duration::ZERO,
            content,
            stream: StreamOptions::default(),
        }
    }

    /// A well-formed answer with `text`, rendered in the vendor's format (streamed if
    /// the request asked for a stream), with 12 prompt tokens and about one output
    /// token per four bytes of text.
    pub fn answer(text: impl Into<String>) -> Self {
        let text = text.into();
        let output_tokens = (text.len() as u64).div_ceil(4).max(1);
        Self::answer_with_usage(text, 12, output_tokens)
    }

    /// A well-formed answer with `text` and the given token counts.
    pub fn answer_with_usage(
        text: impl Into<String>,
        input_tokens: u64,
        output_tokens: u64,
    ) -> Self {
        Self::new(
            200,
            Content::Answer(Answer {
                text: text.into(),
                input_tokens,
                output_tokens,
            }),
        )
    }

    /// A JSON body with a status.
    pub fn json(status: u16, body: serde_json::Value) -> Self {
        Self::new(
            status,
            Content::Bytes {
                content_type: "application/json".to_owned(),
                bytes: body.to_string().into_bytes(),
            },
        )
    }

    /// Any body with a status and content type.
    pub fn body(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self::new(
            status,
            Content::Bytes {
                content_type: content_type.to_owned(),
                bytes: body.into(),
            },
        )
    }

    /// A 200 whose body is a JSON fixture (`openai/chat/nonstream-text.json`).
    pub fn fixture_json(path: &str) -> Self {
        Self::json(200, read_fixture_json(path))
    }

    /// A recorded exchange (`exchange-*.json`): its status, headers and body. `index`
    /// picks the entry of the Anthropic SDK's lists; tidyllm files hold one (index 0).
    /// `content-encoding`, `content-length`, `transfer-encoding` and `connection` are
    /// dropped, since the fake sends the body plain.
    ///
    /// # Panics
    /// If the fixture has no such entry.
    pub fn fixture_exchange(path: &str, index: usize) -> Self {
        let recorded = read_fixture_json(path);
        let exchange = match &recorded {
            serde_json::Value::Array(items) => items.get(index).cloned(),
            other if index == 0 => Some(other.clone()),
            _ => None,
        };
        let Some(response) = exchange.and_then(|e| e.get("response").cloned()) else {
            panic!("fixture {path} has no exchange {index}");
        };
        let status = response
            .get("status")
            .or_else(|| response.get("status_code"))
            .and_then(serde_json::Value::as_u64)
            .map_or(200, |s| s as u16);
        let headers: Vec<(String, String)> = response
            .get("headers")
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(name, _)| {
                !matches!(
                    name.to_ascii_lowercase().as_str(),
                    "content-encoding" | "content-length" | "transfer-encoding" | "connection"
                )
            })
            .filter_map(|(name, value)| Some((name.clone(), value.as_str()?.to_owned())))
            .collect();
        let content_type = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
            .map_or("application/json".to_owned(), |(_, value)| value.clone());
        let mut scripted = match response.get("body") {
            Some(serde_json::Value::String(text)) if content_type.contains("event-stream") => {
                Self::new(status, Content::Events(crate::fixtures::split_sse(text)))
            }
            Some(serde_json::Value::String(text)) => {
                Self::body(status, &content_type, text.clone())
            }
            Some(body) => Self::json(status, body.clone()),
            None => Self::body(status, &content_type, Vec::new()),
        };
        scripted.headers = headers
            .into_iter()
            .filter(|(name, _)| !name.eq_ignore_ascii_case("content-type"))
            .collect();
        scripted
    }

    /// A 200 event stream replaying a recorded stream fixture (`.sse` or `.jsonl`).
    pub fn fixture_stream(path: &str) -> Self {
        Self::new(200, Content::Events(fixture_events(path)))
    }

    /// A 200 event stream of these events (each its lines without the closing blank
    /// line, e.g. `"event: ping\ndata: {\"type\":\"ping\"}"`).
    pub fn events(events: impl IntoIterator<Item = impl Into<String>>) -> Self {
        Self::new(
            200,
            Content::Events(events.into_iter().map(Into::into).collect()),
        )
    }

    /// A `307 Temporary Redirect` to `location`, which a client must not follow.
    pub fn redirect(location: &str) -> Self {
        Self::body(307, "text/plain", "moved").with_header("location", location)
    }

    /// The same response with another status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The same response with one more header.
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Waits this long before sending the response head (a slow server).
    pub fn delay_head(mut self, delay: Duration) -> Self {
        self.head_delay = delay;
        self
    }

    /// Frames the stream with CRLF line ends instead of LF.
    pub fn crlf(mut self) -> Self {
        self.stream.crlf = true;
        self
    }

    /// Pads every `data:` line with trailing spaces, as Anthropic's servers sometimes do.
    pub fn pad_data_lines(mut self) -> Self {
        self.stream.pad_data = true;
        self
    }

    /// Sends a `: keep-alive` comment before every event.
    pub fn with_comments(mut self) -> Self {
        self.stream.comments = true;
        self
    }

    /// Leaves out the `data: [DONE]` event.
    pub fn without_done(mut self) -> Self {
        self.stream.without_done = true;
        self
    }

    /// Sends the stream in pieces of `bytes` bytes, splitting lines and UTF-8
    /// characters wherever the cut falls.
    pub fn split_every(mut self, bytes: usize) -> Self {
        self.stream.chunk_size = Some(bytes.max(1));
        self
    }

    /// Waits this long before the first event (a slow first token).
    pub fn delay_first_event(mut self, delay: Duration) -> Self {
        self.stream.first_event_delay = delay;
        self
    }

    /// Waits this long between events (a slow but steady stream).
    pub fn event_interval(mut self, interval: Duration) -> Self {
        self.stream.event_interval = interval;
        self
    }

    /// Keeps only the first `n` events (before any added with [`Self::then_event`]).
    pub fn truncate_events(mut self, n: usize) -> Self {
        self.stream.keep_events = Some(n);
        self
    }

    /// Adds an event after the (kept) events, e.g. a vendor error event.
    pub fn then_event(mut self, event: impl Into<String>) -> Self {
        self.stream.extra_events.push(event.into());
        self
    }

    /// Ends the stream after `n` events with a clean close.
    pub fn close_after(mut self, n: usize) -> Self {
        self.stream.end = StreamEnd::CloseAfter(n);
        self
    }

    /// Aborts the connection after `n` events.
    pub fn reset_after(mut self, n: usize) -> Self {
        self.stream.end = StreamEnd::ResetAfter(n);
        self
    }

    /// Sends nothing more after `n` events, keeping the connection open.
    pub fn stall_after(mut self, n: usize) -> Self {
        self.stream.end = StreamEnd::StallAfter(n);
        self
    }
}

impl StreamOptions {
    /// The events to send, after truncation, removals and additions.
    pub(crate) fn select(&self, events: Vec<String>) -> Vec<String> {
        let mut events: Vec<String> = events
            .into_iter()
            .filter(|event| !(self.without_done && is_done(event)))
            .collect();
        if let Some(n) = self.keep_events {
            events.truncate(n);
        }
        events.extend(self.extra_events.iter().cloned());
        events
    }

    /// The bytes of one event as framed on the wire (with a comment before it, if
    /// asked).
    pub(crate) fn frame(&self, event: &str) -> Vec<u8> {
        let newline = if self.crlf { "\r\n" } else { "\n" };
        let mut framed = String::new();
        if self.comments {
            framed.push_str(": keep-alive");
            framed.push_str(newline);
            framed.push_str(newline);
        }
        for line in event.split('\n') {
            framed.push_str(line);
            if self.pad_data && line.starts_with("data:") {
                framed.push_str("      ");
            }
            framed.push_str(newline);
        }
        framed.push_str(newline);
        framed.into_bytes()
    }

    /// The pieces one framed event is sent in.
    pub(crate) fn pieces(&self, framed: Vec<u8>) -> Vec<Vec<u8>> {
        match self.chunk_size {
            Some(size) => framed.chunks(size).map(<[u8]>::to_vec).collect(),
            None => vec![framed],
        }
    }
}

fn is_done(event: &str) -> bool {
    event.lines().any(|line| {
        line.strip_prefix("data:")
            .is_some_and(|d| d.trim() == "[DONE]")
    })
}

/// A vendor's error event inside a 200 stream, in its own framing.
pub fn error_event(vendor: crate::Vendor, error_type: &str, message: &str) -> String {
    match vendor {
        crate::Vendor::Anthropic => format!(
            "event: error\ndata: {}",
            serde_json::json!({"type": "error", "error": {"type": error_type, "message": message}})
        ),
        crate::Vendor::OpenAi => format!(
            "data: {}",
            serde_json::json!({"error": {"type": error_type, "code": error_type, "message": message, "param": null}})
        ),
        crate::Vendor::Gemini => format!(
            "data: {}",
            serde_json::json!({"error": {"code": 500, "status": error_type, "message": message}})
        ),
    }
}

/// A vendor's 429 with the retry information that vendor sends: OpenAI
/// `x-ratelimit-*` durations (requests exhausted, resetting in `1s`), Anthropic
/// `retry-after` seconds plus `x-should-retry: true`, Gemini `RetryInfo` in the body
/// (the recorded fixture, `34.4s`).
pub fn rate_limited(vendor: crate::Vendor) -> Response {
    match vendor {
        crate::Vendor::OpenAi => Response::json(
            429,
            serde_json::json!({"error": {
                "message": "Rate limit reached for requests",
                "type": "requests",
                "param": null,
                "code": "rate_limit_exceeded"
            }}),
        )
        .with_header("x-ratelimit-limit-requests", "500")
        .with_header("x-ratelimit-remaining-requests", "0")
        .with_header("x-ratelimit-reset-requests", "1s")
        .with_header("x-ratelimit-remaining-tokens", "79000")
        .with_header("x-ratelimit-reset-tokens", "6m0s"),
        crate::Vendor::Anthropic => {
            Response::fixture_exchange("anthropic/exchange-429-429-then-stream.json", 0)
                .with_header("retry-after", "7")
        }
        crate::Vendor::Gemini => Response::json(
            429,
            read_fixture_json("gemini/error-429-resource-exhausted.json"),
        ),
    }
}

/// Anthropic's `529 overloaded_error`.
pub fn overloaded() -> Response {
    Response::json(
        529,
        serde_json::json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
    )
}

#[cfg(test)]
mod tests;
