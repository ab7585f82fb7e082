//! Messages stream events: `event: <type>` / `data: {"type": <type>, …}`.
//!
//! The grammar: `message_start` (model, input usage), then per content block
//! `content_block_start` / `content_block_delta`* / `content_block_stop`, then
//! `message_delta` (stop reason, cumulative usage), then `message_stop`. `ping` may
//! come anywhere and is a keep-alive. `error` may come after the 200 (for example
//! `overloaded_error`). Unknown event and delta types are skipped, as Anthropic's
//! versioning policy asks.

use crate::accumulate::StreamEvent;
use crate::http::{SseEvent, body_error, malformed};
use crate::provider::ProviderError;

use super::{stop_reason, usage_report, wire};

/// Decodes one SSE event of a Messages stream.
pub(crate) fn decode_event(event: &SseEvent) -> Result<Vec<StreamEvent>, ProviderError> {
    let parsed: wire::StreamEvent = serde_json::from_str(event.data.trim()).map_err(malformed)?;
    let events = match parsed {
        wire::StreamEvent::MessageStart { message } => {
            let mut events = Vec::new();
            if let Some(model) = message.model {
                events.push(StreamEvent::Model(model));
            }
            if let Some(usage) = message.usage {
                events.push(StreamEvent::Usage(usage_report(usage)));
            }
            events
        }
        wire::StreamEvent::ContentBlockStart {
            index,
            content_block,
        } => match content_block {
            wire::ContentBlock::Text { text } => vec![StreamEvent::Text(text)],
            // The block opens with `input: {}`; the real input follows as fragments.
            wire::ContentBlock::ToolUse { id, name, .. } => {
                vec![StreamEvent::ToolCallStart {
                    index,
                    id,
                    name,
                    arguments: String::new(),
                }]
            }
            wire::ContentBlock::Other => vec![StreamEvent::Progress],
        },
        wire::StreamEvent::ContentBlockDelta { index, delta } => match delta {
            wire::BlockDelta::TextDelta { text } => vec![StreamEvent::Text(text)],
            wire::BlockDelta::InputJsonDelta { partial_json } => {
                vec![StreamEvent::ToolCallArguments {
                    index,
                    fragment: partial_json,
                }]
            }
            wire::BlockDelta::Other => vec![StreamEvent::Progress],
        },
        wire::StreamEvent::MessageDelta { delta, usage } => {
            let mut events = Vec::new();
            if let Some(reason) = delta.stop_reason {
                events.push(StreamEvent::Finish(stop_reason(&reason)));
            }
            if let Some(usage) = usage {
                events.push(StreamEvent::Usage(usage_report(usage)));
            }
            events
        }
        wire::StreamEvent::MessageStop {} => vec![StreamEvent::Done],
        wire::StreamEvent::Ping {} => vec![StreamEvent::KeepAlive],
        wire::StreamEvent::Error { error } => return Err(body_error(error)),
        wire::StreamEvent::ContentBlockStop {} | wire::StreamEvent::Unknown => {
            vec![StreamEvent::Progress]
        }
    };
    Ok(if events.is_empty() {
        vec![StreamEvent::Progress]
    } else {
        events
    })
}
