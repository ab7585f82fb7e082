//! Tests for the `openai` adapter: encoding per profile, and decoding every recorded
//! Chat Completions (and compatible-server) body and stream.

use baton_core::status::CallKind;
use baton_core::usage::Usage;
use baton_testkit::fixtures::read_fixture_json;
use serde_json::json;

use super::*;
use crate::http::replay_fixture;
use crate::provider::{ErrorClass, JsonSchemaFormat, Message};

fn request() -> CompletionRequest {
    CompletionRequest {
        model: "gpt-4o-mini".to_owned(),
        kind: CallKind::Task,
        system: Some("Be brief.".into()),
        messages: vec![
            Message::user("Hi"),
            Message::assistant("Hello"),
            Message::user("Again"),
        ],
        max_output_tokens: 256,
        temperature: Some(0.7),
        json_schema: None,
        seed: Some(42),
        stream: false,
    }
}

/// The body as it goes on the wire (serialised to bytes, where an `f32` such as 0.7
/// is written as `0.7`), read back.
fn encoded(request: &CompletionRequest, profile: OpenAiProfile) -> serde_json::Value {
    serde_json::from_slice(&serde_json::to_vec(&encode(request, &profile)).unwrap()).unwrap()
}

fn body(path: &str) -> wire::ChatResponse {
    let value = read_fixture_json(path);
    let body = if value.get("response").is_some() {
        value["response"]["body"].clone()
    } else {
        value
    };
    serde_json::from_value(body).unwrap()
}

fn usage(input: u64, output: u64, cached: u64, reasoning: u64) -> Usage {
    Usage {
        input_tokens: input,
        output_tokens: output,
        cached_input_tokens: cached,
        reasoning_tokens: reasoning,
        estimated: false,
    }
}

// ---------------------------------------------------------------------------
// encode

#[test]
fn openai_request_uses_max_completion_tokens_and_a_system_message() {
    let body = encoded(&request(), OpenAiProfile::OPENAI);
    assert_eq!(
        body,
        json!({
            "model": "gpt-4o-mini",
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "Again"}
            ],
            "max_completion_tokens": 256,
            "temperature": 0.7,
            "seed": 42
        })
    );
}

#[test]
fn streaming_request_asks_for_usage() {
    let mut request = request();
    request.stream = true;
    let body = encoded(&request, OpenAiProfile::OPENAI);
    assert_eq!(body["stream"], json!(true));
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}

#[test]
fn structured_output_is_a_json_schema_response_format() {
    let mut request = request();
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    request.json_schema = Some(JsonSchemaFormat {
        name: "plan".to_owned(),
        schema: schema.clone(),
    });
    let body = encoded(&request, OpenAiProfile::OPENAI);
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}})
    );
    assert_eq!(body["messages"][0]["content"], "Be brief.");
}

#[test]
fn json_object_servers_get_the_schema_in_the_system_prompt() {
    let mut request = request();
    request.json_schema = Some(JsonSchemaFormat {
        name: "x".to_owned(),
        schema: json!({"type": "array"}),
    });
    let body = encoded(&request, Preset::DeepSeek.profile());
    assert_eq!(body["response_format"], json!({"type": "json_object"}));
    let system = body["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.starts_with("Be brief.\n\nAnswer with a single JSON value"),
        "{system}"
    );
    assert!(system.contains("{\"type\":\"array\"}"), "{system}");
    assert!(body.get("seed").is_none(), "DeepSeek takes no seed");
}

#[test]
fn compatible_profiles_rename_or_drop_parameters() {
    let mut request = request();
    request.stream = true;
    let mistral = encoded(&request, Preset::Mistral.profile());
    assert_eq!(mistral["random_seed"], json!(42));
    assert!(mistral.get("seed").is_none());
    assert_eq!(mistral["max_tokens"], json!(256));
    assert!(mistral.get("max_completion_tokens").is_none());
    assert!(mistral.get("stream_options").is_none());

    let perplexity = encoded(&request, Preset::Perplexity.profile());
    assert!(perplexity.get("seed").is_none() && perplexity.get("random_seed").is_none());

    let ollama = encoded(&request, Preset::Ollama.profile());
    assert_eq!(ollama["max_tokens"], json!(256));
    assert_eq!(ollama["stream_options"], json!({"include_usage": true}));

    let no_schema = OpenAiProfile {
        structured_output: StructuredOutput::Unsupported,
        ..OpenAiProfile::OPENAI
    };
    request.json_schema = Some(JsonSchemaFormat {
        name: "x".to_owned(),
        schema: json!({}),
    });
    assert!(
        encoded(&request, no_schema)
            .get("response_format")
            .is_none()
    );
}

/// What one preset sends, from its vendor's documentation: no request to any of
/// these servers is recorded (Groq's recording is a response only).
struct PresetQuirks {
    preset: Preset,
    base_url: &'static str,
    /// The name the output-token limit goes by.
    limit_field: &'static str,
    /// Whether the server needs a key.
    requires_api_key: bool,
}

#[test]
fn presets_send_their_documented_parameters() {
    let cases = [
        PresetQuirks {
            preset: Preset::Groq,
            base_url: "https://api.groq.com/openai/v1",
            limit_field: "max_completion_tokens",
            requires_api_key: true,
        },
        PresetQuirks {
            preset: Preset::Xai,
            base_url: "https://api.x.ai/v1",
            limit_field: "max_completion_tokens",
            requires_api_key: true,
        },
        PresetQuirks {
            preset: Preset::Vllm,
            base_url: "http://localhost:8000/v1",
            limit_field: "max_tokens",
            requires_api_key: false,
        },
        PresetQuirks {
            preset: Preset::LmStudio,
            base_url: "http://localhost:1234/v1",
            limit_field: "max_tokens",
            requires_api_key: false,
        },
        PresetQuirks {
            preset: Preset::OpenRouter,
            base_url: "https://openrouter.ai/api/v1",
            limit_field: "max_tokens",
            requires_api_key: true,
        },
        PresetQuirks {
            preset: Preset::Together,
            base_url: "https://api.together.xyz/v1",
            limit_field: "max_tokens",
            requires_api_key: true,
        },
    ];
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}}});
    let mut request = request();
    request.stream = true;
    request.json_schema = Some(JsonSchemaFormat {
        name: "plan".to_owned(),
        schema: schema.clone(),
    });
    for case in cases {
        let name = case.preset.name();
        let profile = case.preset.profile();
        let body = encoded(&request, profile);
        let other_limit = if case.limit_field == "max_tokens" {
            "max_completion_tokens"
        } else {
            "max_tokens"
        };
        assert_eq!(body[case.limit_field], json!(256), "{name}: {body}");
        assert!(body.get(other_limit).is_none(), "{name}: {body}");
        assert_eq!(
            body["seed"],
            json!(42),
            "{name}: the seed is sent as `seed`"
        );
        assert!(body.get("random_seed").is_none(), "{name}");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "plan", "schema": schema}}),
            "{name}: the schema goes in response_format"
        );
        assert_eq!(
            body["messages"][0]["content"], "Be brief.",
            "{name}: and not into the system prompt"
        );
        assert_eq!(
            body["stream_options"],
            json!({"include_usage": true}),
            "{name}: a stream asks for its usage"
        );
        assert_eq!(profile.requires_api_key, case.requires_api_key, "{name}");
        assert_eq!(case.preset.default_base_url(), case.base_url, "{name}");
        let provider =
            OpenAiProvider::new(OpenAiConfig::preset(case.preset, None).unwrap()).unwrap();
        assert_eq!(
            provider.url.as_str(),
            format!("{}/chat/completions", case.base_url),
            "{name}"
        );
    }
}

#[test]
fn presets_have_names_and_valid_base_urls() {
    for preset in Preset::ALL {
        assert_eq!(Preset::from_name(preset.name()), Some(preset));
        let config = OpenAiConfig::preset(preset, None).unwrap();
        assert_eq!(config.name, preset.name());
        assert_eq!(config.profile, preset.profile());
    }
    assert_eq!(Preset::from_name("nope"), None);
    let local = [Preset::Ollama, Preset::LmStudio, Preset::Vllm];
    for preset in Preset::ALL {
        assert_eq!(
            preset.profile().requires_api_key,
            !local.contains(&preset),
            "{preset:?}"
        );
    }
}

#[test]
fn requests_go_to_chat_completions_under_the_base_url() {
    let config = OpenAiConfig::new(
        "ollama",
        "http://localhost:11434/v1/",
        "OPENAI_BASE_URL",
        None,
    )
    .unwrap();
    let provider = OpenAiProvider::new(config).unwrap();
    assert_eq!(
        provider.url.as_str(),
        "http://localhost:11434/v1/chat/completions"
    );
    let perplexity =
        OpenAiProvider::new(OpenAiConfig::preset(Preset::Perplexity, None).unwrap()).unwrap();
    assert_eq!(
        perplexity.url.as_str(),
        "https://api.perplexity.ai/chat/completions"
    );
}

#[test]
fn config_errors_name_the_setting() {
    let err = OpenAiConfig::new("openai", "localhost:11434", "OPENAI_BASE_URL", None).unwrap_err();
    assert!(err.to_string().starts_with("OPENAI_BASE_URL "), "{err}");
    assert!(OpenAiConfig::new("", OpenAiConfig::DEFAULT_BASE_URL, "x", None).is_err());
}

#[test]
fn debug_output_never_shows_the_key() {
    let key = SecretString::from("sk-proj-VERYSECRET");
    let config = OpenAiConfig::new(
        "openai",
        OpenAiConfig::DEFAULT_BASE_URL,
        "OPENAI_BASE_URL",
        Some(key),
    )
    .unwrap();
    let provider = OpenAiProvider::new(config.clone()).unwrap();
    for shown in [format!("{config:?}"), format!("{provider:?}")] {
        assert!(!shown.contains("VERYSECRET"), "{shown}");
    }
    let headers = provider.headers(false).unwrap();
    assert!(headers[AUTHORIZATION].is_sensitive());
    assert!(!format!("{headers:?}").contains("VERYSECRET"));
}

// ---------------------------------------------------------------------------
// decode: plain bodies

#[test]
fn decodes_a_text_answer() {
    let completion = decode(body("openai/chat/nonstream-text.json")).unwrap();
    assert!(
        completion
            .text
            .starts_with("I'm unable to provide real-time weather updates.")
    );
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, usage(14, 37, 0, 0));
    assert_eq!(completion.model.as_deref(), Some("gpt-4o-2024-08-06"));
    assert!(completion.tool_calls.is_empty());
}

#[test]
fn decodes_a_structured_answer() {
    let completion = decode(body("openai/chat/nonstream-structured-output.json")).unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&completion.text).unwrap();
    assert_eq!(
        parsed,
        json!({"city": "San Francisco", "temperature": 65, "units": "f"})
    );
    assert_eq!(completion.usage, usage(79, 14, 0, 0));
}

#[test]
fn decodes_a_length_finish() {
    let completion = decode(body("openai/chat/nonstream-finish-length.json")).unwrap();
    assert_eq!(completion.text, "{\"");
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(completion.usage, usage(79, 1, 0, 0));
}

#[test]
fn decodes_parallel_tool_calls() {
    let completion = decode(body("openai/chat/nonstream-parallel-tool-calls.json")).unwrap();
    assert_eq!(completion.text, "");
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        completion.tool_calls,
        vec![
            ToolCall {
                id: "call_fdNz3vOBKYgOIpMdWotB9MjY".to_owned(),
                name: "GetWeatherArgs".to_owned(),
                arguments: "{\"city\": \"Edinburgh\", \"country\": \"GB\", \"units\": \"c\"}"
                    .to_owned(),
            },
            ToolCall {
                id: "call_h1DWI1POMJLb0KwIyQHWXD4p".to_owned(),
                name: "get_stock_price".to_owned(),
                arguments: "{\"ticker\": \"AAPL\", \"exchange\": \"NASDAQ\"}".to_owned(),
            },
        ]
    );
    assert_eq!(completion.usage, usage(149, 60, 0, 0));
}

#[test]
fn decodes_the_recorded_exchange_body() {
    let completion = decode(body(
        "openai/chat/exchange-nonstream-with-ratelimit-headers.json",
    ))
    .unwrap();
    assert_eq!(completion.text, "Hello! How can I help you today?");
    assert_eq!(completion.usage, usage(20, 18, 0, 0));
    assert_eq!(completion.model.as_deref(), Some("gpt-5.1-chat-latest"));
}

#[test]
fn decodes_compatible_servers_with_their_extra_fields() {
    let groq = decode(body("openai-compatible/groq-exchange-nonstream.json")).unwrap();
    assert_eq!(
        (groq.text.as_str(), groq.usage),
        ("Hello! How can I help you today?", usage(30, 10, 0, 0))
    );

    let deepseek = decode(body("openai-compatible/deepseek-exchange-nonstream.json")).unwrap();
    assert_eq!(
        (deepseek.text.as_str(), deepseek.usage),
        ("Hello! How can I assist you today?", usage(14, 9, 0, 0))
    );

    let mistral = decode(body("openai-compatible/mistral-exchange-nonstream.json")).unwrap();
    assert!(mistral.text.starts_with("Hello, world! 🌍✨"));
    assert!(
        mistral.tool_calls.is_empty(),
        "tool_calls: null is no calls"
    );
    assert_eq!(mistral.usage, usage(7, 61, 0, 0));

    let perplexity = decode(body("openai-compatible/perplexity-exchange-nonstream.json")).unwrap();
    assert_eq!(
        perplexity.text,
        "Silent web unfolds,  \nPerplexity finds the truth—  \nAnswers bloom like spring."
    );
    assert_eq!(
        (perplexity.finish_reason, perplexity.usage),
        (FinishReason::Stop, usage(8, 19, 0, 0))
    );
}

#[test]
fn deepseek_cache_hits_count_when_openai_details_are_absent() {
    let mut value =
        read_fixture_json("openai-compatible/deepseek-exchange-nonstream.json")["response"]["body"]
            .clone();
    value["usage"]
        .as_object_mut()
        .unwrap()
        .remove("prompt_tokens_details");
    value["usage"]["prompt_cache_hit_tokens"] = json!(6);
    let completion = decode(serde_json::from_value(value).unwrap()).unwrap();
    assert_eq!(completion.usage.cached_input_tokens, 6);
}

#[test]
fn body_without_usage_gets_an_estimate() {
    let response: wire::ChatResponse = serde_json::from_value(json!({
        "choices": [{"message": {"content": "12345678"}, "finish_reason": "stop"}]
    }))
    .unwrap();
    let completion = decode(response).unwrap();
    assert!(completion.usage.estimated);
    assert_eq!(completion.usage.output_tokens, 2);
}

#[test]
fn error_inside_a_200_body_is_an_error() {
    let response: wire::ChatResponse =
        serde_json::from_value(json!({"error": {"message": "upstream overloaded", "code": 502}}))
            .unwrap();
    let err = decode(response).unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
}

// ---------------------------------------------------------------------------
// decode: streams

#[tokio::test]
async fn stream_with_usage_decodes_text_and_the_final_usage_chunk() {
    let completion = replay_fixture("openai/chat/stream-text-with-usage.sse", decode_event)
        .await
        .unwrap();
    assert!(
        completion
            .text
            .starts_with("I'm unable to provide real-time weather updates. To get")
    );
    assert!(completion.text.ends_with("or a weather app."));
    assert_eq!(completion.finish_reason, FinishReason::Stop);
    assert_eq!(completion.usage, usage(14, 30, 0, 0));
}

#[tokio::test]
async fn structured_stream_decodes_to_the_json_text() {
    let completion = replay_fixture("openai/chat/stream-structured-output.sse", decode_event)
        .await
        .unwrap();
    let parsed: serde_json::Value = serde_json::from_str(&completion.text).unwrap();
    assert_eq!(
        parsed,
        json!({"city": "San Francisco", "temperature": 61, "units": "f"})
    );
    assert_eq!(completion.usage, usage(79, 14, 0, 0));
}

#[tokio::test]
async fn tool_call_fragments_accumulate() {
    let completion = replay_fixture("openai/chat/stream-tool-call.sse", decode_event)
        .await
        .unwrap();
    assert_eq!(completion.finish_reason, FinishReason::ToolCalls);
    assert_eq!(
        completion.tool_calls,
        vec![ToolCall {
            id: "call_4XzlGBLtUe9dy3GVNV4jhq7h".to_owned(),
            name: "get_weather".to_owned(),
            arguments: "{\"city\":\"New York City\"}".to_owned(),
        }]
    );
    assert_eq!(completion.usage, usage(44, 16, 0, 0));
}

#[tokio::test]
async fn parallel_tool_call_fragments_accumulate_per_index() {
    let completion = replay_fixture("openai/chat/stream-parallel-tool-calls.sse", decode_event)
        .await
        .unwrap();
    let calls: Vec<(&str, serde_json::Value)> = completion
        .tool_calls
        .iter()
        .map(|call| {
            (
                call.name.as_str(),
                serde_json::from_str(&call.arguments).unwrap(),
            )
        })
        .collect();
    assert_eq!(
        calls,
        vec![
            (
                "GetWeatherArgs",
                json!({"city": "Edinburgh", "country": "GB", "units": "c"})
            ),
            (
                "get_stock_price",
                json!({"ticker": "AAPL", "exchange": "NASDAQ"})
            ),
        ]
    );
    assert_eq!(completion.tool_calls[1].id, "call_DNYTawLBoN8fj3KN6qU9N1Ou");
    assert_eq!(completion.usage, usage(149, 60, 0, 0));
}

#[tokio::test]
async fn responses_api_error_event_in_a_200_stream_is_permanent_quota() {
    let err = replay_fixture(
        "openai/responses/stream-error-insufficient-quota.events.jsonl",
        decode_event,
    )
    .await
    .unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Permanent, ErrorKind::QuotaExhausted)
    );
    assert!(err.partial_usage.unwrap().estimated);
}

#[tokio::test]
async fn chat_error_event_in_a_200_stream_is_transient() {
    let text = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":null}]}\n\n\
                data: {\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\"}}\n\n";
    let err = crate::http::replay_text(text, decode_event)
        .await
        .unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::StreamError)
    );
    assert_eq!(err.message, "server_error: The server had an error");
}

#[tokio::test]
async fn groq_usage_in_x_groq_is_read() {
    let text = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},\"finish_reason\":\"stop\"}],\
                \"x_groq\":{\"usage\":{\"prompt_tokens\":30,\"completion_tokens\":10}}}\n\ndata: [DONE]\n\n";
    let completion = crate::http::replay_text(text, decode_event).await.unwrap();
    assert_eq!(completion.usage, usage(30, 10, 0, 0));
}
