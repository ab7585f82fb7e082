//! The `openai` adapter: Chat Completions, for OpenAI and every OpenAI-compatible
//! server (Ollama, LM Studio, vLLM, Groq, DeepSeek, xAI, Perplexity, OpenRouter,
//! Together, Mistral), each through a named provider entry with its base URL and an
//! [`OpenAiProfile`] of quirks.
//!
//! Requests go to `{base_url}/chat/completions`, where the base URL includes the API
//! version as the official SDK's `OPENAI_BASE_URL` does (`https://api.openai.com/v1`,
//! `http://localhost:11434/v1`). The key is sent as `Authorization: Bearer …`, and
//! only when one is configured (local servers need none).

mod stream;
pub(crate) mod wire;

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::accumulate::{
    StreamAccumulator, UsageReport, estimate_prompt_tokens, fill_input_estimate, usage_or_estimate,
};
use crate::config::{BaseUrl, ConfigError, check_name};
use crate::http::{HttpCall, HttpDriver, Timeouts, body_error, malformed, secret_header};
use crate::provider::{
    Completion, CompletionRequest, DeltaSender, ErrorKind, FinishReason, Provider, ProviderError,
    Role, ToolCall,
};

pub(crate) use stream::decode_event;

/// How a server names the output-token limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaxTokensField {
    /// `max_completion_tokens`: OpenAI's current name, required by its reasoning models.
    MaxCompletionTokens,
    /// `max_tokens`: the deprecated name that most compatible servers still use.
    MaxTokens,
}

/// How a server takes a sampling seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SeedField {
    /// `seed`.
    Seed,
    /// `random_seed` (Mistral).
    RandomSeed,
    /// No seed parameter: it is dropped.
    Unsupported,
}

/// How a server takes a request for structured (JSON) output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructuredOutput {
    /// `response_format: {type: "json_schema", json_schema: {name, schema}}`.
    JsonSchema,
    /// `response_format: {type: "json_object"}`, with the schema put into the system
    /// prompt (the server only promises JSON, not the schema).
    JsonObject,
    /// No `response_format`: the schema goes into the system prompt only.
    Unsupported,
}

/// The quirks of one OpenAI-compatible server: the parameters it names differently
/// or does not take (those are dropped rather than sent).
///
/// Extra usage fields need no setting: every known one is read whenever present
/// (DeepSeek's `prompt_cache_hit_tokens`, Groq's `x_groq.usage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenAiProfile {
    /// The output-token limit's name.
    pub max_tokens_field: MaxTokensField,
    /// The seed's name, or that it is dropped.
    pub seed_field: SeedField,
    /// How structured output is asked for.
    pub structured_output: StructuredOutput,
    /// Whether to send `stream_options: {include_usage: true}` so a stream ends with
    /// its usage; servers that refuse the parameter get none and report usage their
    /// own way (or it is estimated).
    pub stream_usage: bool,
    /// Whether the server needs an API key (local servers do not).
    pub requires_api_key: bool,
}

impl OpenAiProfile {
    /// OpenAI itself.
    pub const OPENAI: OpenAiProfile = OpenAiProfile {
        max_tokens_field: MaxTokensField::MaxCompletionTokens,
        seed_field: SeedField::Seed,
        structured_output: StructuredOutput::JsonSchema,
        stream_usage: true,
        requires_api_key: true,
    };
}

impl Default for OpenAiProfile {
    /// OpenAI's own behaviour.
    fn default() -> Self {
        Self::OPENAI
    }
}

/// A known OpenAI-compatible server, with its default base URL and quirks.
///
/// These presets come from each vendor's documentation, not from recordings (only
/// Groq, DeepSeek, Mistral and Perplexity plain responses are recorded in the
/// fixtures); an entry in `config/baton.toml` can override any of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// OpenAI.
    OpenAi,
    /// Ollama's OpenAI-compatible endpoint (local).
    Ollama,
    /// LM Studio's local server.
    LmStudio,
    /// vLLM's OpenAI-compatible server.
    Vllm,
    /// Groq.
    Groq,
    /// DeepSeek.
    DeepSeek,
    /// xAI (Grok).
    Xai,
    /// Perplexity.
    Perplexity,
    /// OpenRouter.
    OpenRouter,
    /// Together AI.
    Together,
    /// Mistral.
    Mistral,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 11] = [
        Preset::OpenAi,
        Preset::Ollama,
        Preset::LmStudio,
        Preset::Vllm,
        Preset::Groq,
        Preset::DeepSeek,
        Preset::Xai,
        Preset::Perplexity,
        Preset::OpenRouter,
        Preset::Together,
        Preset::Mistral,
    ];

    /// The provider name the preset goes by (`ollama`, `groq`, …).
    pub fn name(self) -> &'static str {
        match self {
            Preset::OpenAi => "openai",
            Preset::Ollama => "ollama",
            Preset::LmStudio => "lmstudio",
            Preset::Vllm => "vllm",
            Preset::Groq => "groq",
            Preset::DeepSeek => "deepseek",
            Preset::Xai => "xai",
            Preset::Perplexity => "perplexity",
            Preset::OpenRouter => "openrouter",
            Preset::Together => "together",
            Preset::Mistral => "mistral",
        }
    }

    /// The preset with this name, if any.
    pub fn from_name(name: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|preset| preset.name() == name)
    }

    /// The server's usual base URL, as its documentation gives it for OpenAI SDKs.
    pub fn default_base_url(self) -> &'static str {
        match self {
            Preset::OpenAi => OpenAiConfig::DEFAULT_BASE_URL,
            Preset::Ollama => "http://localhost:11434/v1",
            Preset::LmStudio => "http://localhost:1234/v1",
            Preset::Vllm => "http://localhost:8000/v1",
            Preset::Groq => "https://api.groq.com/openai/v1",
            Preset::DeepSeek => "https://api.deepseek.com",
            Preset::Xai => "https://api.x.ai/v1",
            Preset::Perplexity => "https://api.perplexity.ai",
            Preset::OpenRouter => "https://openrouter.ai/api/v1",
            Preset::Together => "https://api.together.xyz/v1",
            Preset::Mistral => "https://api.mistral.ai/v1",
        }
    }

    /// The server's quirks.
    pub fn profile(self) -> OpenAiProfile {
        use MaxTokensField::{MaxCompletionTokens, MaxTokens};
        use StructuredOutput::{JsonObject, JsonSchema};
        let compatible = OpenAiProfile {
            max_tokens_field: MaxTokens,
            seed_field: SeedField::Seed,
            structured_output: JsonSchema,
            stream_usage: true,
            requires_api_key: true,
        };
        match self {
            Preset::OpenAi => OpenAiProfile::OPENAI,
            Preset::Ollama | Preset::LmStudio | Preset::Vllm => OpenAiProfile {
                requires_api_key: false,
                ..compatible
            },
            Preset::Groq | Preset::Xai => OpenAiProfile {
                max_tokens_field: MaxCompletionTokens,
                ..compatible
            },
            Preset::DeepSeek => OpenAiProfile {
                seed_field: SeedField::Unsupported,
                structured_output: JsonObject,
                ..compatible
            },
            // Perplexity and Mistral send usage on their last chunk unasked, and
            // Mistral refuses parameters it does not know.
            Preset::Perplexity => OpenAiProfile {
                seed_field: SeedField::Unsupported,
                stream_usage: false,
                ..compatible
            },
            Preset::Mistral => OpenAiProfile {
                seed_field: SeedField::RandomSeed,
                stream_usage: false,
                ..compatible
            },
            Preset::OpenRouter | Preset::Together => compatible,
        }
    }
}

/// The configuration of one `openai`-format provider entry.
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// The provider's name: `openai`, or the compatible entry's name (`ollama`).
    pub name: String,
    /// The base URL, `/v1` included.
    pub base_url: BaseUrl,
    /// The API key, if the server needs one.
    pub api_key: Option<SecretString>,
    /// The server's quirks.
    pub profile: OpenAiProfile,
    /// The four timeouts.
    pub timeouts: Timeouts,
}

impl OpenAiConfig {
    /// OpenAI's base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.openai.com/v1";

    /// A provider named `name` at `base_url`, the value of the setting named
    /// `base_url_setting` (for example `OPENAI_BASE_URL`, which errors name), with
    /// OpenAI's profile and the default timeouts.
    pub fn new(
        name: impl Into<String>,
        base_url: &str,
        base_url_setting: &str,
        api_key: Option<SecretString>,
    ) -> Result<Self, ConfigError> {
        let name = name.into();
        check_name(&name)?;
        Ok(Self {
            name,
            base_url: BaseUrl::parse(base_url, base_url_setting)?,
            api_key,
            profile: OpenAiProfile::OPENAI,
            timeouts: Timeouts::default(),
        })
    }

    /// A provider for a known server at its default base URL, named after it.
    pub fn preset(preset: Preset, api_key: Option<SecretString>) -> Result<Self, ConfigError> {
        Ok(Self::new(
            preset.name(),
            preset.default_base_url(),
            "base_url",
            api_key,
        )?
        .with_profile(preset.profile()))
    }

    /// The same, with other quirks.
    pub fn with_profile(mut self, profile: OpenAiProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The same, with other timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

/// An `openai`-format provider: OpenAI or a compatible server.
#[derive(Clone)]
pub struct OpenAiProvider {
    name: String,
    url: Url,
    api_key: Option<SecretString>,
    profile: OpenAiProfile,
    driver: HttpDriver,
}

impl fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl OpenAiProvider {
    /// A provider for `config`; fails only if the HTTP client cannot be built.
    pub fn new(config: OpenAiConfig) -> Result<Self, ConfigError> {
        let driver = HttpDriver::new(config.timeouts, config.api_key.iter().cloned().collect())?;
        Ok(Self {
            url: config.base_url.join(&["chat", "completions"]),
            name: config.name,
            api_key: config.api_key,
            profile: config.profile,
            driver,
        })
    }

    fn headers(&self, stream: bool) -> Result<HeaderMap, ProviderError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        if let Some(key) = &self.api_key {
            headers.insert(
                AUTHORIZATION,
                secret_header(&format!("Bearer {}", key.expose_secret()))?,
            );
        }
        Ok(headers)
    }
}

#[async_trait]
impl Provider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(
        &self,
        request: &CompletionRequest,
        deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError> {
        let body = serde_json::to_vec(&encode(request, &self.profile)).map_err(|err| {
            ProviderError::permanent(ErrorKind::BadRequest, format!("could not encode: {err}"))
        })?;
        let call = HttpCall {
            url: self.url.clone(),
            headers: self.headers(request.stream)?,
            body,
        };
        let prompt_estimate = estimate_prompt_tokens(request);
        let decode_plain = move |body: &[u8]| -> Result<Completion, ProviderError> {
            let response: wire::ChatResponse = serde_json::from_slice(body).map_err(malformed)?;
            let mut completion = decode(response)?;
            fill_input_estimate(&mut completion, prompt_estimate);
            Ok(completion)
        };
        if !request.stream {
            return self.driver.send(call, &decode_plain).await;
        }
        let accumulator = StreamAccumulator::new(prompt_estimate);
        self.driver
            .stream(call, decode_event, accumulator, deltas, &decode_plain)
            .await
    }
}

/// The instruction added to the system prompt when the server cannot be given the
/// schema itself.
pub(crate) fn schema_instruction(schema: &serde_json::Value) -> String {
    format!(
        "Answer with a single JSON value only, no prose, that matches this JSON Schema:\n{schema}"
    )
}

/// Encodes a request in Chat Completions format, with `profile`'s quirks.
pub(crate) fn encode(request: &CompletionRequest, profile: &OpenAiProfile) -> wire::ChatRequest {
    let mut system = request.system.as_deref().map(str::to_owned);
    let response_format =
        request
            .json_schema
            .as_ref()
            .and_then(|format| match profile.structured_output {
                StructuredOutput::JsonSchema => Some(wire::ResponseFormat::JsonSchema {
                    json_schema: wire::JsonSchemaSpec {
                        name: format.name.clone(),
                        schema: format.schema.clone(),
                    },
                }),
                StructuredOutput::JsonObject | StructuredOutput::Unsupported => {
                    let instruction = schema_instruction(&format.schema);
                    system = Some(match system.take() {
                        Some(system) => format!("{system}\n\n{instruction}"),
                        None => instruction,
                    });
                    (profile.structured_output == StructuredOutput::JsonObject)
                        .then_some(wire::ResponseFormat::JsonObject)
                }
            });
    let mut messages = Vec::with_capacity(request.messages.len() + 1);
    if let Some(system) = system {
        messages.push(wire::ChatMessage {
            role: "system",
            content: system,
        });
    }
    messages.extend(request.messages.iter().map(|message| wire::ChatMessage {
        role: match message.role {
            Role::User => "user",
            Role::Assistant => "assistant",
        },
        content: message.content.clone(),
    }));
    let limit = Some(request.max_output_tokens);
    wire::ChatRequest {
        model: request.model.clone(),
        messages,
        max_completion_tokens: limit
            .filter(|_| profile.max_tokens_field == MaxTokensField::MaxCompletionTokens),
        max_tokens: limit.filter(|_| profile.max_tokens_field == MaxTokensField::MaxTokens),
        temperature: request.temperature,
        seed: request
            .seed
            .filter(|_| profile.seed_field == SeedField::Seed),
        random_seed: request
            .seed
            .filter(|_| profile.seed_field == SeedField::RandomSeed),
        response_format,
        stream: request.stream.then_some(true),
        stream_options: (request.stream && profile.stream_usage).then_some(wire::StreamOptions {
            include_usage: true,
        }),
    }
}

/// Decodes a plain `chat.completion`.
pub(crate) fn decode(response: wire::ChatResponse) -> Result<Completion, ProviderError> {
    if let Some(error) = response.error {
        return Err(body_error(error));
    }
    let report = response
        .usage
        .as_ref()
        .map(usage_report)
        .unwrap_or_default();
    let Some(choice) = response.choices.into_iter().next() else {
        return Err(ProviderError::transient(
            ErrorKind::Malformed,
            "the response has no choices",
        ));
    };
    let message = choice.message.unwrap_or_default();
    let text = message.content.unwrap_or_default();
    let tool_calls: Vec<ToolCall> = message
        .tool_calls
        .unwrap_or_default()
        .into_iter()
        .map(|call| {
            let function = call.function.unwrap_or_default();
            ToolCall {
                id: call.id.unwrap_or_default(),
                name: function.name.unwrap_or_default(),
                arguments: function
                    .arguments
                    .filter(|a| !a.trim().is_empty())
                    .unwrap_or_else(|| "{}".to_owned()),
            }
        })
        .collect();
    let mut finish_reason = choice
        .finish_reason
        .as_deref()
        .map_or(FinishReason::Stop, finish_reason);
    if text.is_empty() && message.refusal.is_some() {
        finish_reason = FinishReason::ContentFilter;
    }
    let usage = usage_or_estimate(&report, 0, &text);
    Ok(Completion {
        text,
        tool_calls,
        finish_reason,
        usage,
        model: response.model,
        limits: None,
    })
}

/// Maps a Chat Completions `finish_reason`.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "stop" => FinishReason::Stop,
        "length" => FinishReason::Length,
        "tool_calls" | "function_call" => FinishReason::ToolCalls,
        "content_filter" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Reads a `usage` object, with DeepSeek's cache field where OpenAI's is absent.
pub(crate) fn usage_report(usage: &wire::ChatUsage) -> UsageReport {
    UsageReport {
        input: usage.prompt_tokens,
        output: usage.completion_tokens,
        cached: usage
            .prompt_tokens_details
            .as_ref()
            .and_then(|details| details.cached_tokens)
            .or(usage.prompt_cache_hit_tokens),
        reasoning: usage
            .completion_tokens_details
            .as_ref()
            .and_then(|d| d.reasoning_tokens),
    }
}

#[cfg(test)]
mod tests;
