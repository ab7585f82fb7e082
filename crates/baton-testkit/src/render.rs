//! Renders an [`Answer`] in each vendor's format, whole or as a stream, shaped like the
//! recorded fixtures.

use crate::fake::{RecordedRequest, Vendor};
use crate::response::Answer;

/// The answer as one JSON body.
pub(crate) fn whole_answer(
    vendor: Vendor,
    request: &RecordedRequest,
    answer: &Answer,
) -> serde_json::Value {
    let model = request.model().unwrap_or_else(|| "fake-model".to_owned());
    let (input, output) = (answer.input_tokens, answer.output_tokens);
    match vendor {
        Vendor::OpenAi => serde_json::json!({
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_727_346_142,
            "model": model,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": answer.text, "refusal": null},
                "logprobs": null,
                "finish_reason": "stop"
            }],
            "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
        }),
        Vendor::Anthropic => serde_json::json!({
            "id": "msg_fake",
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": answer.text}],
            "stop_reason": "end_turn",
            "stop_sequence": null,
            "usage": {"input_tokens": input, "output_tokens": output}
        }),
        Vendor::Gemini => serde_json::json!({
            "candidates": [{
                "content": {"parts": [{"text": answer.text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0
            }],
            "usageMetadata": {
                "promptTokenCount": input,
                "candidatesTokenCount": output,
                "totalTokenCount": input + output
            },
            "modelVersion": model,
            "responseId": "fake"
        }),
    }
}

/// The answer as SSE events (without framing), its text split into word-sized pieces.
pub(crate) fn stream_events(
    vendor: Vendor,
    request: &RecordedRequest,
    answer: &Answer,
) -> Vec<String> {
    let model = request.model().unwrap_or_else(|| "fake-model".to_owned());
    let pieces = pieces(&answer.text);
    let (input, output) = (answer.input_tokens, answer.output_tokens);
    let data = |value: serde_json::Value| format!("data: {value}");
    let named = |name: &str, value: serde_json::Value| format!("event: {name}\ndata: {value}");
    match vendor {
        Vendor::OpenAi => {
            let chunk = |choices: serde_json::Value| {
                serde_json::json!({
                    "id": "chatcmpl-fake",
                    "object": "chat.completion.chunk",
                    "created": 1_727_346_168,
                    "model": model,
                    "choices": choices
                })
            };
            let mut events = vec![data(chunk(serde_json::json!([{
                "index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null
            }])))];
            events.extend(pieces.iter().map(|piece| {
                data(chunk(serde_json::json!([{
                    "index": 0, "delta": {"content": piece}, "finish_reason": null
                }])))
            }));
            events.push(data(chunk(serde_json::json!([{
                "index": 0, "delta": {}, "finish_reason": "stop"
            }]))));
            let include_usage = request
                .json()
                .and_then(|body| body.get("stream_options")?.get("include_usage")?.as_bool())
                == Some(true);
            if include_usage {
                let mut last = chunk(serde_json::json!([]));
                last["usage"] = serde_json::json!({
                    "prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output
                });
                events.push(data(last));
            }
            events.push("data: [DONE]".to_owned());
            events
        }
        Vendor::Anthropic => {
            let mut events = vec![
                named(
                    "message_start",
                    serde_json::json!({"type": "message_start", "message": {
                        "id": "msg_fake", "type": "message", "role": "assistant", "model": model,
                        "content": [], "stop_reason": null, "stop_sequence": null,
                        "usage": {"input_tokens": input, "output_tokens": 1}
                    }}),
                ),
                named(
                    "content_block_start",
                    serde_json::json!({"type": "content_block_start", "index": 0,
                        "content_block": {"type": "text", "text": ""}}),
                ),
                named("ping", serde_json::json!({"type": "ping"})),
            ];
            events.extend(pieces.iter().map(|piece| {
                named(
                    "content_block_delta",
                    serde_json::json!({"type": "content_block_delta", "index": 0,
                        "delta": {"type": "text_delta", "text": piece}}),
                )
            }));
            events.push(named(
                "content_block_stop",
                serde_json::json!({"type": "content_block_stop", "index": 0}),
            ));
            events.push(named(
                "message_delta",
                serde_json::json!({"type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                    "usage": {"output_tokens": output}}),
            ));
            events.push(named(
                "message_stop",
                serde_json::json!({"type": "message_stop"}),
            ));
            events
        }
        Vendor::Gemini => {
            let count = pieces.len().max(1) as u64;
            let mut events: Vec<String> = pieces
                .iter()
                .enumerate()
                .map(|(index, piece)| {
                    let so_far = (output * (index as u64 + 1) / count).max(1);
                    data(serde_json::json!({
                        "candidates": [{"content": {"parts": [{"text": piece}], "role": "model"}, "index": 0}],
                        "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": so_far,
                            "totalTokenCount": input + so_far},
                        "modelVersion": model
                    }))
                })
                .collect();
            events.push(data(serde_json::json!({
                "candidates": [{"content": {"parts": [{"text": ""}], "role": "model"},
                    "finishReason": "STOP", "index": 0}],
                "usageMetadata": {"promptTokenCount": input, "candidatesTokenCount": output,
                    "totalTokenCount": input + output},
                "modelVersion": model
            })));
            events
        }
    }
}

/// Splits text into pieces that each end after a space (the way models stream words),
/// keeping every character.
pub(crate) fn pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        current.push(c);
        if c == ' ' {
            pieces.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        pieces.push(current);
    }
    pieces
}

#[cfg(test)]
mod tests;
