//! Scoring: each part of a candidate's score is first normalised to 0..=1, then
//! weighted by the profile's weights divided by their sum, so no part can
//! dominate by its scale and a total is always between 0 and 1.
//!
//! - `capability`: 1 when the model lists the capability, 0.75 when a call that
//!   asks for `general` meets a specialist, 0.5 when the model is a generalist, else 0;
//! - `quality`: the tier for the capability, (tier − 1) / 4;
//! - `price`: the expected cost relative to the cheapest candidate, on a log
//!   scale: 1 for the cheapest, 0 for one `price_span` times dearer or more;
//! - `latency`: the same against the fastest known candidate, with `latency_span`;
//!   a model with no figures gets `unknown_latency_part`;
//! - `success`: the recent success rate.

use baton_core::event::ScoreParts;
use baton_core::graph::Capability;

use crate::catalogue::{MAX_TIER, MIN_TIER, ModelSpec};
use crate::config::{ScoringConfig, Weights};

/// Costs below a millionth of a dollar count as that, so free models compare sanely.
const COST_FLOOR_USD: f64 = 1e-6;
/// Latencies below a millisecond count as one millisecond.
const LATENCY_FLOOR_MS: f64 = 1.0;

/// What the scorer needs to know about one eligible candidate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ScoreInput<'a> {
    pub(crate) spec: &'a ModelSpec,
    /// The recent success rate, 0..=1.
    pub(crate) success_rate: f64,
    /// The latency estimate in milliseconds, when there is one.
    pub(crate) latency_ms: Option<f64>,
}

/// The call being routed, as far as scoring is concerned.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CallShape {
    pub(crate) capability: Capability,
    pub(crate) input_tokens: u64,
    pub(crate) max_output_tokens: u32,
}

/// One candidate's score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    /// Each part, normalised to 0..=1, in `Weights::by_part` order.
    pub(crate) normalised: [f64; 5],
    /// Each part after weighting, in `Weights::by_part` order; they sum to `total`.
    pub(crate) weighted: [f64; 5],
    /// The score, 0..=1.
    pub(crate) total: f64,
}

/// A score's weighted parts as a `decision` event reports them.
pub(crate) fn parts_of(scored: &Scored) -> ScoreParts {
    let [capability, quality, price, latency, success] = scored.weighted;
    ScoreParts {
        capability,
        latency,
        price,
        quality,
        success,
    }
}

/// How well a model's capabilities fit the call's.
pub(crate) fn capability_fit(spec: &ModelSpec, capability: Capability) -> f64 {
    if spec.capabilities.contains_key(&capability) {
        1.0
    } else if capability == Capability::General {
        0.75
    } else if spec.capabilities.contains_key(&Capability::General) {
        0.5
    } else {
        0.0
    }
}

/// The model's quality tier for the capability, scaled to 0..=1.
pub(crate) fn quality(spec: &ModelSpec, capability: Capability) -> f64 {
    let tier = spec.tier_for(capability).clamp(MIN_TIER, MAX_TIER);
    f64::from(tier - MIN_TIER) / f64::from(MAX_TIER - MIN_TIER)
}

/// The output tokens a call may produce on this model.
pub(crate) fn output_allowance(spec: &ModelSpec, max_output_tokens: u32) -> u32 {
    max_output_tokens.min(spec.max_output_tokens)
}

/// The expected cost of the call on this model, in dollars.
pub(crate) fn expected_cost(spec: &ModelSpec, shape: &CallShape, scoring: &ScoringConfig) -> f64 {
    let output = f64::from(output_allowance(spec, shape.max_output_tokens))
        * scoring.expected_output_fraction;
    (shape.input_tokens as f64 * spec.price.input_per_mtok + output * spec.price.output_per_mtok)
        / 1_000_000.0
}

/// The most the call can cost on this model, in dollars.
pub(crate) fn worst_case_cost(spec: &ModelSpec, input_tokens: u64, max_output_tokens: u32) -> f64 {
    spec.price.worst_case_cost(
        input_tokens,
        u64::from(output_allowance(spec, max_output_tokens)),
    )
}

/// `1 − ln(value / best) / ln(span)`, clamped to 0..=1: 1 for the best, 0 at
/// `span` times the best or worse.
pub(crate) fn relative_part(value: f64, best: f64, span: f64) -> f64 {
    if !(value.is_finite() && best.is_finite() && best > 0.0 && value > 0.0) {
        return 0.0;
    }
    let part = 1.0 - (value / best).ln() / span.ln();
    if part.is_nan() {
        0.0
    } else {
        part.clamp(0.0, 1.0)
    }
}

/// Scores every eligible candidate against the others.
pub(crate) fn score_all(
    candidates: &[ScoreInput<'_>],
    shape: &CallShape,
    scoring: &ScoringConfig,
    weights: &Weights,
) -> Vec<Scored> {
    let costs: Vec<f64> = candidates
        .iter()
        .map(|c| expected_cost(c.spec, shape, scoring).max(COST_FLOOR_USD))
        .collect();
    let cheapest = costs.iter().copied().fold(f64::INFINITY, f64::min);
    let latencies: Vec<Option<f64>> = candidates
        .iter()
        .map(|c| {
            c.latency_ms
                .filter(|ms| ms.is_finite())
                .map(|ms| ms.max(LATENCY_FLOOR_MS))
        })
        .collect();
    let fastest = latencies
        .iter()
        .flatten()
        .copied()
        .fold(f64::INFINITY, f64::min);
    let weight_total = weights.total();
    let weight_by_part: Vec<f64> = weights.by_part().iter().map(|(_, w)| *w).collect();

    candidates
        .iter()
        .zip(costs.iter().zip(&latencies))
        .map(|(candidate, (cost, latency))| {
            let latency_part = match latency {
                Some(ms) => relative_part(*ms, fastest, scoring.latency_span),
                None => scoring.unknown_latency_part,
            };
            let normalised = [
                capability_fit(candidate.spec, shape.capability),
                quality(candidate.spec, shape.capability),
                relative_part(*cost, cheapest, scoring.price_span),
                latency_part,
                candidate.success_rate.clamp(0.0, 1.0),
            ]
            .map(|part| part.clamp(0.0, 1.0));
            let mut weighted = [0.0; 5];
            for (idx, part) in normalised.iter().enumerate() {
                weighted[idx] = part * weight_by_part[idx] / weight_total;
            }
            let total = weighted.iter().sum::<f64>().clamp(0.0, 1.0);
            Scored {
                normalised,
                weighted,
                total,
            }
        })
        .collect()
}

/// A dollar amount with enough digits to compare small costs, without trailing zeros.
pub(crate) fn format_usd(amount: f64) -> String {
    let text = format!("{amount:.6}");
    let trimmed = text.trim_end_matches('0');
    let trimmed = trimmed.strip_suffix('.').unwrap_or(trimmed);
    match trimmed.split_once('.') {
        Some((_, decimals)) if decimals.len() >= 2 => format!("${trimmed}"),
        Some(_) => format!("${amount:.2}"),
        None => format!("${amount:.2}"),
    }
}

#[cfg(test)]
mod tests;
