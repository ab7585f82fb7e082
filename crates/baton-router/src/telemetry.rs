//! Live telemetry per model: success rate and latency (p50/p95, time to first
//! token) as exponentially weighted figures that halve their weight every
//! half-life, plus lifetime counters (calls, errors by kind, tokens, cost).
//!
//! Weights decay with time, not with calls: a figure measured an hour ago counts
//! for little however quiet the model has been since. Latency quantiles come from
//! a decaying histogram with geometric buckets (each 25% wider than the last).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::time::Instant;
use utoipa::ToSchema;

use crate::error::RouterError;
use crate::outcome::{CallOutcome, Health, error_kind_name};

/// How telemetry forgets, and what it assumes before it has seen anything.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Seconds after which an observation counts half as much.
    pub half_life_s: f64,
    /// The success rate assumed for a model with no recent calls.
    pub prior_success_rate: f64,
    /// How many calls the prior is worth: the more, the slower one failure moves the rate.
    pub prior_weight: f64,
}

/// A model's live figures, for `GET /models` and scoring.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TelemetrySnapshot {
    /// Calls recorded since the figures began (lifetime).
    pub calls: u64,
    /// Calls that succeeded (lifetime).
    pub successes: u64,
    /// Calls that failed (lifetime).
    pub failures: u64,
    /// The recent success rate (0..1), blended with the prior while calls are few.
    pub success_rate: f64,
    /// How many recent calls the figures rest on, after decay.
    pub recent_calls: f64,
    /// Median latency of recent successful calls, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p50_ms: Option<f64>,
    /// 95th percentile latency of recent successful calls, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_p95_ms: Option<f64>,
    /// Median time to first token of recent streamed calls, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p50_ms: Option<f64>,
    /// 95th percentile time to first token, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttft_p95_ms: Option<f64>,
    /// Failed calls by error kind (lifetime), e.g. `rate_limited`, `timeout`.
    pub errors_by_kind: BTreeMap<String, u64>,
    /// The most recent failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<LastError>,
    /// Prompt tokens over all calls.
    pub input_tokens: u64,
    /// Completion tokens over all calls.
    pub output_tokens: u64,
    /// Cached prompt tokens over all calls.
    pub cached_input_tokens: u64,
    /// Dollars over all calls.
    pub cost_usd: f64,
}

/// The most recent failure of a model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LastError {
    /// The error kind, e.g. `server`.
    pub kind: String,
    /// The vendor's message (never a key), cut to 500 characters.
    pub message: String,
    /// When it happened (RFC 3339, UTC).
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// Everything needed to rebuild a model's telemetry after a restart; the journal
/// stores it as JSON. Weights are as of the moment the state was taken.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TelemetryState {
    /// Decayed weight of recent successes.
    pub success_weight: f64,
    /// Decayed weight of recent failures.
    pub failure_weight: f64,
    /// Decayed latency histogram of successful calls (geometric buckets from 1 ms).
    pub latency_buckets: Vec<f64>,
    /// Decayed time-to-first-token histogram.
    pub ttft_buckets: Vec<f64>,
    /// Lifetime counters and last error, as in the snapshot.
    pub totals: TelemetrySnapshot,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            half_life_s: 600.0,
            prior_success_rate: 0.9,
            prior_weight: 2.0,
        }
    }
}

impl TelemetryConfig {
    pub(crate) fn validate(&self, key: &str) -> Result<(), RouterError> {
        if !(self.half_life_s.is_finite() && self.half_life_s > 0.0) {
            return Err(RouterError::config(
                format!("{key}.half_life_s"),
                "must be positive",
            ));
        }
        if !(0.0..=1.0).contains(&self.prior_success_rate) {
            return Err(RouterError::config(
                format!("{key}.prior_success_rate"),
                "must be in [0, 1]",
            ));
        }
        if !(self.prior_weight.is_finite() && self.prior_weight > 0.0) {
            return Err(RouterError::config(
                format!("{key}.prior_weight"),
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// The lower edge of the first latency bucket above zero, in milliseconds.
const BUCKET_BASE_MS: f64 = 1.0;
/// Each bucket is this much wider than the one before: quantiles are good to ±12%.
const BUCKET_GROWTH: f64 = 1.25;
/// 64 buckets of 25% growth reach about 27 minutes, past any call timeout.
const BUCKET_COUNT: usize = 64;
/// Longest last-error message kept.
const MAX_ERROR_MESSAGE_CHARS: usize = 500;

/// A histogram of durations whose weights decay together.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DecayingHistogram {
    buckets: Vec<f64>,
}

impl DecayingHistogram {
    pub(crate) fn new() -> Self {
        Self {
            buckets: vec![0.0; BUCKET_COUNT],
        }
    }

    fn from_buckets(buckets: &[f64]) -> Self {
        let mut histogram = Self::new();
        for (slot, weight) in histogram.buckets.iter_mut().zip(buckets) {
            if weight.is_finite() && *weight > 0.0 {
                *slot = *weight;
            }
        }
        histogram
    }

    fn bucket_of(ms: f64) -> usize {
        if ms < BUCKET_BASE_MS * BUCKET_GROWTH {
            return 0;
        }
        let idx = (ms / BUCKET_BASE_MS).ln() / BUCKET_GROWTH.ln();
        (idx.floor() as usize).min(BUCKET_COUNT - 1)
    }

    fn lower_edge(idx: usize) -> f64 {
        if idx == 0 {
            0.0
        } else {
            BUCKET_BASE_MS * BUCKET_GROWTH.powi(idx as i32)
        }
    }

    fn upper_edge(idx: usize) -> f64 {
        BUCKET_BASE_MS * BUCKET_GROWTH.powi(idx as i32 + 1)
    }

    pub(crate) fn observe(&mut self, ms: f64) {
        if ms.is_finite() && ms >= 0.0 {
            self.buckets[Self::bucket_of(ms)] += 1.0;
        }
    }

    fn decay(&mut self, factor: f64) {
        for weight in &mut self.buckets {
            *weight *= factor;
        }
    }

    fn total(&self) -> f64 {
        self.buckets.iter().sum()
    }

    /// The `q` quantile (0..1) in milliseconds, interpolated inside its bucket;
    /// `None` when the histogram is empty. Uniform decay does not move quantiles.
    pub(crate) fn quantile(&self, q: f64) -> Option<f64> {
        let total = self.total();
        if total <= f64::MIN_POSITIVE {
            return None;
        }
        let target = q.clamp(0.0, 1.0) * total;
        let mut below = 0.0;
        for (idx, weight) in self.buckets.iter().enumerate() {
            if *weight > 0.0 && below + weight >= target {
                let within = ((target - below) / weight).clamp(0.0, 1.0);
                let (lo, hi) = (Self::lower_edge(idx), Self::upper_edge(idx));
                return Some(lo + (hi - lo) * within);
            }
            below += weight;
        }
        let last = self.buckets.iter().rposition(|w| *w > 0.0)?;
        Some(Self::upper_edge(last))
    }
}

/// One model's telemetry.
#[derive(Clone, Debug)]
pub(crate) struct ModelTelemetry {
    updated_at: Instant,
    success_weight: f64,
    failure_weight: f64,
    latency: DecayingHistogram,
    ttft: DecayingHistogram,
    totals: TelemetrySnapshot,
}

impl ModelTelemetry {
    pub(crate) fn new(now: Instant) -> Self {
        Self {
            updated_at: now,
            success_weight: 0.0,
            failure_weight: 0.0,
            latency: DecayingHistogram::new(),
            ttft: DecayingHistogram::new(),
            totals: TelemetrySnapshot::default(),
        }
    }

    pub(crate) fn from_state(state: &TelemetryState, now: Instant) -> Self {
        let weight = |w: f64| if w.is_finite() && w > 0.0 { w } else { 0.0 };
        Self {
            updated_at: now,
            success_weight: weight(state.success_weight),
            failure_weight: weight(state.failure_weight),
            latency: DecayingHistogram::from_buckets(&state.latency_buckets),
            ttft: DecayingHistogram::from_buckets(&state.ttft_buckets),
            totals: state.totals.clone(),
        }
    }

    /// Telemetry saved `elapsed` ago: its weights decay for the time that passed.
    pub(crate) fn restore(
        state: &TelemetryState,
        config: &TelemetryConfig,
        now: Instant,
        elapsed: std::time::Duration,
    ) -> Self {
        let mut telemetry = Self::from_state(state, now);
        let factor = 0.5_f64.powf(elapsed.as_secs_f64() / config.half_life_s);
        telemetry.success_weight *= factor;
        telemetry.failure_weight *= factor;
        telemetry.latency.decay(factor);
        telemetry.ttft.decay(factor);
        telemetry
    }

    fn decay_factor(&self, config: &TelemetryConfig, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.updated_at).as_secs_f64();
        0.5_f64.powf(elapsed / config.half_life_s)
    }

    fn advance(&mut self, config: &TelemetryConfig, now: Instant) {
        let factor = self.decay_factor(config, now);
        self.success_weight *= factor;
        self.failure_weight *= factor;
        self.latency.decay(factor);
        self.ttft.decay(factor);
        self.updated_at = self.updated_at.max(now);
    }

    pub(crate) fn record(&mut self, config: &TelemetryConfig, now: Instant, outcome: &CallOutcome) {
        self.advance(config, now);
        let totals = &mut self.totals;
        totals.calls += 1;
        totals.input_tokens += outcome.usage.input_tokens;
        totals.output_tokens += outcome.usage.output_tokens;
        totals.cached_input_tokens += outcome.usage.cached_input_tokens;
        if outcome.cost_usd.is_finite() && outcome.cost_usd > 0.0 {
            totals.cost_usd += outcome.cost_usd;
        }
        if outcome.success {
            totals.successes += 1;
        } else {
            totals.failures += 1;
            let (kind, message) = match &outcome.error {
                Some((kind, message)) => (error_kind_name(kind), message.as_str()),
                None => ("unknown", ""),
            };
            *totals.errors_by_kind.entry(kind.to_owned()).or_default() += 1;
            totals.last_error = Some(LastError {
                kind: kind.to_owned(),
                message: message.chars().take(MAX_ERROR_MESSAGE_CHARS).collect(),
                at: OffsetDateTime::now_utc(),
            });
        }
        match Health::of(outcome) {
            Health::Healthy => {
                self.success_weight += 1.0;
                self.latency.observe(outcome.latency.as_secs_f64() * 1000.0);
                if let Some(ttft) = outcome.time_to_first_token {
                    self.ttft.observe(ttft.as_secs_f64() * 1000.0);
                }
            }
            Health::Failing | Health::ModelUnusable | Health::ProviderUnusable => {
                self.failure_weight += 1.0;
            }
            Health::Neutral => {}
        }
    }

    /// The recent success rate, blended with the prior: `(s + p·w) / (s + f + w)`.
    pub(crate) fn success_rate(&self, config: &TelemetryConfig, now: Instant) -> f64 {
        let factor = self.decay_factor(config, now);
        let successes = self.success_weight * factor;
        let failures = self.failure_weight * factor;
        let prior = config.prior_success_rate * config.prior_weight;
        ((successes + prior) / (successes + failures + config.prior_weight)).clamp(0.0, 1.0)
    }

    /// The median latency of recent successful calls, in milliseconds.
    pub(crate) fn latency_p50_ms(&self) -> Option<f64> {
        self.latency.quantile(0.5)
    }

    pub(crate) fn snapshot(&self, config: &TelemetryConfig, now: Instant) -> TelemetrySnapshot {
        let factor = self.decay_factor(config, now);
        TelemetrySnapshot {
            success_rate: self.success_rate(config, now),
            recent_calls: (self.success_weight + self.failure_weight) * factor,
            latency_p50_ms: self.latency.quantile(0.5),
            latency_p95_ms: self.latency.quantile(0.95),
            ttft_p50_ms: self.ttft.quantile(0.5),
            ttft_p95_ms: self.ttft.quantile(0.95),
            ..self.totals.clone()
        }
    }

    pub(crate) fn state(&self, config: &TelemetryConfig, now: Instant) -> TelemetryState {
        let mut current = self.clone();
        current.advance(config, now);
        TelemetryState {
            success_weight: current.success_weight,
            failure_weight: current.failure_weight,
            latency_buckets: current.latency.buckets,
            ttft_buckets: current.ttft.buckets,
            totals: current.totals,
        }
    }
}

#[cfg(test)]
mod tests;
