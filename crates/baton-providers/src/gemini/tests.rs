//! Tests for the `gemini` adapter: encoding, URLs and headers, and decoding every
//! recorded `generateContent` body and stream.

use baton_core::status::CallKind;
use baton_core::usage::Usage;
use baton_testkit::fixtures::read_fixture_json;
use serde_json::json;

use super::*;
use crate::http::{replay_fixture, replay_text};
use crate::provider::{ErrorClass, JsonSchemaFormat, Message};

fn request() -> CompletionRequest {
    CompletionRequest {
        model: "gemini-2.5-flash".to_owned(),
        kind: CallKind::Plan,
        system: Some("Plan well.".into()),
        messages: vec![
            Message::user("Hi"),
            Message::assistant("Hello"),
            Message::user("Plan it"),
        ],
        max_output_tokens: 2048,
        temperature: Some(0.5),
        json_schema: Some(JsonSchemaFormat {
            name: "plan".to_owned(),
            schema: json!({"type": "object", "additionalProperties": false}),
        }),
        seed: Some(u64::MAX),
        stream: false,
    }
}

fn usage(input: u64, output: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: 0,
        reasoning_tokens: reasoning,
        estimated: false,
    }
}

fn provider(base: &str, key: Option<&str>) -> GeminiProvider {
    let config = GeminiConfig::new(base, "GEMINI_BASE_URL", key.map(SecretString::from)).unwrap();
    GeminiProvider::new(config).unwrap()
}

#[test]
fn request_has_contents_system_instruction_and_json_schema() {
    let body = serde_json::to_value(encode(&request())).unwrap();
    assert_eq!(
        body,
        json!({
            "contents": [
                {"role": "user", "parts": [{"text": "Hi"}]},
                {"role": "model", "parts": [{"text": "Hello"}]},
                {"role": "user", "parts": [{"text": "Plan it"}]}
            ],
            "systemInstruction": {"parts": [{"text": "Plan well."}]},
            "generationConfig": {
                "maxOutputTokens": 2048,
                "temperature": 0.5,
                "seed": (u64::MAX % (1 << 31)),
                "responseMimeType": "application/json",
                "responseJsonSchema": {"type": "object", "additionalProperties": false}
            }
        })
    );
}

#[test]
fn urls_name_the_model_and_never_the_key() {
    let provider = provider(
        "https://proxy.example/google/",
        Some("AIzaSECRETSECRETSECRET"),
    );
    let mut request = request();
    request.model = "models/gemini-2.5-pro".to_owned();
    let plain = provider.call(&request, Vec::new()).unwrap();
    assert_eq!(
        plain.url.as_str(),
        "https://proxy.example/google/v1beta/models/gemini-2.5-pro:generateContent"
    );
    request.stream = true;
    let streamed = provider.call(&request, Vec::new()).unwrap();
    assert_eq!(
        streamed.url.as_str(),
        "https://proxy.example/google/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    );
    assert!(streamed.headers["x-goog-api-key"].is_sensitive());
    assert!(!streamed.url.as_str().contains("SECRET"));
    assert!(!format!("{provider:?}").contains("SECRET"));
}

#[test]
fn config_errors_name_the_setting() {
    let err = GeminiConfig::new("file:///tmp", "GEMINI_BASE_URL", None).unwrap_err();
    assert!(err.to_string().starts_with("GEMINI_BASE_URL "), "{err}");
}

#[test]
fn decodes_text_with_thinking_tokens_counted_as_output() {
    let response =
        serde_json::from_value(read_fixture_json("gemini/generate-content-text.json")).unwrap();
    let completion = decode(response).unwrap();
    assert_eq!(
        completion.text,
        "There are **3** r's in strawberry.\n\nHere is the breakdown: st**r**awbe**rr**y."
    );
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, usage(9, 28 + 244, 244));
    assert_eq!(completion.model.as_deref(), Some("gemini-3-pro-preview"));
}

#[test]
fn decodes_a_function_call() {
    let response = serde_json::from_value(read_fixture_json(
        "gemini/generate-content-function-call.json",
    ))
    .unwrap();
    let completion = decode(response).unwrap();
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(completion.tool_calls.len(), 1);
    assert_eq!(completion.tool_calls[0].name, "weather");
    let args: serde_json::Value =
        serde_json::from_str(&completion.tool_calls[0].arguments).unwrap();
    assert_eq!(args, json!({"location": "San Francisco"}));
    assert_eq!(completion.usage, usage(29, 15 + 893, 893));
}

#[test]
fn blocked_prompt_is_a_content_policy_error() {
    let response =
        serde_json::from_value(json!({"promptFeedback": {"blockReason": "SAFETY"}})).unwrap();
    let err = decode(response).unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::ContentPolicy)
    );
}

#[test]
fn thought_summaries_are_not_output_text() {
    let response = serde_json::from_value(json!({"candidates": [{"content": {"parts": [
        {"text": "thinking…", "thought": true}, {"text": "answer"}
    ]}, "finishReason": "MAX_TOKENS"}]}))
    .unwrap();
    let completion = decode(response).unwrap();
    assert_eq!(
        (completion.text.as_str(), completion.finish_reason),
        ("answer", FinishReason::Length)
    );
    assert!(completion.usage.estimated);
}

#[tokio::test]
async fn text_stream_uses_the_last_running_usage() {
    let completion = replay_fixture("gemini/stream-text.chunks.jsonl", decode_event)
        .await
        .unwrap();
    assert_eq!(
        completion.text,
        "There are **3** \"r\"s in strawberry.\n\nst**r**awbe**rr**y"
    );
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, usage(9, 23 + 185, 185));
}

#[tokio::test]
async fn function_call_stream_decodes_the_whole_call() {
    let mut completion = replay_fixture("gemini/stream-function-call.chunks.jsonl", decode_event)
        .await
        .unwrap();
    assert_eq!(completion.text, "");
    assert_eq!(completion.tool_calls.len(), 1);
    assert_eq!(
        completion.tool_calls[0].arguments,
        "{\"location\":\"San Francisco\"}"
    );
    assert_eq!(completion.usage, usage(29, 15 + 45, 45));
    // The stream says STOP; the adapter maps STOP with calls to ToolCalls.
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    tool_calls_finish(&mut completion);
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
}

#[tokio::test]
async fn stream_without_finish_reason_is_cut_with_running_usage() {
    let events = baton_testkit::fixtures::fixture_events("gemini/stream-text.chunks.jsonl");
    let text: String = events[..2].iter().map(|e| format!("{e}\n\n")).collect();
    let err = replay_text(&text, decode_event).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::StreamCut);
    let partial = err.partial_usage.unwrap();
    assert_eq!(
        (
            partial.input_tokens,
            partial.output_tokens,
            partial.estimated
        ),
        (9, 23 + 185, true)
    );
}

#[tokio::test]
async fn error_chunk_inside_the_stream_keeps_its_retry_delay() {
    let error = read_fixture_json("gemini/error-429-resource-exhausted.json");
    let text = format!("data: {error}\n\n");
    let err = replay_text(&text, decode_event).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
    assert_eq!(
        err.retry_after,
        Some(std::time::Duration::from_millis(34_400))
    );
}
