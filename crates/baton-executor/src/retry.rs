//! The retry policy for transient failures: exponential backoff with full jitter,
//! honouring the vendor's `Retry-After` up to a cap.

use std::time::Duration;

use serde::Deserialize;

/// How transient failures are retried.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetryPolicy {
    /// The backoff ceiling of the first retry, in milliseconds; doubled per retry.
    pub base_delay_ms: u64,
    /// The largest backoff ceiling, in milliseconds.
    pub max_delay_ms: u64,
    /// The longest `Retry-After` Baton waits, in milliseconds. A vendor asking for
    /// longer is treated as unavailable: the task falls back instead of sleeping.
    pub max_retry_after_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            base_delay_ms: 250,
            max_delay_ms: 10_000,
            max_retry_after_ms: 30_000,
        }
    }
}

/// What to do after a transient failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryDecision {
    /// Wait this long, then try again.
    RetryAfter(Duration),
    /// Stop retrying this model (retries used up, or the vendor asked for a wait past the cap).
    GiveUp,
}

impl RetryPolicy {
    /// Decides the wait before retry number `retry` (1 for the first retry) given the
    /// vendor's requested wait, with `unit_random` drawn uniformly from [0, 1).
    ///
    /// Full jitter: the wait is uniform in `[0, min(max, base · 2^(retry-1)))`, and never
    /// shorter than what the vendor asked for.
    pub fn decide(
        &self,
        retry: u32,
        max_retries: u32,
        retry_after: Option<Duration>,
        unit_random: f64,
    ) -> RetryDecision {
        if retry > max_retries {
            return RetryDecision::GiveUp;
        }
        if let Some(wait) = retry_after
            && wait > Duration::from_millis(self.max_retry_after_ms)
        {
            return RetryDecision::GiveUp;
        }
        let exponent = retry.saturating_sub(1).min(32);
        let ceiling = self
            .base_delay_ms
            .saturating_mul(1u64 << exponent)
            .min(self.max_delay_ms);
        let jittered = Duration::from_millis((ceiling as f64 * unit_random.clamp(0.0, 1.0)) as u64);
        RetryDecision::RetryAfter(jittered.max(retry_after.unwrap_or_default()))
    }
}

#[cfg(test)]
mod tests;
