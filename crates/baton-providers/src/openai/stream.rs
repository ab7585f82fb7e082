//! Chat Completions stream events: `data: {chat.completion.chunk}` lines, ending with
//! `data: [DONE]`.
//!
//! A chunk carries text deltas, tool-call fragments keyed by `index` (the first with
//! `id` and `function.name`, later ones only argument text), a `finish_reason` once,
//! and — with `stream_options.include_usage` — a last chunk with `choices: []` and the
//! usage. Compatible servers vary: some send usage on every chunk (later values win),
//! Groq sent it in `x_groq.usage`, some omit `[DONE]` (the stream then ends cleanly
//! once a finish reason was seen). An error inside the stream comes as
//! `data: {"error": {…}}` (or, from the Responses API, `{"type": "error", …}`).

use crate::accumulate::StreamEvent;
use crate::http::{SseEvent, body_error, malformed};
use crate::provider::ProviderError;

use super::{finish_reason, usage_report, wire};

/// Decodes one SSE event of a Chat Completions stream.
pub(crate) fn decode_event(event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Ok(vec![StreamEvent::Done]);
    }
    let chunk: wire::ChatResponse = serde_json::from_str(data).map_err(malformed)?;
    if let Some(error) = chunk.error {
        return Err(body_error(error));
    }
    let mut events = Vec::new();
    if let Some(model) = chunk.model {
        events.push(StreamEvent::Model(model));
    }
    for choice in chunk.choices {
        if let Some(delta) = choice.delta {
            if let Some(text) = delta.content {
                events.push(StreamEvent::Text(text));
            }
            for (position, call) in delta.tool_calls.into_iter().flatten().enumerate() {
                let index = call.index.unwrap_or(position as u64);
                let function = call.function.unwrap_or_default();
                let fragment = function.arguments.unwrap_or_default();
                match (call.id, function.name) {
                    (Some(id), name) => events.push(StreamEvent::ToolCallStart {
                        index,
                        id,
                        name: name.unwrap_or_default(),
                        arguments: fragment,
                    }),
                    (None, _) => events.push(StreamEvent::ToolCallArguments { index, fragment }),
                }
            }
        }
        if let Some(reason) = choice.finish_reason {
            events.push(StreamEvent::Finish(finish_reason(&reason)));
        }
    }
    let usage = chunk
        .usage
        .or_else(|| chunk.x_groq.and_then(|groq| groq.usage));
    if let Some(usage) = usage {
        events.push(StreamEvent::Usage(usage_report(&usage)));
    }
    if events.is_empty() {
        events.push(StreamEvent::Progress);
    }
    Ok(events)
}
