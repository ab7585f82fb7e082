//! The provider interface: a normalised request, a normalised completion, streamed
//! deltas, and errors classified once as transient or permanent.

use std::borrow::Cow;
use std::time::Duration;

use async_trait::async_trait;
use baton_core::status::CallKind;
use baton_core::usage::Usage;

/// Who said a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The caller (Baton, on the user's behalf).
    User,
    /// The model, in an earlier turn (used by repair calls).
    Assistant,
}

/// One message of the conversation sent to a model.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
}

impl Message {
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: content.into(),
        }
    }

    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Ask for output that is JSON matching a schema (structured output).
#[derive(Clone, Debug, PartialEq)]
pub struct JsonSchemaFormat {
    /// A short name for the schema (`[A-Za-z0-9_-]`), as vendors require.
    pub name: String,
    /// The JSON Schema.
    pub schema: serde_json::Value,
}

/// A call to a model, in Baton's terms; each adapter encodes it in its vendor's format.
#[derive(Clone, Debug, PartialEq)]
pub struct CompletionRequest {
    /// The vendor's model id (e.g. `gpt-4o-mini`).
    pub model: String,
    /// What the call is for.
    pub kind: CallKind,
    /// The system prompt: most are Baton's own, fixed text, which every call shares
    /// instead of a copy each (a wide run holds thousands of task requests at once).
    pub system: Option<Cow<'static, str>>,
    /// The conversation, oldest first; the last message is the user's.
    pub messages: Vec<Message>,
    /// The most output tokens to generate.
    pub max_output_tokens: u32,
    /// Sampling temperature, if set.
    pub temperature: Option<f32>,
    /// Structured output, if wanted.
    pub json_schema: Option<JsonSchemaFormat>,
    /// A seed for vendors (and the sim) that support one.
    pub seed: Option<u64>,
    /// Whether to stream (deltas are then sent as they arrive).
    pub stream: bool,
}

/// Why the model stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It hit `max_output_tokens`.
    Length,
    /// It asked to call tools.
    ToolCalls,
    /// The vendor's content filter stopped it.
    ContentFilter,
    /// Anything else, as the vendor named it.
    Other(String),
}

/// A tool call the model asked for (decoded, not executed).
#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    /// The vendor's call id.
    pub id: String,
    /// The tool's name.
    pub name: String,
    /// The arguments, as JSON text.
    pub arguments: String,
}

/// A finished call.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    /// The text output.
    pub text: String,
    /// Tool calls, in index order.
    pub tool_calls: Vec<ToolCall>,
    /// Why it stopped.
    pub finish_reason: FinishReason,
    /// Tokens used (`estimated` when the vendor's count was missing).
    pub usage: Usage,
    /// The model that answered, as the vendor reported it.
    pub model: Option<String>,
    /// What the response's headers said about the vendor's rate limits, if anything.
    pub limits: Option<VendorLimits>,
}

/// A vendor's own rate-limit figures from a successful response's headers
/// (OpenAI's `x-ratelimit-*`, Anthropic's `anthropic-ratelimit-*`), so Baton can
/// slow down before the vendor starts refusing calls.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VendorLimits {
    /// Requests left in the vendor's current window.
    pub remaining_requests: Option<u64>,
    /// Tokens left in the vendor's current window.
    pub remaining_tokens: Option<u64>,
    /// How long until the request window resets.
    pub reset_requests: Option<Duration>,
    /// How long until the token window resets.
    pub reset_tokens: Option<Duration>,
}

/// Receives streamed text as it arrives. The executor owns the receiving end and
/// turns each piece into a `task_delta` event; closing it drops nothing the
/// provider needs.
pub type DeltaSender = tokio::sync::mpsc::UnboundedSender<String>;

/// Whether a failure is worth retrying.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// May succeed if tried again later (rate limits, overload, 5xx, timeouts, cut streams).
    Transient,
    /// Will fail again the same way (bad request, auth, unknown model, context too long).
    Permanent,
}

/// Which of the four timeouts fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutKind {
    /// Connecting took too long.
    Connect,
    /// The first token (or the response head) took too long.
    FirstToken,
    /// The gap between two stream events was too long.
    Idle,
    /// The whole call took too long.
    Total,
}

/// What kind of failure it was.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// 429 or a vendor rate-limit error.
    RateLimited,
    /// The vendor is overloaded (Anthropic 529, `overloaded_error`, 503).
    Overloaded,
    /// A 5xx.
    Server,
    /// A timeout.
    Timeout(TimeoutKind),
    /// The connection failed or was reset.
    Connection,
    /// The stream ended before the vendor said it was done.
    StreamCut,
    /// The vendor sent an error event inside a 200 stream.
    StreamError,
    /// 400: the request was refused.
    BadRequest,
    /// 401 or 403.
    Auth,
    /// 404, e.g. an unknown model.
    NotFound,
    /// The prompt does not fit the model's context window.
    ContextTooLong,
    /// The vendor's content policy refused it.
    ContentPolicy,
    /// The account has no quota left (`insufficient_quota`).
    QuotaExhausted,
    /// The response could not be decoded.
    Malformed,
    /// A redirect was refused (it would carry the key to another host).
    Redirect,
    /// The provider is not configured for this call (e.g. an unknown model).
    Unsupported,
}

/// A failed call, classified once, with the vendor's message (never a key).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// Worth retrying or not.
    pub class: ErrorClass,
    /// What happened.
    pub kind: ErrorKind,
    /// The vendor's message or a description, with any secret redacted.
    pub message: String,
    /// The HTTP status, if there was one.
    pub status: Option<u16>,
    /// How long the vendor asked us to wait.
    pub retry_after: Option<Duration>,
    /// Tokens the failed call used, when known (a stream cut mid-way).
    pub partial_usage: Option<Usage>,
}

impl ProviderError {
    /// A transient error of a kind.
    pub fn transient(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Transient,
            kind,
            message: message.into(),
            status: None,
            retry_after: None,
            partial_usage: None,
        }
    }

    /// A permanent error of a kind.
    pub fn permanent(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            class: ErrorClass::Permanent,
            kind,
            message: message.into(),
            status: None,
            retry_after: None,
            partial_usage: None,
        }
    }

    /// Whether Baton's retry policy may try again.
    pub fn is_transient(&self) -> bool {
        self.class == ErrorClass::Transient
    }
}

/// A model vendor (or the simulator) that can complete requests.
#[async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// The provider's configured name (`openai`, `anthropic`, `gemini`, `sim`, or a
    /// named OpenAI-compatible entry such as `ollama`).
    fn name(&self) -> &str;

    /// Makes exactly one call. When `request.stream` is set and `deltas` is given,
    /// text is sent there as it arrives; the returned completion holds all of it.
    /// Dropping the future cancels the call.
    async fn complete(
        &self,
        request: &CompletionRequest,
        deltas: Option<&DeltaSender>,
    ) -> Result<Completion, ProviderError>;
}
