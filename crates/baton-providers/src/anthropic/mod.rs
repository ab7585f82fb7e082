//! The `anthropic` adapter: the Messages API.
//!
//! Requests go to `{base_url}/v1/messages`, where the base URL is the host root as the
//! official SDK's `ANTHROPIC_BASE_URL` is (`https://api.anthropic.com`), with any proxy
//! path prefix kept. Headers: `x-api-key` and `anthropic-version: 2023-06-01`.
//! `max_tokens` is required; the system prompt is the top-level `system`; structured
//! output is `output_config.format` (`{type: "json_schema", schema}`), as the recorded
//! SDK exchange shows.

mod stream;
pub(crate) mod wire;

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::accumulate::{
    StreamAccumulator, UsageReport, estimate_prompt_tokens, fill_input_estimate, usage_or_estimate,
};
use crate::config::{BaseUrl, ConfigError, check_name};
use crate::http::{HttpCall, HttpDriver, Timeouts, malformed, secret_header};
use crate::provider::{
    Completion, CompletionRequest, DeltaSender, ErrorKind, FinishReason, Provider, ProviderError,
    Role, ToolCall,
};

pub(crate) use stream::decode_event;

/// The API version Baton speaks.
pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The configuration of the `anthropic` provider.
#[derive(Clone, Debug)]
pub struct AnthropicConfig {
    /// The provider's name (`anthropic` unless configured otherwise).
    pub name: String,
    /// The base URL: the host root, with any proxy prefix.
    pub base_url: BaseUrl,
    /// The API key (`x-api-key`); a proxy that adds its own may need none.
    pub api_key: Option<SecretString>,
    /// The four timeouts.
    pub timeouts: Timeouts,
}

impl AnthropicConfig {
    /// Anthropic's base URL.
    pub const DEFAULT_BASE_URL: &'static str = "https://api.anthropic.com";

    /// The `anthropic` provider at `base_url`, the value of the setting named
    /// `base_url_setting` (for example `ANTHROPIC_BASE_URL`, which errors name).
    pub fn new(
        base_url: &str,
        base_url_setting: &str,
        api_key: Option<SecretString>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name: "anthropic".to_owned(),
            base_url: BaseUrl::parse(base_url, base_url_setting)?,
            api_key,
            timeouts: Timeouts::default(),
        })
    }

    /// The same, under another name.
    pub fn with_name(mut self, name: impl Into<String>) -> Result<Self, ConfigError> {
        let name = name.into();
        check_name(&name)?;
        self.name = name;
        Ok(self)
    }

    /// The same, with other timeouts.
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }
}

/// The `anthropic` provider.
#[derive(Clone)]
pub struct AnthropicProvider {
    name: String,
    url: Url,
    api_key: Option<SecretString>,
    driver: HttpDriver,
}

impl fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("name", &self.name)
            .field("url", &self.url.as_str())
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl AnthropicProvider {
    /// A provider for `config`; fails only if the HTTP client cannot be built.
    pub fn new(config: AnthropicConfig) -> Result<Self, ConfigError> {
        let driver = HttpDriver::new(config.timeouts, config.api_key.iter().cloned().collect())?;
        Ok(Self {
            url: config.base_url.join(&["v1", "messages"]),
            name: config.name,
            api_key: config.api_key,
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
        headers.insert(
            HeaderName::from_static("anthropic-version"),
            HeaderValue::from_static(ANTHROPIC_VERSION),
        );
        if let Some(key) = &self.api_key {
            headers.insert(
                HeaderName::from_static("x-api-key"),
                secret_header(key.expose_secret())?,
            );
        }
        Ok(headers)
    }
}

#[async_trait]
impl Provider for AnthropicProvider {
    fn name(&self) -> &str {
        &self.name
    }

    async fn complete(
        &self,
        request: &CompletionRequest,
        deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError> {
        let body = serde_json::to_vec(&encode(request)).map_err(|err| {
            ProviderError::permanent(ErrorKind::BadRequest, format!("could not encode: {err}"))
        })?;
        let call = HttpCall {
            url: self.url.clone(),
            headers: self.headers(request.stream)?,
            body,
        };
        let prompt_estimate = estimate_prompt_tokens(request);
        let decode_plain = move |body: &[u8]| -> Result<Completion, ProviderError> {
            let response: wire::MessageResponse =
                serde_json::from_slice(body).map_err(malformed)?;
            let mut completion = decode(response);
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

/// Encodes a request in Messages format.
pub(crate) fn encode(request: &CompletionRequest) -> wire::MessagesRequest {
    wire::MessagesRequest {
        model: request.model.clone(),
        max_tokens: request.max_output_tokens,
        system: request.system.as_deref().map(str::to_owned),
        messages: request
            .messages
            .iter()
            .map(|message| wire::Message {
                role: match message.role {
                    Role::User => "user",
                    Role::Assistant => "assistant",
                },
                content: message.content.clone(),
            })
            .collect(),
        // Anthropic takes temperatures up to 1; Baton's scale goes to 2 as OpenAI's does.
        temperature: request.temperature.map(|t| t.clamp(0.0, 1.0)),
        output_config: request
            .json_schema
            .as_ref()
            .map(|format| wire::OutputConfig {
                format: wire::OutputFormat::JsonSchema {
                    schema: format.schema.clone(),
                },
            }),
        stream: request.stream.then_some(true),
    }
}

/// Decodes a plain `message`.
pub(crate) fn decode(response: wire::MessageResponse) -> Completion {
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for block in response.content {
        match block {
            wire::ContentBlock::Text { text: piece } => text.push_str(&piece),
            wire::ContentBlock::ToolUse { id, name, input } => {
                let arguments = match input {
                    serde_json::Value::Null => "{}".to_owned(),
                    input => input.to_string(),
                };
                tool_calls.push(ToolCall {
                    id,
                    name,
                    arguments,
                });
            }
            wire::ContentBlock::Other => {}
        }
    }
    let report = response.usage.map(usage_report).unwrap_or_default();
    Completion {
        usage: usage_or_estimate(&report, 0, &text),
        text,
        tool_calls,
        finish_reason: response
            .stop_reason
            .as_deref()
            .map_or(FinishReason::Stop, stop_reason),
        model: response.model,
        limits: None,
    }
}

/// Maps a Messages `stop_reason`.
pub(crate) fn stop_reason(reason: &str) -> FinishReason {
    match reason {
        "end_turn" | "stop_sequence" => FinishReason::Stop,
        "max_tokens" => FinishReason::Length,
        "tool_use" => FinishReason::ToolCalls,
        "refusal" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Reads Anthropic usage: its `input_tokens` exclude cached prompt tokens, so the
/// prompt total adds the cache reads and writes back in.
pub(crate) fn usage_report(usage: wire::AnthropicUsage) -> UsageReport {
    let input = usage.input_tokens.map(|input| {
        input
            + usage.cache_creation_input_tokens.unwrap_or(0)
            + usage.cache_read_input_tokens.unwrap_or(0)
    });
    UsageReport {
        input,
        output: usage.output_tokens,
        cached: usage.cache_read_input_tokens,
        reasoning: None,
    }
}

#[cfg(test)]
mod tests;
