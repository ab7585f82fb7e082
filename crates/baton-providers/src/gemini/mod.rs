//! The `gemini` adapter: Google's `generateContent` and
//! `streamGenerateContent?alt=sse`.
//!
//! Requests go to `{base_url}/v1beta/models/{model}:generateContent`, where the base
//! URL is the host root as the official SDK's is
//! (`https://generativelanguage.googleapis.com`), with any proxy prefix kept. The key is
//! sent in the `x-goog-api-key` header, never in the URL (a URL is logged by every
//! proxy on the way). The system prompt is `systemInstruction`; structured output is
//! `responseMimeType: application/json` with `responseJsonSchema`, which takes JSON
//! Schema as Baton has it (the older `responseSchema` takes only an OpenAPI subset and
//! refuses `additionalProperties`, `$ref` and friends).

mod stream;
pub(crate) mod wire;

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

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

/// The configuration of the `gemini` provider.
#[derive(Clone, Debug)]
pub struct GeminiConfig {
    /// The provider's name (`gemini` unless configured otherwise).
    pub name: String,
    /// The base URL: the host root, with any proxy prefix.
    pub base_url: BaseUrl,
    /// The API key (`x-goog-api-key`).
    pub api_key: Option<SecretString>,
    /// The four timeouts.
    pub timeouts: Timeouts,
}

impl GeminiConfig {
    /// Google's base URL for the Gemini API.
    pub const DEFAULT_BASE_URL: &'static str = "https://generativelanguage.googleapis.com";

    /// The `gemini` provider at `base_url`, the value of the setting named
    /// `base_url_setting` (for example `GEMINI_BASE_URL`, which errors name).
    pub fn new(
        base_url: &str,
        base_url_setting: &str,
        api_key: Option<SecretString>,
    ) -> Result<Self, ConfigError> {
        Ok(Self {
            name: "gemini".to_owned(),
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

/// The `gemini` provider.
#[derive(Clone)]
pub struct GeminiProvider {
    name: String,
    base_url: BaseUrl,
    api_key: Option<SecretString>,
    driver: HttpDriver,
}

impl fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeminiProvider")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "[REDACTED]"))
            .finish_non_exhaustive()
    }
}

impl GeminiProvider {
    /// A provider for `config`; fails only if the HTTP client cannot be built.
    pub fn new(config: GeminiConfig) -> Result<Self, ConfigError> {
        let driver = HttpDriver::new(config.timeouts, config.api_key.iter().cloned().collect())?;
        Ok(Self {
            name: config.name,
            base_url: config.base_url,
            api_key: config.api_key,
            driver,
        })
    }

    fn call(&self, request: &CompletionRequest, body: Vec<u8>) -> Result<HttpCall, ProviderError> {
        // Model ids may come as `models/gemini-…`, as the API lists them.
        let model = request
            .model
            .strip_prefix("models/")
            .unwrap_or(&request.model);
        let method = if request.stream {
            "streamGenerateContent"
        } else {
            "generateContent"
        };
        let mut url = self
            .base_url
            .join(&["v1beta", "models", &format!("{model}:{method}")]);
        if request.stream {
            url.set_query(Some("alt=sse"));
        }
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(
            ACCEPT,
            HeaderValue::from_static(if request.stream {
                "text/event-stream"
            } else {
                "application/json"
            }),
        );
        if let Some(key) = &self.api_key {
            headers.insert(
                HeaderName::from_static("x-goog-api-key"),
                secret_header(key.expose_secret())?,
            );
        }
        Ok(HttpCall { url, headers, body })
    }
}

#[async_trait]
impl Provider for GeminiProvider {
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
        let call = self.call(request, body)?;
        let prompt_estimate = estimate_prompt_tokens(request);
        let decode_plain = move |body: &[u8]| -> Result<Completion, ProviderError> {
            let response: wire::GenerateContentResponse =
                serde_json::from_slice(body).map_err(malformed)?;
            let mut completion = decode(response)?;
            fill_input_estimate(&mut completion, prompt_estimate);
            Ok(completion)
        };
        if !request.stream {
            return self.driver.send(call, &decode_plain).await;
        }
        let accumulator = StreamAccumulator::new(prompt_estimate);
        let mut completion = self
            .driver
            .stream(call, decode_event, accumulator, deltas, &decode_plain)
            .await?;
        tool_calls_finish(&mut completion);
        Ok(completion)
    }
}

/// Encodes a request in `generateContent` format.
pub(crate) fn encode(request: &CompletionRequest) -> wire::GenerateContentRequest {
    let text = |text: &str| {
        vec![wire::TextPart {
            text: text.to_owned(),
        }]
    };
    wire::GenerateContentRequest {
        contents: request
            .messages
            .iter()
            .map(|message| wire::Content {
                role: Some(match message.role {
                    Role::User => "user",
                    Role::Assistant => "model",
                }),
                parts: text(&message.content),
            })
            .collect(),
        system_instruction: request.system.as_deref().map(|system| wire::Content {
            role: None,
            parts: text(system),
        }),
        generation_config: wire::GenerationConfig {
            max_output_tokens: request.max_output_tokens,
            temperature: request.temperature,
            // The API takes an int32 seed.
            seed: request.seed.map(|seed| (seed % (1 << 31)) as i64),
            response_mime_type: request.json_schema.as_ref().map(|_| "application/json"),
            response_json_schema: request.json_schema.as_ref().map(|f| f.schema.clone()),
        },
    }
}

/// Decodes a whole `GenerateContentResponse`.
pub(crate) fn decode(response: wire::GenerateContentResponse) -> Result<Completion, ProviderError> {
    if let Some(error) = response.error {
        return Err(body_error(error));
    }
    let report = response
        .usage_metadata
        .map(usage_report)
        .unwrap_or_default();
    let Some(candidate) = response.candidates.into_iter().next() else {
        let reason = response
            .prompt_feedback
            .and_then(|feedback| feedback.block_reason);
        return Err(match reason {
            Some(reason) => ProviderError::permanent(
                ErrorKind::ContentPolicy,
                format!("the prompt was blocked: {reason}"),
            ),
            None => {
                ProviderError::transient(ErrorKind::Malformed, "the response has no candidates")
            }
        });
    };
    let mut text = String::new();
    let mut tool_calls = Vec::new();
    for part in candidate
        .content
        .map(|content| content.parts)
        .unwrap_or_default()
    {
        if let Some(call) = part.function_call {
            let id = call
                .id
                .unwrap_or_else(|| format!("call_{}", tool_calls.len()));
            tool_calls.push(ToolCall {
                id,
                name: call.name,
                arguments: arguments(call.args),
            });
        } else if part.thought != Some(true)
            && let Some(piece) = part.text
        {
            text.push_str(&piece);
        }
    }
    let mut completion = Completion {
        usage: usage_or_estimate(&report, 0, &text),
        text,
        tool_calls,
        finish_reason: candidate
            .finish_reason
            .as_deref()
            .map_or(FinishReason::Stop, finish_reason),
        model: response.model_version,
        limits: None,
    };
    tool_calls_finish(&mut completion);
    Ok(completion)
}

/// A function call's arguments as JSON text.
pub(crate) fn arguments(args: Option<serde_json::Value>) -> String {
    match args {
        None | Some(serde_json::Value::Null) => "{}".to_owned(),
        Some(args) => args.to_string(),
    }
}

/// Gemini ends a function-calling answer with `STOP`; in Baton's terms the model
/// stopped to call tools.
fn tool_calls_finish(completion: &mut Completion) {
    if !completion.tool_calls.is_empty() && completion.finish_reason == FinishReason::Stop {
        completion.finish_reason = FinishReason::ToolCalls;
    }
}

/// Maps a `finishReason`.
pub(crate) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "STOP" => FinishReason::Stop,
        "MAX_TOKENS" => FinishReason::Length,
        "SAFETY"
        | "RECITATION"
        | "BLOCKLIST"
        | "PROHIBITED_CONTENT"
        | "SPII"
        | "IMAGE_SAFETY"
        | "IMAGE_PROHIBITED_CONTENT"
        | "IMAGE_RECITATION" => FinishReason::ContentFilter,
        other => FinishReason::Other(other.to_owned()),
    }
}

/// Reads `usageMetadata`: thinking tokens are output (and billed so), tool-use prompt
/// tokens are input.
pub(crate) fn usage_report(usage: wire::UsageMetadata) -> UsageReport {
    let thoughts = usage.thoughts_token_count.unwrap_or(0);
    UsageReport {
        input: usage
            .prompt_token_count
            .map(|prompt| prompt + usage.tool_use_prompt_token_count.unwrap_or(0)),
        output: match (usage.candidates_token_count, usage.thoughts_token_count) {
            (None, None) => None,
            (candidates, _) => Some(candidates.unwrap_or(0) + thoughts),
        },
        cached: usage.cached_content_token_count,
        reasoning: usage.thoughts_token_count,
    }
}

#[cfg(test)]
mod tests;
