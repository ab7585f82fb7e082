//! The `gemini` adapter over HTTP.

use std::time::Duration;

use baton_providers::provider::{ErrorClass, ErrorKind, FinishReason};
use baton_testkit::{FakeVendor, Response, Vendor, response};

use crate::support::{KEY, assert_no_key, call, gemini, timeouts};

#[tokio::test]
async fn key_travels_in_the_header_never_the_url() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    let provider = gemini(&fake, timeouts());
    call(&provider, false).await.unwrap();
    call(&provider, true).await.unwrap();
    let requests = fake.requests();
    assert_eq!(
        requests[0].path,
        "/v1beta/models/test-model:generateContent"
    );
    assert_eq!(requests[0].query, None);
    assert_eq!(
        requests[1].path,
        "/v1beta/models/test-model:streamGenerateContent"
    );
    assert_eq!(requests[1].query.as_deref(), Some("alt=sse"));
    for sent in &requests {
        assert_eq!(sent.header("x-goog-api-key"), Some(KEY));
        assert_eq!(sent.header("authorization"), None);
        assert!(!sent.query.as_deref().unwrap_or("").contains(KEY));
    }
    let body = requests[0].json().unwrap();
    assert_eq!(
        body["systemInstruction"]["parts"][0]["text"],
        "You are terse."
    );
    assert_eq!(body["generationConfig"]["maxOutputTokens"], 64);
}

#[tokio::test]
async fn default_answers_decode_whole_and_streamed() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    let provider = gemini(&fake, timeouts());
    let whole = call(&provider, false).await.unwrap();
    let streamed = call(&provider, true).await.unwrap();
    assert_eq!(whole.text, "Hello from the fake Gemini.");
    assert_eq!(streamed.text, whole.text);
    assert_eq!(streamed.usage, whole.usage);
}

#[tokio::test]
async fn recorded_streams_decode_over_http_with_crlf() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    let provider = gemini(&fake, timeouts());
    fake.enqueue(
        Response::fixture_stream("gemini/stream-text.chunks.jsonl")
            .crlf()
            .split_every(6),
    );
    let text = call(&provider, true).await.unwrap();
    assert_eq!(
        text.text,
        "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y"
    );
    assert_eq!(
        (
            text.usage.input_tokens,
            text.usage.output_tokens,
            text.usage.reasoning_tokens
        ),
        (9, 208, 185)
    );

    fake.enqueue(Response::fixture_stream(
        "gemini/stream-function-call.chunks.jsonl",
    ));
    let tools = call(&provider, true).await.unwrap();
    assert_eq!(tools.finish_reason, FinishReason::ToolCalls);
    assert_eq!(tools.tool_calls[0].name, "weather");

    fake.enqueue(Response::fixture_json(
        "gemini/generate-content-function-call.json",
    ));
    let whole = call(&provider, false).await.unwrap();
    assert_eq!(whole.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn resource_exhausted_carries_its_retry_delay() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    fake.enqueue(response::rate_limited(Vendor::Gemini));
    let err = call(&gemini(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone(), err.status),
        (ErrorClass::Transient, ErrorKind::RateLimited, Some(429))
    );
    assert_eq!(err.retry_after, Some(Duration::from_millis(34_400)));
    assert_no_key(&err);
}

#[tokio::test]
async fn stream_closed_before_the_finish_reason_is_cut() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    fake.enqueue(Response::fixture_stream("gemini/stream-text.chunks.jsonl").close_after(2));
    let err = call(&gemini(&fake, timeouts()), true).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Transient, ErrorKind::StreamCut)
    );
    let usage = err.partial_usage.unwrap();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.estimated),
        (9, 208, true)
    );
}

#[tokio::test]
async fn error_chunk_inside_a_200_stream_is_transient() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    fake.enqueue(
        Response::fixture_stream("gemini/stream-text.chunks.jsonl")
            .truncate_events(1)
            .then_event(response::error_event(
                Vendor::Gemini,
                "INTERNAL",
                "An internal error has occurred.",
            )),
    );
    let err = call(&gemini(&fake, timeouts()), true).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
    assert_eq!(err.message, "INTERNAL: An internal error has occurred.");
}
