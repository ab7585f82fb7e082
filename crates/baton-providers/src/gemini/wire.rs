//! The serde types of Google's Gemini API (`models/{model}:generateContent` and
//! `:streamGenerateContent?alt=sse`), as far as Baton uses it, in the API's JSON
//! (camelCase) names. Responses are read leniently.

use serde::{Deserialize, Serialize};

/// A `generateContent` body.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentRequest {
    /// The conversation.
    pub(crate) contents: Vec<Content>,
    /// The system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) system_instruction: Option<Content>,
    /// Limits, sampling and output format.
    pub(crate) generation_config: GenerationConfig,
}

/// A turn of the conversation (or the system instruction).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Content {
    /// `user` or `model`; absent on the system instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) role: Option<&'static str>,
    /// Its parts; Baton sends one text part.
    pub(crate) parts: Vec<TextPart>,
}

/// A text part of a request.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct TextPart {
    /// The text.
    pub(crate) text: String,
}

/// `generationConfig`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerationConfig {
    /// The output limit.
    pub(crate) max_output_tokens: u32,
    /// Sampling temperature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) temperature: Option<f32>,
    /// The seed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<i64>,
    /// `application/json` for structured output.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_mime_type: Option<&'static str>,
    /// The output's JSON Schema (full JSON Schema, unlike the OpenAPI-subset
    /// `responseSchema`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) response_json_schema: Option<serde_json::Value>,
}

/// A `GenerateContentResponse`: the whole answer, or one stream chunk.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct GenerateContentResponse {
    /// The candidates; Baton asks for one.
    #[serde(default)]
    pub(crate) candidates: Vec<Candidate>,
    /// Token counts (running totals in a stream).
    #[serde(default)]
    pub(crate) usage_metadata: Option<UsageMetadata>,
    /// The model that answered.
    #[serde(default)]
    pub(crate) model_version: Option<String>,
    /// Why the prompt was refused, if it was.
    #[serde(default)]
    pub(crate) prompt_feedback: Option<PromptFeedback>,
    /// An error reported inside a stream.
    #[serde(default)]
    pub(crate) error: Option<serde_json::Value>,
}

/// A candidate.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Candidate {
    /// Its content.
    #[serde(default)]
    pub(crate) content: Option<CandidateContent>,
    /// Why it stopped, once it has.
    #[serde(default)]
    pub(crate) finish_reason: Option<String>,
}

/// A candidate's content.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct CandidateContent {
    /// Its parts.
    #[serde(default)]
    pub(crate) parts: Vec<Part>,
}

/// A part of a candidate's content.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Part {
    /// Text (empty on the last chunk of a stream).
    #[serde(default)]
    pub(crate) text: Option<String>,
    /// Whether the text is a thought summary rather than output.
    #[serde(default)]
    pub(crate) thought: Option<bool>,
    /// A whole function call.
    #[serde(default)]
    pub(crate) function_call: Option<FunctionCall>,
}

/// `functionCall`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(crate) struct FunctionCall {
    /// The call id, when the API gives one.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// The function's name.
    #[serde(default)]
    pub(crate) name: String,
    /// The arguments.
    #[serde(default)]
    pub(crate) args: Option<serde_json::Value>,
}

/// `usageMetadata`.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct UsageMetadata {
    /// Prompt tokens, cached ones included.
    #[serde(default)]
    pub(crate) prompt_token_count: Option<u64>,
    /// Output tokens, thoughts excluded.
    #[serde(default)]
    pub(crate) candidates_token_count: Option<u64>,
    /// Thinking tokens (billed as output).
    #[serde(default)]
    pub(crate) thoughts_token_count: Option<u64>,
    /// Prompt tokens served from the cache.
    #[serde(default)]
    pub(crate) cached_content_token_count: Option<u64>,
    /// Tokens of tool-use prompts (billed as input).
    #[serde(default)]
    pub(crate) tool_use_prompt_token_count: Option<u64>,
}

/// `promptFeedback`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PromptFeedback {
    /// Why the prompt was blocked.
    #[serde(default)]
    pub(crate) block_reason: Option<String>,
}
