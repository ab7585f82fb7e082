//! What a call did, as the executor reports it to the router after every call, and
//! how each kind of failure counts for telemetry and breakers.

use std::time::Duration;

use baton_core::usage::Usage;
use baton_providers::provider::ErrorKind;

/// The result of one call, reported through [`crate::Router::record`].
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutcome {
    /// Whether the call produced output.
    pub success: bool,
    /// How long the call took, from sending the request to its last byte (or failure).
    pub latency: Duration,
    /// How long the first token took, for streamed calls.
    pub time_to_first_token: Option<Duration>,
    /// What went wrong, when it failed: the kind and the vendor's message.
    pub error: Option<(ErrorKind, String)>,
    /// Tokens the call used (including a failed call's partial usage).
    pub usage: Usage,
    /// What the call cost, in dollars.
    pub cost_usd: f64,
}

impl CallOutcome {
    /// A successful call.
    pub fn succeeded(
        latency: Duration,
        time_to_first_token: Option<Duration>,
        usage: Usage,
        cost_usd: f64,
    ) -> Self {
        Self {
            success: true,
            latency,
            time_to_first_token,
            error: None,
            usage,
            cost_usd,
        }
    }

    /// A failed call.
    pub fn failed(kind: ErrorKind, message: impl Into<String>, latency: Duration) -> Self {
        Self {
            success: false,
            latency,
            time_to_first_token: None,
            error: Some((kind, message.into())),
            usage: Usage::default(),
            cost_usd: 0.0,
        }
    }
}

/// The stable snake_case name of an error kind, as telemetry counts it.
pub fn error_kind_name(kind: &ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Server => "server",
        ErrorKind::Timeout(_) => "timeout",
        ErrorKind::Connection => "connection",
        ErrorKind::StreamCut => "stream_cut",
        ErrorKind::StreamError => "stream_error",
        ErrorKind::BadRequest => "bad_request",
        ErrorKind::Auth => "auth",
        ErrorKind::NotFound => "not_found",
        ErrorKind::ContextTooLong => "context_too_long",
        ErrorKind::ContentPolicy => "content_policy",
        ErrorKind::QuotaExhausted => "quota_exhausted",
        ErrorKind::Malformed => "malformed",
        ErrorKind::Redirect => "redirect",
        ErrorKind::Unsupported => "unsupported",
    }
}

/// What a failure says about the health of a model and its provider.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Health {
    /// The call succeeded.
    Healthy,
    /// The model or the vendor misbehaved: counts against the success rate and
    /// towards both breakers.
    Failing,
    /// The model cannot serve at all (unknown to the vendor): its breaker opens now.
    ModelUnusable,
    /// The account cannot call the provider (bad key, no quota): the provider's
    /// breaker opens now.
    ProviderUnusable,
    /// The request was at fault (too long, refused by policy, malformed by us):
    /// the model's health is unknown, so nothing counts.
    Neutral,
}

impl Health {
    pub(crate) fn of(outcome: &CallOutcome) -> Health {
        if outcome.success {
            return Health::Healthy;
        }
        let Some((kind, _)) = &outcome.error else {
            return Health::Failing;
        };
        match kind {
            ErrorKind::Auth | ErrorKind::QuotaExhausted => Health::ProviderUnusable,
            ErrorKind::NotFound | ErrorKind::Unsupported => Health::ModelUnusable,
            ErrorKind::ContextTooLong | ErrorKind::ContentPolicy | ErrorKind::BadRequest => {
                Health::Neutral
            }
            ErrorKind::RateLimited
            | ErrorKind::Overloaded
            | ErrorKind::Server
            | ErrorKind::Timeout(_)
            | ErrorKind::Connection
            | ErrorKind::StreamCut
            | ErrorKind::StreamError
            | ErrorKind::Malformed
            | ErrorKind::Redirect => Health::Failing,
        }
    }
}
