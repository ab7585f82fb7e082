//! Tests for the HTTP driver's pure parts: SSE framing, error classification,
//! `Retry-After` extraction, redaction, and the stream reader's timeouts under paused
//! time (the live socket paths are tested in `tests/it`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use baton_testkit::fixtures::{fixture_events, read_fixture, read_fixture_json, split_sse};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::sync::mpsc;

use super::classify::{
    classify_status, parse_go_duration, parse_proto_duration, retry_after, vendor_limits,
};
use super::sse::{SseEvent, SseParser};
use super::*;
use crate::provider::{ErrorClass, ErrorKind, TimeoutKind, VendorLimits};

// ---------------------------------------------------------------------------
// SSE framing

/// Parses `bytes` cut at `cuts` (positions), returning every event, the final flush
/// included.
fn parse_cut(bytes: &[u8], cuts: &[usize]) -> Vec<SseEvent> {
    let mut parser = SseParser::new();
    let mut events = Vec::new();
    let mut start = 0;
    for &cut in cuts.iter().chain(std::iter::once(&bytes.len())) {
        events.extend(parser.push(&bytes[start..cut]).events);
        start = cut;
    }
    events.extend(parser.finish());
    events
}

/// What a recorded event block means, read naively line by line: the oracle for the
/// incremental parser.
fn expected_events(text: &str) -> Vec<SseEvent> {
    split_sse(text)
        .iter()
        .filter_map(|block| {
            let mut event = None;
            let mut data: Vec<&str> = Vec::new();
            for line in block.lines() {
                if let Some(value) = line.strip_prefix("event:") {
                    event = Some(value.strip_prefix(' ').unwrap_or(value).to_owned());
                } else if let Some(value) = line.strip_prefix("data:") {
                    data.push(value.strip_prefix(' ').unwrap_or(value));
                }
            }
            (!data.is_empty()).then(|| SseEvent {
                event,
                data: data.join("\n"),
            })
        })
        .collect()
}

fn recorded_streams() -> Vec<(String, String)> {
    let mut streams: Vec<(String, String)> = [
        "openai/chat/stream-text-with-usage.sse",
        "openai/chat/stream-structured-output.sse",
        "openai/chat/stream-tool-call.sse",
        "openai/chat/stream-parallel-tool-calls.sse",
        "anthropic/stream-text.sse",
        "anthropic/stream-tool-use.sse",
        "anthropic/stream-max-tokens-padded-data.sse",
    ]
    .into_iter()
    .map(|path| (path.to_owned(), read_fixture(path)))
    .collect();
    let exchange = read_fixture_json("anthropic/exchange-429-429-then-stream.json");
    let body = exchange[2]["response"]["body"].as_str().unwrap().to_owned();
    streams.push((
        "anthropic/exchange-429-429-then-stream.json#2".to_owned(),
        body,
    ));
    for path in [
        "anthropic/stream-tool-use-empty-input.events.jsonl",
        "gemini/stream-text.chunks.jsonl",
        "gemini/stream-function-call.chunks.jsonl",
        "openai/responses/stream-error-insufficient-quota.events.jsonl",
    ] {
        let framed: String = fixture_events(path)
            .iter()
            .map(|e| format!("{e}\n\n"))
            .collect();
        streams.push((path.to_owned(), framed));
    }
    streams
}

#[test]
fn every_recorded_stream_parses_the_same_at_every_split_point_lf_and_crlf() {
    for (name, text) in recorded_streams() {
        let expected = expected_events(&text);
        assert!(!expected.is_empty(), "{name} has no events");
        for text in [text.clone(), text.replace('\n', "\r\n")] {
            let bytes = text.as_bytes();
            assert_eq!(parse_cut(bytes, &[]), expected, "{name} unsplit");
            // Every two-way split, which covers every line end and every byte of
            // every multi-byte character.
            for cut in 0..=bytes.len() {
                assert_eq!(parse_cut(bytes, &[cut]), expected, "{name} split at {cut}");
            }
            // Many small pieces.
            for size in 1..=7 {
                let cuts: Vec<usize> = (size..bytes.len()).step_by(size).collect();
                assert_eq!(
                    parse_cut(bytes, &cuts),
                    expected,
                    "{name} in {size}-byte pieces"
                );
            }
        }
    }
}

#[test]
fn multibyte_text_split_inside_a_character_is_reassembled() {
    let text = "data: {\"t\":\"héllo 🌍 wörld\"}\n\n";
    let bytes = text.as_bytes();
    let emoji = text.find('🌍').unwrap();
    for cut in emoji..emoji + 4 {
        let events = parse_cut(bytes, &[cut]);
        assert_eq!(events[0].data, "{\"t\":\"héllo 🌍 wörld\"}");
    }
}

#[test]
fn comments_are_counted_but_never_events() {
    let mut parser = SseParser::new();
    let out = parser.push(b": keep-alive\n\n:ping\r\n\r\ndata: x\n\n");
    assert_eq!(out.comments, 2);
    assert_eq!(
        out.events,
        vec![SseEvent {
            event: None,
            data: "x".to_owned()
        }]
    );
}

#[test]
fn multi_line_data_is_joined_with_newlines() {
    let events = parse_cut(b"event: e\ndata: {\"a\":\ndata: 1}\ndata\n\n", &[]);
    assert_eq!(
        events,
        vec![SseEvent {
            event: Some("e".to_owned()),
            data: "{\"a\":\n1}\n".to_owned()
        }]
    );
}

#[test]
fn lone_cr_ends_a_line_even_across_chunks() {
    assert_eq!(parse_cut(b"data: a\r\rdata: b\r\r", &[7, 8]).len(), 2);
    // A CR at the end of one chunk and an LF at the start of the next are one line end.
    assert_eq!(parse_cut(b"data: a\r\n\r\n", &[8]).len(), 1);
}

#[test]
fn final_event_without_blank_line_is_flushed_but_a_cut_line_is_not() {
    assert_eq!(parse_cut(b"data: [DONE]\n", &[]).len(), 1);
    assert_eq!(parse_cut(b"data: {\"a\":1}\n\ndata: {\"tru", &[]).len(), 1);
}

#[test]
fn byte_order_mark_is_skipped_even_when_split() {
    let events = parse_cut(b"\xEF\xBB\xBFdata: x\n\n", &[1, 2]);
    assert_eq!(
        events,
        vec![SseEvent {
            event: None,
            data: "x".to_owned()
        }]
    );
}

#[test]
fn events_without_data_are_not_dispatched() {
    assert!(parse_cut(b"event: ping\n\nid: 3\nretry: 10\n\n", &[]).is_empty());
}

// ---------------------------------------------------------------------------
// Classification

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::try_from(*name).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    map
}

fn classify(status: u16, pairs: &[(&str, &str)], body: &str) -> ProviderError {
    classify_status(status, &headers(pairs), body.as_bytes(), SystemTime::now())
}

fn recorded_headers(exchange: &serde_json::Value) -> HeaderMap {
    let pairs: Vec<(String, String)> = exchange["response"]["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect();
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers(&borrowed)
}

#[test]
fn status_codes_classify_as_the_retry_policy_expects() {
    use ErrorClass::{Permanent, Transient};
    let table = [
        (429, Transient, ErrorKind::RateLimited),
        (500, Transient, ErrorKind::Server),
        (502, Transient, ErrorKind::Server),
        (503, Transient, ErrorKind::Overloaded),
        (504, Transient, ErrorKind::Server),
        (529, Transient, ErrorKind::Overloaded),
        (400, Permanent, ErrorKind::BadRequest),
        (401, Permanent, ErrorKind::Auth),
        (403, Permanent, ErrorKind::Auth),
        (404, Permanent, ErrorKind::NotFound),
        (422, Permanent, ErrorKind::BadRequest),
        (501, Permanent, ErrorKind::Server),
        (307, Permanent, ErrorKind::Redirect),
        (301, Permanent, ErrorKind::Redirect),
    ];
    for (status, class, kind) in table {
        let err = classify(status, &[], "");
        assert_eq!(
            (err.class, &err.kind, err.status),
            (class, &kind, Some(status)),
            "{status}"
        );
    }
}

#[test]
fn insufficient_quota_429_is_permanent() {
    let err = classify(
        429,
        &[],
        &read_fixture("openai/responses/error-429-insufficient-quota.json"),
    );
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::QuotaExhausted)
    );
    assert!(
        err.message
            .starts_with("insufficient_quota: You exceeded your current quota")
    );
}

#[test]
fn openai_unsupported_parameter_400_keeps_the_vendor_message() {
    let err = classify(
        400,
        &[],
        &read_fixture("openai/chat/error-400-unsupported-parameter.json"),
    );
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::BadRequest)
    );
    assert!(
        err.message.contains("Use 'max_completion_tokens' instead."),
        "{}",
        err.message
    );
}

#[test]
fn anthropic_invalid_request_400_is_permanent() {
    let err = classify(
        400,
        &[],
        &read_fixture("anthropic/error-400-invalid-request.json"),
    );
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::BadRequest)
    );
    assert!(
        err.message
            .starts_with("invalid_request_error: messages.2.content.0")
    );
}

#[test]
fn anthropic_recorded_429_with_should_retry_is_transient() {
    let exchange = read_fixture_json("anthropic/exchange-429-429-then-stream.json");
    for attempt in &exchange.as_array().unwrap()[..2] {
        let body = attempt["response"]["body"].to_string();
        let err = classify_status(
            429,
            &recorded_headers(attempt),
            body.as_bytes(),
            SystemTime::now(),
        );
        assert_eq!(
            (err.class, err.kind),
            (ErrorClass::Transient, ErrorKind::RateLimited)
        );
        assert!(
            err.message
                .starts_with("rate_limit_error: This request would exceed")
        );
        assert_eq!(err.retry_after, None, "the recording has no retry-after");
    }
}

#[test]
fn should_retry_header_overrides_the_status() {
    assert_eq!(
        classify(500, &[("x-should-retry", "false")], "").class,
        ErrorClass::Permanent
    );
    assert_eq!(
        classify(409, &[("x-should-retry", "true")], "").class,
        ErrorClass::Transient
    );
}

#[test]
fn overloaded_error_type_is_transient_whatever_the_status() {
    let body = r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
    let err = classify(529, &[], body);
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::Overloaded)
    );
    assert_eq!(err.message, "overloaded_error: Overloaded");
}

#[test]
fn gemini_resource_exhausted_is_transient_with_its_retry_delay() {
    let err = classify(
        429,
        &[],
        &read_fixture("gemini/error-429-resource-exhausted.json"),
    );
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::RateLimited)
    );
    assert_eq!(err.retry_after, Some(Duration::from_millis(34_400)));
    assert!(
        err.message
            .starts_with("RESOURCE_EXHAUSTED: You exceeded your current quota")
    );
}

#[test]
fn context_too_long_is_permanent_for_every_vendor() {
    // Documented shapes (not recorded): OpenAI's code, Anthropic's and Gemini's
    // messages.
    let bodies = [
        r#"{"error":{"message":"This model's maximum context length is 128000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}"#,
        r#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
        r#"{"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}}"#,
    ];
    for body in bodies {
        let err = classify(400, &[], body);
        assert_eq!(
            (err.class, err.kind),
            (ErrorClass::Permanent, ErrorKind::ContextTooLong),
            "{body}"
        );
    }
}

#[test]
fn content_policy_is_permanent() {
    let body = r#"{"error":{"message":"Your request was rejected by the safety system.","type":"invalid_request_error","code":"content_policy_violation"}}"#;
    let err = classify(400, &[], body);
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::ContentPolicy)
    );
}

#[test]
fn non_json_error_body_becomes_a_short_message() {
    let page = format!("<html>{}</html>", "bad gateway ".repeat(100));
    let err = classify(502, &[], &page);
    assert!(err.message.starts_with("<html>bad gateway"));
    assert!(err.message.chars().count() <= 501);
    assert_eq!(classify(503, &[], "").message, "HTTP 503");
}

#[test]
fn redirect_message_says_why_it_was_not_followed() {
    let err = classify(302, &[("location", "https://elsewhere.example/")], "moved");
    assert!(err.message.contains("never followed"), "{}", err.message);
}

#[test]
fn stream_error_events_are_transient_unless_no_retry_can_help() {
    let overloaded = VendorError::from_json(serde_json::json!(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    ))
    .unwrap();
    let err = classify_stream_error(&overloaded);
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
    let quota = VendorError::from_json(serde_json::json!(
        {"error": {"type": "insufficient_quota", "message": "no"}}
    ))
    .unwrap();
    assert_eq!(
        classify_stream_error(&quota).kind,
        ErrorKind::QuotaExhausted
    );
}

// ---------------------------------------------------------------------------
// Retry-After

fn at(rfc3339: &str) -> SystemTime {
    let moment =
        time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
            .unwrap();
    UNIX_EPOCH + Duration::from_secs(moment.unix_timestamp() as u64)
}

fn wait(pairs: &[(&str, &str)], now: SystemTime) -> Option<Duration> {
    retry_after(&headers(pairs), &VendorError::default(), now)
}

#[test]
fn retry_after_seconds_and_milliseconds() {
    let now = SystemTime::now();
    assert_eq!(
        wait(&[("retry-after", "2")], now),
        Some(Duration::from_secs(2))
    );
    assert_eq!(
        wait(&[("retry-after", " 1.5 ")], now),
        Some(Duration::from_millis(1500))
    );
    // retry-after-ms is more precise and wins.
    assert_eq!(
        wait(&[("retry-after", "1"), ("retry-after-ms", "250")], now),
        Some(Duration::from_millis(250))
    );
    assert_eq!(wait(&[("retry-after", "soon")], now), None);
}

#[test]
fn retry_after_http_date_is_measured_from_now() {
    let now = at("2025-11-16T13:04:34Z");
    let date = [("retry-after", "Sun, 16 Nov 2025 13:05:04 GMT")];
    assert_eq!(wait(&date, now), Some(Duration::from_secs(30)));
    assert_eq!(
        wait(&date, at("2025-11-16T13:06:00Z")),
        Some(Duration::ZERO)
    );
}

#[test]
fn openai_reset_durations_prefer_the_exhausted_limit() {
    let exchange = read_fixture_json("openai/chat/exchange-nonstream-with-ratelimit-headers.json");
    let recorded = recorded_headers(&exchange);
    // Neither limit is exhausted: the earliest reset (1ms).
    let now = SystemTime::now();
    assert_eq!(
        retry_after(&recorded, &VendorError::default(), now),
        Some(Duration::from_millis(1))
    );
    let mut exhausted = recorded;
    exhausted.insert(
        "x-ratelimit-remaining-requests",
        HeaderValue::from_static("0"),
    );
    assert_eq!(
        retry_after(&exhausted, &VendorError::default(), now),
        Some(Duration::from_millis(12))
    );
}

#[test]
fn groq_fractional_resets_are_read() {
    let exchange = read_fixture_json("openai-compatible/groq-exchange-nonstream.json");
    let wait = retry_after(
        &recorded_headers(&exchange),
        &VendorError::default(),
        SystemTime::now(),
    );
    assert_eq!(wait, Some(Duration::from_secs_f64(0.00744)));
}

#[test]
fn anthropic_reset_timestamps_prefer_the_exhausted_limits() {
    let exchange = read_fixture_json("anthropic/exchange-nonstream-with-ratelimit-headers.json");
    let recorded = recorded_headers(&exchange);
    let now = at("2025-08-21T12:40:50Z");
    // Nothing exhausted: the earliest reset, 12:40:59.
    assert_eq!(
        retry_after(&recorded, &VendorError::default(), now),
        Some(Duration::from_secs(9))
    );
    let mut exhausted = recorded.clone();
    exhausted.insert(
        "anthropic-ratelimit-output-tokens-remaining",
        HeaderValue::from_static("0"),
    );
    assert_eq!(
        retry_after(&exhausted, &VendorError::default(), now),
        Some(Duration::from_secs(10))
    );
    // Resets in the past mean no wait at all.
    let later = at("2025-08-21T13:00:00Z");
    assert_eq!(
        retry_after(&recorded, &VendorError::default(), later),
        Some(Duration::ZERO)
    );
}

#[test]
fn go_durations_parse_as_openai_sends_them() {
    let table = [
        ("12ms", Some(Duration::from_millis(12))),
        ("1m30s", Some(Duration::from_secs(90))),
        ("6m0s", Some(Duration::from_secs(360))),
        ("1h2m3.5s", Some(Duration::from_secs_f64(3723.5))),
        ("0s", Some(Duration::ZERO)),
        ("250us", Some(Duration::from_micros(250))),
        ("", None),
        ("5", None),
        ("abc", None),
        ("1d", None),
    ];
    for (text, expected) in table {
        assert_eq!(parse_go_duration(text), expected, "{text}");
    }
    let fractional = parse_go_duration("172.799999ms").unwrap();
    assert_eq!(fractional.as_micros(), 172_799);
}

#[test]
fn proto_durations_parse() {
    assert_eq!(
        parse_proto_duration("34.4s"),
        Some(Duration::from_millis(34_400))
    );
    assert_eq!(parse_proto_duration("2s"), Some(Duration::from_secs(2)));
    assert_eq!(parse_proto_duration("2"), None);
}

// ---------------------------------------------------------------------------
// Redaction

#[test]
fn configured_key_and_key_like_words_are_redacted() {
    let secrets = vec![SecretString::from("my-local-secret-123")];
    let message = "Incorrect API key provided: my-local-secret-123. Also sk-proj-****abcd and \
                   'sk-ant-api03-abcdefgh' and AIzaSyA1234567890abcdefghijk, for host api.openai.com.";
    let redacted = redact(message, &secrets);
    for leaked in ["my-local-secret-123", "sk-proj", "sk-ant", "AIzaSy", "abcd"] {
        assert!(!redacted.contains(leaked), "{leaked} in {redacted}");
    }
    assert!(redacted.contains("for host api.openai.com."), "{redacted}");
    assert_eq!(
        redact("nothing secret here", &secrets),
        "nothing secret here"
    );
}

#[test]
fn driver_debug_never_shows_secrets() {
    let driver = HttpDriver::new(
        Timeouts::default(),
        vec![SecretString::from("sk-very-secret")],
    )
    .unwrap();
    let shown = format!("{driver:?}");
    assert!(!shown.contains("sk-very-secret"), "{shown}");
    assert!(shown.contains("1 redacted"), "{shown}");
}

// ---------------------------------------------------------------------------
// Stream reader timeouts, under paused time

type Sender = mpsc::UnboundedSender<Result<Bytes, ProviderError>>;

/// Runs the stream reader over a channel the test feeds; the reader sees a body that
/// delivers exactly what the test sends, when it sends it.
async fn read_channel(
    timeouts: Timeouts,
    decode: EventDecoder,
    feed: impl FnOnce(Sender) + Send + 'static,
) -> Result<Completion, ProviderError> {
    let (sender, mut receiver) = mpsc::unbounded_channel();
    feed(sender);
    let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
    let deadlines = Deadlines::start(timeouts);
    read_stream(
        body,
        decode,
        StreamAccumulator::new(10),
        None,
        timeouts,
        &deadlines,
    )
    .await
}

fn short_timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(1),
        first_token: Duration::from_secs(5),
        idle: Duration::from_secs(10),
        total: Duration::from_secs(100),
    }
}

fn openai_text(text: &str) -> Bytes {
    Bytes::from(format!(
        "data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}},\"finish_reason\":null}}]}}\n\n"
    ))
}

const OPENAI_END: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

#[tokio::test(start_paused = true)]
async fn no_first_event_is_a_first_token_timeout() {
    let started = Instant::now();
    let err = read_channel(short_timeouts(), crate::openai::decode_event, |sender| {
        tokio::spawn(async move {
            // Holds the body open without sending anything.
            tokio::time::sleep(Duration::from_secs(1000)).await;
            drop(sender);
        });
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::FirstToken));
    assert!(err.is_transient());
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    let usage = err.partial_usage.unwrap();
    assert!(usage.estimated && usage.input_tokens == 10);
}

#[tokio::test(start_paused = true)]
async fn pings_before_the_first_token_do_not_count() {
    let started = Instant::now();
    let err = read_channel(short_timeouts(), crate::anthropic::decode_event, |sender| {
        tokio::spawn(async move {
            loop {
                let ping = Bytes::from_static(b"event: ping\ndata: {\"type\": \"ping\"}\n\n");
                if sender.send(Ok(ping)).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::FirstToken));
    assert_eq!(started.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn comment_lines_never_reset_the_idle_timer() {
    let started = Instant::now();
    let err = read_channel(short_timeouts(), crate::openai::decode_event, |sender| {
        tokio::spawn(async move {
            let _ = sender.send(Ok(openai_text("partial answer")));
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                if sender
                    .send(Ok(Bytes::from_static(b": keep-alive\n\n")))
                    .is_err()
                {
                    return;
                }
            }
        });
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::Idle));
    assert_eq!(started.elapsed(), Duration::from_secs(10));
    let usage = err.partial_usage.unwrap();
    assert!(usage.estimated);
    assert!(usage.output_tokens > 0, "never zero once text arrived");
}

#[tokio::test(start_paused = true)]
async fn slow_but_steady_stream_succeeds() {
    let started = Instant::now();
    let completion = read_channel(short_timeouts(), crate::openai::decode_event, |sender| {
        tokio::spawn(async move {
            for n in 0..20 {
                tokio::time::sleep(Duration::from_secs(4)).await;
                let _ = sender.send(Ok(openai_text(&format!("{n} "))));
            }
            let _ = sender.send(Ok(Bytes::from_static(OPENAI_END.as_bytes())));
        });
    })
    .await
    .unwrap();
    assert_eq!(
        started.elapsed(),
        Duration::from_secs(80),
        "longer than idle, shorter than total"
    );
    assert!(completion.text.starts_with("0 1 2 "));
    assert!(completion.text.ends_with("19 "));
}

#[tokio::test(start_paused = true)]
async fn steady_stream_past_the_total_limit_times_out() {
    let timeouts = Timeouts {
        total: Duration::from_secs(30),
        ..short_timeouts()
    };
    let started = Instant::now();
    let err = read_channel(timeouts, crate::openai::decode_event, |sender| {
        tokio::spawn(async move {
            loop {
                if sender.send(Ok(openai_text("more "))).is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        });
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::Total));
    assert_eq!(started.elapsed(), Duration::from_secs(30));
    assert!(err.partial_usage.unwrap().output_tokens > 0);
}

#[tokio::test(start_paused = true)]
async fn stream_closed_before_its_end_is_cut_not_success() {
    let err = read_channel(short_timeouts(), crate::openai::decode_event, |sender| {
        let _ = sender.send(Ok(openai_text("half an ans")));
    })
    .await
    .unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Transient, ErrorKind::StreamCut)
    );
    assert_eq!(err.status, Some(200));
    let usage = err.partial_usage.unwrap();
    assert!(usage.estimated);
    assert_eq!(usage.output_tokens, 3);
}

#[tokio::test(start_paused = true)]
async fn broken_body_mid_stream_is_cut_with_partial_usage() {
    let err = read_channel(short_timeouts(), crate::openai::decode_event, |sender| {
        let _ = sender.send(Ok(openai_text("some text")));
        let _ = sender.send(Err(ProviderError::transient(ErrorKind::StreamCut, "reset")));
    })
    .await
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::StreamCut);
    assert!(err.partial_usage.unwrap().output_tokens > 0);
}

#[tokio::test(start_paused = true)]
async fn finish_reason_without_done_marker_ends_cleanly() {
    let completion = read_channel(short_timeouts(), crate::openai::decode_event, |sender| {
        let _ = sender.send(Ok(openai_text("all")));
        let end = OPENAI_END.replace("data: [DONE]\n\n", "");
        let _ = sender.send(Ok(Bytes::from(end)));
    })
    .await
    .unwrap();
    assert_eq!(completion.text, "all");
    // No usage chunk came: the usage is an estimate, never zero.
    assert!(completion.usage.estimated);
    assert_eq!(completion.usage.input_tokens, 10);
    assert_eq!(completion.usage.output_tokens, 1);
}

#[tokio::test(start_paused = true)]
async fn deltas_reach_the_caller_as_they_arrive() {
    let (sender, mut receiver) = mpsc::unbounded_channel::<Result<Bytes, ProviderError>>();
    let (delta_sender, mut delta_receiver) = mpsc::unbounded_channel::<String>();
    let timeouts = short_timeouts();
    let reader = tokio::spawn(async move {
        let body = futures_util::stream::poll_fn(move |cx| receiver.poll_recv(cx));
        let deadlines = Deadlines::start(timeouts);
        let accumulator = StreamAccumulator::new(1);
        read_stream(
            body,
            crate::openai::decode_event,
            accumulator,
            Some(&delta_sender),
            timeouts,
            &deadlines,
        )
        .await
    });
    sender.send(Ok(openai_text("Hel"))).unwrap();
    assert_eq!(delta_receiver.recv().await.as_deref(), Some("Hel"));
    sender.send(Ok(openai_text("lo"))).unwrap();
    assert_eq!(delta_receiver.recv().await.as_deref(), Some("lo"));
    sender
        .send(Ok(Bytes::from_static(OPENAI_END.as_bytes())))
        .unwrap();
    assert_eq!(reader.await.unwrap().unwrap().text, "Hello");
}

#[test]
fn rate_limit_figures_are_read_from_a_recorded_openai_200() {
    let exchange = read_fixture_json("openai/chat/exchange-nonstream-with-ratelimit-headers.json");
    let limits = vendor_limits(&recorded_headers(&exchange), SystemTime::now()).unwrap();
    assert_eq!(
        limits,
        VendorLimits {
            remaining_requests: Some(4999),
            remaining_tokens: Some(799_986),
            reset_requests: Some(Duration::from_millis(12)),
            reset_tokens: Some(Duration::from_millis(1)),
        }
    );
}

#[test]
fn rate_limit_figures_are_read_from_a_recorded_anthropic_200() {
    let exchange = read_fixture_json("anthropic/exchange-nonstream-with-ratelimit-headers.json");
    let now = at("2025-08-21T12:40:50Z");
    let limits = vendor_limits(&recorded_headers(&exchange), now).unwrap();
    assert_eq!(
        limits,
        VendorLimits {
            remaining_requests: Some(999),
            remaining_tokens: Some(96_000),
            reset_requests: Some(Duration::from_secs(9)),
            reset_tokens: Some(Duration::from_secs(9)),
        }
    );
}

#[test]
fn a_response_without_rate_limit_headers_has_no_figures() {
    assert_eq!(vendor_limits(&HeaderMap::new(), SystemTime::now()), None);
}
