//! The `anthropic` adapter over HTTP.

use std::time::Duration;

use baton_providers::provider::{ErrorClass, ErrorKind, FinishReason};
use baton_testkit::{FakeVendor, Response, Vendor, response};

use crate::support::{KEY, anthropic, assert_no_key, call, timeouts};

#[tokio::test]
async fn sends_x_api_key_version_and_messages_body() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    let completion = call(&anthropic(&fake, timeouts()), true).await.unwrap();
    assert_eq!(completion.text, "Hello from the fake Anthropic.");
    let sent = &fake.requests()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    let body = sent.json().unwrap();
    assert_eq!(body["system"], "You are terse.");
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["stream"], true);
    assert!(!completion.usage.estimated);
}

#[tokio::test]
async fn recorded_retry_transcript_costs_one_request_per_call() {
    // The SDK recording: two 429s with x-should-retry, then the stream. Baton's
    // policy makes the retries; each call is one request.
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    let provider = anthropic(&fake, timeouts());
    for index in 0..3 {
        fake.enqueue(Response::fixture_exchange(
            "anthropic/exchange-429-429-then-stream.json",
            index,
        ));
    }
    for attempt in 1..=2 {
        let err = call(&provider, true).await.unwrap_err();
        assert_eq!(
            (err.class, err.kind.clone()),
            (ErrorClass::Transient, ErrorKind::RateLimited)
        );
        assert_eq!(fake.request_count(), attempt);
    }
    let completion = call(&provider, true).await.unwrap();
    assert_eq!(completion.text, "[12345,67890]");
    assert_eq!(
        (
            completion.usage.input_tokens,
            completion.usage.output_tokens
        ),
        (135, 10)
    );
    assert_eq!(fake.request_count(), 3);
}

#[tokio::test]
async fn rate_limit_retry_after_is_read() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    fake.enqueue(response::rate_limited(Vendor::Anthropic));
    let err = call(&anthropic(&fake, timeouts()), false)
        .await
        .unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(7)));
}

#[tokio::test]
async fn overloaded_529_is_transient() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    fake.enqueue(response::overloaded());
    let err = call(&anthropic(&fake, timeouts()), true).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone(), err.status),
        (ErrorClass::Transient, ErrorKind::Overloaded, Some(529))
    );
    assert_eq!(err.message, "overloaded_error: Overloaded");
}

#[tokio::test]
async fn error_event_after_the_200_is_transient_and_keeps_partial_usage() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    fake.enqueue(
        Response::fixture_stream("anthropic/stream-tool-use.sse")
            .truncate_events(5)
            .then_event(response::error_event(
                Vendor::Anthropic,
                "overloaded_error",
                "Overloaded",
            )),
    );
    let err = call(&anthropic(&fake, timeouts()), true).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
    let usage = err.partial_usage.unwrap();
    assert_eq!(
        usage.input_tokens, 377,
        "the vendor's input count from message_start"
    );
    assert!(usage.estimated && usage.output_tokens > 1);
}

#[tokio::test]
async fn padded_crlf_stream_in_small_pieces_decodes() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    fake.enqueue(
        Response::fixture_stream("anthropic/stream-max-tokens-padded-data.sse")
            .crlf()
            .split_every(4)
            .with_comments(),
    );
    let completion = call(&anthropic(&fake, timeouts()), true).await.unwrap();
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(
        (
            completion.usage.input_tokens,
            completion.usage.output_tokens
        ),
        (450, 124)
    );
}

#[tokio::test]
async fn pings_alone_do_not_keep_a_stalled_stream_alive() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    let ping = "event: ping\ndata: {\"type\": \"ping\"}";
    let mut events: Vec<String> =
        baton_testkit::fixtures::fixture_events("anthropic/stream-text.sse")[..4].to_vec();
    events.extend(std::iter::repeat_n(ping.to_owned(), 200));
    fake.enqueue(Response::events(events).event_interval(Duration::from_millis(50)));
    let provider = anthropic(
        &fake,
        baton_providers::http::Timeouts {
            idle: Duration::from_millis(400),
            ..timeouts()
        },
    );
    let err = call(&provider, true).await.unwrap_err();
    assert_eq!(
        err.kind,
        ErrorKind::Timeout(baton_providers::provider::TimeoutKind::Idle)
    );
}

#[tokio::test]
async fn invalid_request_is_permanent_and_keyless() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    fake.enqueue(
        Response::fixture_json("anthropic/error-400-invalid-request.json").with_status(400),
    );
    let err = call(&anthropic(&fake, timeouts()), false)
        .await
        .unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Permanent, ErrorKind::BadRequest)
    );
    assert!(err.message.starts_with("invalid_request_error: "));
    assert_no_key(&err);
}
