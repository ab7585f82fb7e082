//! The `openai` adapter over HTTP: what it sends, and recorded answers replayed.

use std::time::Duration;

use baton_providers::openai::{OpenAiConfig, OpenAiProvider, Preset};
use baton_providers::provider::{ErrorClass, ErrorKind, FinishReason, Provider};
use baton_testkit::{FakeVendor, Response, Vendor, response};

use crate::support::{KEY, assert_no_key, call, openai, request, timeouts};

#[tokio::test]
async fn sends_bearer_key_and_chat_completions_body() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let completion = call(&openai(&fake, timeouts()), true).await.unwrap();
    assert_eq!(completion.text, "Hello from the fake OpenAI.");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let sent = &requests[0];
    assert_eq!(
        (sent.method.as_str(), sent.path.as_str()),
        ("POST", "/v1/chat/completions")
    );
    assert_eq!(
        sent.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(sent.header("content-type"), Some("application/json"));
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    let body = sent.json().unwrap();
    assert_eq!(body["model"], "test-model");
    assert_eq!(body["max_completion_tokens"], 64);
    assert!(body.get("max_tokens").is_none());
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(
        body["messages"][0],
        serde_json::json!({"role": "system", "content": "You are terse."})
    );
    // The fake reported usage in its final chunk because it was asked to.
    assert!(!completion.usage.estimated);
}

#[tokio::test]
async fn local_server_without_a_key_gets_no_authorization_header() {
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    let config = OpenAiConfig::new(
        "ollama",
        &fake.base_url(),
        "providers.ollama.base_url",
        None,
    )
    .unwrap()
    .with_profile(Preset::Ollama.profile())
    .with_timeouts(timeouts());
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(provider.name(), "ollama");
    call(&provider, false).await.unwrap();
    let sent = &fake.requests()[0];
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.json().unwrap()["max_tokens"], 64);
}

#[tokio::test]
async fn proxy_path_prefix_is_kept() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let config = OpenAiConfig::new(
        "openai",
        &format!("{}/team-a/openai/v1/", fake.url()),
        "OPENAI_BASE_URL",
        Some(KEY.into()),
    )
    .unwrap();
    call(&OpenAiProvider::new(config).unwrap(), false)
        .await
        .unwrap();
    assert_eq!(
        fake.requests()[0].path,
        "/team-a/openai/v1/chat/completions"
    );
}

#[tokio::test]
async fn recorded_plain_answers_decode_over_http() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(&fake, timeouts());
    fake.enqueue(Response::fixture_json(
        "openai/chat/nonstream-parallel-tool-calls.json",
    ));
    let tools = call(&provider, false).await.unwrap();
    assert_eq!(tools.finish_reason, FinishReason::ToolCalls);
    assert_eq!(tools.tool_calls.len(), 2);

    fake.enqueue(Response::fixture_exchange(
        "openai/chat/exchange-nonstream-with-ratelimit-headers.json",
        0,
    ));
    let text = call(&provider, false).await.unwrap();
    assert_eq!(text.text, "Hello! How can I help you today?");
    assert_eq!(
        (text.usage.input_tokens, text.usage.output_tokens),
        (20, 18)
    );

    for exchange in [
        "openai-compatible/groq-exchange-nonstream.json",
        "openai-compatible/deepseek-exchange-nonstream.json",
        "openai-compatible/mistral-exchange-nonstream.json",
        "openai-compatible/perplexity-exchange-nonstream.json",
    ] {
        fake.enqueue(Response::fixture_exchange(exchange, 0));
        let completion = call(&provider, false).await.unwrap();
        assert!(
            !completion.text.is_empty() && !completion.usage.estimated,
            "{exchange}"
        );
    }
}

#[tokio::test]
async fn recorded_streams_decode_over_http() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(&fake, timeouts());
    fake.enqueue(
        Response::fixture_stream("openai/chat/stream-parallel-tool-calls.sse").split_every(7),
    );
    let completion = call(&provider, true).await.unwrap();
    assert_eq!(completion.tool_calls.len(), 2);
    assert_eq!(
        completion.tool_calls[1].arguments,
        "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}"
    );
    assert_eq!(
        (
            completion.usage.input_tokens,
            completion.usage.output_tokens
        ),
        (149, 60)
    );
}

#[tokio::test]
async fn rate_limit_headers_become_the_retry_hint() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(response::rate_limited(Vendor::OpenAi));
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone(), err.status),
        (ErrorClass::Transient, ErrorKind::RateLimited, Some(429))
    );
    // Requests are exhausted (reset in 1s); tokens are not (6m0s) and do not count.
    assert_eq!(err.retry_after, Some(Duration::from_secs(1)));
}

#[tokio::test]
async fn retry_after_header_wins_over_reset_durations() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(response::rate_limited(Vendor::OpenAi).with_header("retry-after", "3"));
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(err.retry_after, Some(Duration::from_secs(3)));
}

#[tokio::test]
async fn insufficient_quota_is_not_retried() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(
        Response::fixture_json("openai/responses/error-429-insufficient-quota.json")
            .with_status(429),
    );
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Permanent, ErrorKind::QuotaExhausted)
    );
    assert_no_key(&err);
}

#[tokio::test]
async fn unsupported_parameter_400_reports_the_vendor_message() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(
        Response::fixture_json("openai/chat/error-400-unsupported-parameter.json").with_status(400),
    );
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Permanent, ErrorKind::BadRequest)
    );
    assert!(
        err.message.contains("'max_tokens' is not supported"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn error_event_inside_a_200_stream_is_transient() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(
        Response::fixture_stream("openai/chat/stream-text-with-usage.sse")
            .truncate_events(4)
            .then_event(response::error_event(
                Vendor::OpenAi,
                "server_error",
                "The server had an error",
            )),
    );
    let err = call(&openai(&fake, timeouts()), true).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone(), err.status),
        (ErrorClass::Transient, ErrorKind::StreamError, Some(200))
    );
    assert!(err.partial_usage.unwrap().output_tokens > 0);
}

#[tokio::test]
async fn missing_key_is_a_permanent_auth_error() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let config = OpenAiConfig::new("openai", &fake.base_url(), "OPENAI_BASE_URL", None).unwrap();
    let err = call(&OpenAiProvider::new(config).unwrap(), false)
        .await
        .unwrap_err();
    assert_eq!(
        (err.class, err.kind, err.status),
        (ErrorClass::Permanent, ErrorKind::Auth, Some(401))
    );
}

#[tokio::test]
async fn unknown_model_404_is_permanent() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::json(
        404,
        serde_json::json!({"error": {"message": "The model `nope` does not exist", "type": "invalid_request_error", "code": "model_not_found"}}),
    ));
    let err = openai(&fake, timeouts())
        .complete(&request(false), None)
        .await
        .unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::NotFound)
    );
}
