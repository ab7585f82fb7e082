//! Tests for the default answers rendered per vendor.

use super::*;

fn request(path: &str, body: serde_json::Value) -> RecordedRequest {
    RecordedRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        query: None,
        headers: Vec::new(),
        body: body.to_string().into(),
    }
}

fn answer() -> Answer {
    Answer {
        text: "héllo wörld 🌍".to_owned(),
        input_tokens: 5,
        output_tokens: 4,
    }
}

#[test]
fn pieces_keep_every_character() {
    assert_eq!(pieces("a bc  d"), vec!["a ", "bc ", " ", "d"]);
    assert_eq!(pieces("").len(), 0);
}

#[test]
fn openai_stream_ends_with_usage_only_when_asked() {
    let asked = request(
        "/v1/chat/completions",
        serde_json::json!({"model": "m", "stream": true, "stream_options": {"include_usage": true}}),
    );
    let events = stream_events(Vendor::OpenAi, &asked, &answer());
    assert_eq!(events.last().map(String::as_str), Some("data: [DONE]"));
    assert!(events[events.len() - 2].contains("\"prompt_tokens\":5"));

    let not_asked = request(
        "/v1/chat/completions",
        serde_json::json!({"model": "m", "stream": true}),
    );
    let events = stream_events(Vendor::OpenAi, &not_asked, &answer());
    assert!(events.iter().all(|event| !event.contains("prompt_tokens")));
}

#[test]
fn anthropic_stream_follows_the_event_grammar() {
    let events = stream_events(
        Vendor::Anthropic,
        &request("/v1/messages", serde_json::json!({})),
        &answer(),
    );
    let names: Vec<&str> = events
        .iter()
        .map(|e| e.lines().next().unwrap().trim_start_matches("event: "))
        .collect();
    assert_eq!(names.first(), Some(&"message_start"));
    assert_eq!(names.last(), Some(&"message_stop"));
    assert!(names.contains(&"ping"));
    assert_eq!(names[names.len() - 2], "message_delta");
}

#[test]
fn gemini_model_comes_from_the_path() {
    let req = request(
        "/v1beta/models/gemini-2.5-flash:generateContent",
        serde_json::json!({}),
    );
    let body = whole_answer(Vendor::Gemini, &req, &answer());
    assert_eq!(body["modelVersion"], "gemini-2.5-flash");
    assert_eq!(body["usageMetadata"]["candidatesTokenCount"], 4);
}
