//! The serde types of Anthropic's Messages API (`POST {base}/v1/messages`), as far as
//! Baton uses it. Responses are read leniently: unknown fields and block types are
//! ignored.

use serde::{Deserialize, Serialize};

/// A `POST /v1/messages` body.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct MessagesRequest {
    /// The model id.
    pub(crate) model: String,
    /// The output limit; required by the API.
    pub(crate) max_tokens: u32,
    /// The system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) system: Option<String>,
    /// The conversation; user first, alternating.
    pub(crate) messages: Vec<Message>,
    /// Sampling temperature (0..1 for Anthropic).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    /// Structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) output_config: Option<OutputConfig>,
    /// Whether to stream; absent for a plain call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
}

/// One message.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Message {
    /// `user` or `assistant`.
    pub(crate) role: &'static str,
    /// The text.
    pub(crate) content: String,
}

/// `output_config`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct OutputConfig {
    /// The output format.
    pub(crate) format: OutputFormat,
}

/// `output_config.format`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum OutputFormat {
    /// JSON matching the schema.
    JsonSchema {
        /// The JSON Schema.
        schema: serde_json::Value,
    },
}

/// A `message` (plain call, or inside `message_start`).
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct MessageResponse {
    /// The model that answered.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// The content blocks.
    #[serde(default)]
    pub(crate) content: Vec<ContentBlock>,
    /// Why it stopped.
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
    /// Token counts.
    #[serde(default)]
    pub(crate) usage: Option<AnthropicUsage>,
}

/// A content block.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ContentBlock {
    /// Text.
    Text {
        /// The text.
        #[serde(default)]
        text: String,
    },
    /// A tool call.
    ToolUse {
        /// The call id.
        #[serde(default)]
        id: String,
        /// The tool's name.
        #[serde(default)]
        name: String,
        /// The arguments (an empty object at the start of a streamed block).
        #[serde(default)]
        input: serde_json::Value,
    },
    /// Thinking, redacted thinking, server tool results, and block types to come.
    #[serde(other)]
    Other,
}

/// `usage` of a message or `message_delta` (cumulative in the latter).
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub(crate) struct AnthropicUsage {
    /// Prompt tokens not read from or written to the cache.
    #[serde(default)]
    pub(crate) input_tokens: Option<u64>,
    /// Prompt tokens written to the cache.
    #[serde(default)]
    pub(crate) cache_creation_input_tokens: Option<u64>,
    /// Prompt tokens read from the cache.
    #[serde(default)]
    pub(crate) cache_read_input_tokens: Option<u64>,
    /// Output tokens so far.
    #[serde(default)]
    pub(crate) output_tokens: Option<u64>,
}

/// One stream event, by its `type`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum StreamEvent {
    /// The message begins, with its model and input usage.
    MessageStart {
        /// The message so far (empty content).
        message: MessageResponse,
    },
    /// A content block begins.
    ContentBlockStart {
        /// Its index.
        index: u64,
        /// The block (empty text, or a tool call with empty input).
        content_block: ContentBlock,
    },
    /// More of a content block.
    ContentBlockDelta {
        /// The block's index.
        index: u64,
        /// The delta.
        delta: BlockDelta,
    },
    /// A content block ends.
    ContentBlockStop {},
    /// The stop reason and cumulative usage.
    MessageDelta {
        /// The stop reason.
        delta: MessageDeltaBody,
        /// Cumulative usage.
        #[serde(default)]
        usage: Option<AnthropicUsage>,
    },
    /// The end of the message.
    MessageStop {},
    /// A keep-alive.
    Ping {},
    /// An error after the 200 (e.g. `overloaded_error`).
    Error {
        /// The error.
        error: serde_json::Value,
    },
    /// Event types to come.
    #[serde(other)]
    Unknown,
}

/// `content_block_delta.delta`.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum BlockDelta {
    /// More text.
    TextDelta {
        /// The text.
        text: String,
    },
    /// A fragment of a tool call's JSON input.
    InputJsonDelta {
        /// The fragment.
        partial_json: String,
    },
    /// Thinking, signatures, citations, and delta types to come.
    #[serde(other)]
    Other,
}

/// `message_delta.delta`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct MessageDeltaBody {
    /// Why it stopped.
    #[serde(default)]
    pub(crate) stop_reason: Option<String>,
}
