//! Tests for the `anthropic` adapter: encoding against the recorded SDK requests, and
//! decoding every recorded Messages body and stream.

use baton_core::status::CallKind;
use baton_core::usage::Usage;
use baton_testkit::fixtures::read_fixture_json;
use serde_json::json;

use super::*;
use crate::http::{replay_fixture, replay_text};
use crate::provider::{ErrorClass, JsonSchemaFormat, Message};

fn request(content: &str, schema: serde_json::Value) -> CompletionRequest {
    CompletionRequest {
        model: "claude-sonnet-4-5".to_owned(),
        kind: CallKind::Task,
        system: None,
        messages: vec![Message::user(content)],
        max_output_tokens: 1024,
        temperature: None,
        json_schema: Some(JsonSchemaFormat {
            name: "output".to_owned(),
            schema,
        }),
        seed: Some(7),
        stream: false,
    }
}

fn usage(input: u64, output: u64, cached: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_tokens: 0,
        estimated: false,
    }
}

#[test]
fn structured_request_matches_the_recorded_sdk_body() {
    let recorded = read_fixture_json("anthropic/exchange-nonstream-structured-output.json");
    let recorded = &recorded[0]["request"]["body"];
    let content = recorded["messages"][0]["content"].as_str().unwrap();
    let schema = recorded["output_config"]["format"]["schema"].clone();
    let body = serde_json::to_value(encode(&request(content, schema))).unwrap();
    assert_eq!(&body, recorded);
}

#[test]
fn streaming_request_matches_the_recorded_sdk_body() {
    let recorded = read_fixture_json("anthropic/exchange-429-429-then-stream.json");
    let recorded = &recorded[0]["request"]["body"];
    let content = recorded["messages"][0]["content"].as_str().unwrap();
    let schema = recorded["output_config"]["format"]["schema"].clone();
    let mut request = request(content, schema);
    request.stream = true;
    assert_eq!(&serde_json::to_value(encode(&request)).unwrap(), recorded);
}

#[test]
fn system_prompt_is_top_level_and_temperature_is_clamped() {
    let request = CompletionRequest {
        system: Some("Be brief.".into()),
        messages: vec![
            Message::user("Hi"),
            Message::assistant("Hello"),
            Message::user("Again"),
        ],
        temperature: Some(1.4),
        json_schema: None,
        ..request("x", json!({}))
    };
    let body = serde_json::to_value(encode(&request)).unwrap();
    assert_eq!(body["system"], "Be brief.");
    assert_eq!(body["temperature"], json!(1.0));
    assert_eq!(
        body["messages"][1],
        json!({"role": "assistant", "content": "Hello"})
    );
    assert_eq!(body["max_tokens"], json!(1024));
    assert!(body.get("seed").is_none() && body.get("output_config").is_none());
}

#[test]
fn headers_carry_the_key_and_version() {
    let key = SecretString::from("sk-ant-SECRET");
    let config = AnthropicConfig::new(
        "https://proxy.example/anthropic/",
        "ANTHROPIC_BASE_URL",
        Some(key),
    )
    .unwrap();
    let provider = AnthropicProvider::new(config.clone()).unwrap();
    assert_eq!(
        provider.url.as_str(),
        "https://proxy.example/anthropic/v1/messages"
    );
    let headers = provider.headers(true).unwrap();
    assert_eq!(headers["anthropic-version"], "2023-06-01");
    assert!(headers["x-api-key"].is_sensitive());
    assert_eq!(headers["accept"], "text/event-stream");
    for shown in [
        format!("{config:?}"),
        format!("{provider:?}"),
        format!("{headers:?}"),
    ] {
        assert!(!shown.contains("SECRET"), "{shown}");
    }
    assert_eq!(provider.name(), "anthropic");
}

#[test]
fn config_errors_name_the_setting() {
    let err = AnthropicConfig::new("https://u:p@api.anthropic.com", "ANTHROPIC_BASE_URL", None)
        .unwrap_err();
    assert!(err.to_string().starts_with("ANTHROPIC_BASE_URL "), "{err}");
}

#[test]
fn decodes_the_recorded_text_answer() {
    let recorded = read_fixture_json("anthropic/exchange-nonstream-with-ratelimit-headers.json");
    let completion = decode(serde_json::from_value(recorded["response"]["body"].clone()).unwrap());
    assert_eq!(
        completion.text,
        "Hello! How can I assist you today? Is there anything specific you'd like to know or discuss?"
    );
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, usage(16, 24, 0));
    assert_eq!(
        completion.model.as_deref(),
        Some("claude-3-5-sonnet-20240620")
    );
}

#[test]
fn decodes_the_recorded_structured_answer() {
    let recorded = read_fixture_json("anthropic/exchange-nonstream-structured-output.json");
    let completion =
        decode(serde_json::from_value(recorded[0]["response"]["body"].clone()).unwrap());
    let parsed: serde_json::Value = serde_json::from_str(&completion.text).unwrap();
    assert_eq!(
        parsed,
        json!({"product_name": "Green Tea", "price": 5.50, "quantity": 2})
    );
    assert_eq!(completion.usage, usage(249, 26, 0));
}

#[test]
fn cached_prompt_tokens_count_as_input() {
    let response: wire::MessageResponse = serde_json::from_value(json!({
        "content": [{"type": "text", "text": "ok"}, {"type": "thinking", "thinking": "hmm"},
                    {"type": "tool_use", "id": "t1", "name": "f", "input": {"a": 1}}],
        "stop_reason": "tool_use",
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 100, "output_tokens": 3}
    }))
    .unwrap();
    let completion = decode(response);
    assert_eq!(completion.usage, usage(115, 3, 100));
    assert_eq!(completion.text, "ok");
    assert_eq!(completion.tool_calls[0].arguments, "{\"a\":1}");
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn text_stream_with_ping_decodes() {
    let completion = replay_fixture("anthropic/stream-text.sse", decode_event)
        .await
        .unwrap();
    assert_eq!(completion.text, "Hello there!");
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, usage(11, 6, 0));
    assert_eq!(completion.model.as_deref(), Some("claude-3-opus-latest"));
}

#[tokio::test]
async fn tool_use_stream_accumulates_input_json() {
    let completion = replay_fixture("anthropic/stream-tool-use.sse", decode_event)
        .await
        .unwrap();
    assert_eq!(
        completion.text,
        "I'll check the current weather in Paris for you."
    );
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        completion.tool_calls,
        vec![ToolCall {
            id: "toolu_01NRLabsLyVHZPKxbKvkfSMn".to_owned(),
            name: "get_weather".to_owned(),
            arguments: "{\"location\": \"Paris\"}".to_owned(),
        }]
    );
    assert_eq!(completion.usage, usage(377, 65, 0));
}

#[tokio::test]
async fn max_tokens_stream_with_padded_data_keeps_the_cut_tool_input() {
    let completion = replay_fixture("anthropic/stream-max-tokens-padded-data.sse", decode_event)
        .await
        .unwrap();
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert!(completion.text.ends_with("Let me do that for you now."));
    let call = &completion.tool_calls[0];
    assert_eq!(call.name, "make_file");
    assert!(
        call.arguments
            .starts_with("{\"filename\": \"taxes.txt\", \"lines_of_text\": [\n")
    );
    assert!(call.arguments.ends_with("\n\"Filing taxes"));
    assert_eq!(completion.usage, usage(450, 124, 0));
}

#[tokio::test]
async fn tool_with_no_arguments_gets_an_empty_object() {
    let completion = replay_fixture(
        "anthropic/stream-tool-use-empty-input.events.jsonl",
        decode_event,
    )
    .await
    .unwrap();
    assert_eq!(completion.text, "I'll update the issue list for you.");
    assert_eq!(completion.tool_calls[0].name, "updateIssueList");
    assert_eq!(completion.tool_calls[0].arguments, "{}");
    assert_eq!(completion.usage, usage(565, 48, 0));
}

#[tokio::test]
async fn recorded_stream_after_two_429s_decodes_with_cumulative_usage() {
    let recorded = read_fixture_json("anthropic/exchange-429-429-then-stream.json");
    let body = recorded[2]["response"]["body"].as_str().unwrap();
    let completion = replay_text(body, decode_event).await.unwrap();
    assert_eq!(completion.text, "[12345,67890]");
    assert_eq!(completion.usage, usage(135, 10, 0));
}

#[tokio::test]
async fn error_event_after_the_200_is_transient_with_partial_usage() {
    let text = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"model\":\"m\",\"content\":[],\
                \"usage\":{\"input_tokens\":42,\"output_tokens\":1}}}\n\n\
                event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\
                \"delta\":{\"type\":\"text_delta\",\"text\":\"Partial answer here\"}}\n\n\
                event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"overloaded_error\", \"message\": \"Overloaded\"}}\n\n";
    let err = replay_text(text, decode_event).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
    assert_eq!(err.message, "overloaded_error: Overloaded");
    let partial = err.partial_usage.unwrap();
    assert_eq!(
        (
            partial.input_tokens,
            partial.output_tokens,
            partial.estimated
        ),
        (42, 5, true)
    );
}

#[tokio::test]
async fn stream_without_message_stop_or_stop_reason_is_cut() {
    let full = baton_testkit::fixtures::read_fixture("anthropic/stream-text.sse");
    let cut = &full[..full.find("event: message_delta").unwrap()];
    let err = replay_text(cut, decode_event).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::StreamCut);
    let partial = err.partial_usage.unwrap();
    assert_eq!((partial.input_tokens, partial.estimated), (11, true));
}
