//! The serde types of OpenAI's Chat Completions format (`POST {base}/chat/completions`),
//! as far as Baton uses it. Responses are read leniently: every field is optional and
//! unknown fields (Groq's `x_groq`, Perplexity's `citations`, …) are ignored.

use serde::{Deserialize, Serialize};

/// A `POST /chat/completions` body.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ChatRequest {
    /// The model id.
    pub(crate) model: String,
    /// The conversation, system message first.
    pub(crate) messages: Vec<ChatMessage>,
    /// The output limit, under its current name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_completion_tokens: Option<u32>,
    /// The output limit, under the name older and compatible servers use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_tokens: Option<u32>,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    /// The seed, under OpenAI's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    /// The seed, under Mistral's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) random_seed: Option<u64>,
    /// Structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_format: Option<ResponseFormat>,
    /// Whether to stream; absent for a plain call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream: Option<bool>,
    /// Stream options; asks for the final usage chunk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stream_options: Option<StreamOptions>,
}

/// One message of the conversation.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub(crate) role: &'static str,
    /// The text.
    pub(crate) content: String,
}

/// `response_format`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum ResponseFormat {
    /// JSON matching a schema.
    JsonSchema {
        /// The schema and its name.
        json_schema: JsonSchemaSpec,
    },
    /// Any JSON object (for servers without schema support).
    JsonObject,
}

/// `response_format.json_schema`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct JsonSchemaSpec {
    /// The schema's name.
    pub(crate) name: String,
    /// The JSON Schema.
    pub(crate) schema: serde_json::Value,
}

/// `stream_options`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct StreamOptions {
    /// Send a last chunk with `choices: []` and the call's usage.
    pub(crate) include_usage: bool,
}

/// A `chat.completion` (plain call) or `chat.completion.chunk` (stream event): the
/// two share their shape closely enough for one type.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ChatResponse {
    /// The model that answered.
    #[serde(default)]
    pub(crate) model: Option<String>,
    /// One choice per `n`; Baton asks for one.
    #[serde(default)]
    pub(crate) choices: Vec<Choice>,
    /// Token counts (plain calls; the last chunk of a stream).
    #[serde(default)]
    pub(crate) usage: Option<ChatUsage>,
    /// Groq's extension, which carried the usage of streams before `stream_options`.
    #[serde(default)]
    pub(crate) x_groq: Option<GroqExtension>,
    /// An error reported inside a stream.
    #[serde(default)]
    pub(crate) error: Option<serde_json::Value>,
}

/// One choice.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct Choice {
    /// The whole message (plain calls).
    #[serde(default)]
    pub(crate) message: Option<ChoiceMessage>,
    /// The next piece (streams).
    #[serde(default)]
    pub(crate) delta: Option<ChoiceMessage>,
    /// Why it stopped, once it has.
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

/// A message or a delta.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ChoiceMessage {
    /// Text.
    #[serde(default)]
    pub(crate) content: Option<String>,
    /// A refusal, in place of content.
    #[serde(default)]
    pub(crate) refusal: Option<String>,
    /// Tool calls (whole, or fragments keyed by `index`).
    #[serde(default)]
    pub(crate) tool_calls: Option<Vec<ToolCallPart>>,
}

/// A tool call or a fragment of one.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ToolCallPart {
    /// Which call a fragment belongs to (streams).
    #[serde(default)]
    pub(crate) index: Option<u64>,
    /// The call id (first fragment only).
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// The function called.
    #[serde(default)]
    pub(crate) function: Option<FunctionPart>,
}

/// `tool_calls[].function`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct FunctionPart {
    /// The tool's name (first fragment only).
    #[serde(default)]
    pub(crate) name: Option<String>,
    /// The arguments, or a fragment of them.
    #[serde(default)]
    pub(crate) arguments: Option<String>,
}

/// `usage`, with the extra fields compatible servers add.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct ChatUsage {
    /// Prompt tokens, cached ones included.
    #[serde(default)]
    pub(crate) prompt_tokens: Option<u64>,
    /// Completion tokens, reasoning ones included.
    #[serde(default)]
    pub(crate) completion_tokens: Option<u64>,
    /// `prompt_tokens_details.cached_tokens`.
    #[serde(default)]
    pub(crate) prompt_tokens_details: Option<PromptTokensDetails>,
    /// `completion_tokens_details.reasoning_tokens`.
    #[serde(default)]
    pub(crate) completion_tokens_details: Option<CompletionTokensDetails>,
    /// DeepSeek's count of prompt tokens served from its cache.
    #[serde(default)]
    pub(crate) prompt_cache_hit_tokens: Option<u64>,
}

/// `usage.prompt_tokens_details`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct PromptTokensDetails {
    /// Prompt tokens served from cache.
    #[serde(default)]
    pub(crate) cached_tokens: Option<u64>,
}

/// `usage.completion_tokens_details`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct CompletionTokensDetails {
    /// Reasoning tokens.
    #[serde(default)]
    pub(crate) reasoning_tokens: Option<u64>,
}

/// Groq's `x_groq`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct GroqExtension {
    /// Usage, on the last chunk of older Groq streams.
    #[serde(default)]
    pub(crate) usage: Option<ChatUsage>,
}
