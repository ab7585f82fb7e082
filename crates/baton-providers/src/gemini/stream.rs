//! `streamGenerateContent?alt=sse` events: each `data:` line is a whole
//! `GenerateContentResponse` with the next text, and `usageMetadata` as running
//! totals (each chunk repeats them, grown). A function call comes whole in one chunk.
//! There is no end marker: the last chunk carries `finishReason` (often with an empty
//! text part), and the stream then closes. An error inside the stream is a
//! `data: {"error": {…}}` chunk.

use crate::accumulate::StreamEvent;
use crate::http::{SseEvent, body_error, malformed};
use crate::provider::ProviderError;

use super::{arguments, finish_reason, usage_report, wire};

/// Decodes one SSE event of a `streamGenerateContent` stream.
pub(crate) fn decode_event(event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
    let chunk: wire::GenerateContentResponse =
        serde_json::from_str(event.data.trim()).map_err(malformed)?;
    if let Some(error) = chunk.error {
        return Err(body_error(error));
    }
    let mut events = Vec::new();
    if let Some(model) = chunk.model_version {
        events.push(StreamEvent::Model(model));
    }
    if let Some(candidate) = chunk.candidates.into_iter().next() {
        for part in candidate
            .content
            .map(|content| content.parts)
            .unwrap_or_default()
        {
            if let Some(call) = part.function_call {
                events.push(StreamEvent::ToolCallWhole {
                    id: call.id,
                    name: call.name,
                    arguments: arguments(call.args),
                });
            } else if part.thought != Some(true)
                && let Some(text) = part.text
            {
                events.push(StreamEvent::Text(text));
            }
        }
        if let Some(reason) = candidate.finish_reason {
            events.push(StreamEvent::Finish(finish_reason(&reason)));
        }
    } else if let Some(reason) = chunk
        .prompt_feedback
        .and_then(|feedback| feedback.block_reason)
    {
        return Err(ProviderError::permanent(
            crate::provider::ErrorKind::ContentPolicy,
            format!("the prompt was blocked: {reason}"),
        ));
    }
    if let Some(usage) = chunk.usage_metadata {
        events.push(StreamEvent::Usage(usage_report(usage)));
    }
    if events.is_empty() {
        events.push(StreamEvent::Progress);
    }
    Ok(events)
}
