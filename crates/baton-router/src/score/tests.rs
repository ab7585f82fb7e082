//! Tests of scoring: every part is normalised to 0..=1 before weighting, the
//! weighted parts sum to the score, and each part moves the way it should.

use std::collections::BTreeMap;

use baton_core::usage::Price;
use proptest::prelude::*;

use super::*;

const CAPABILITIES: [Capability; 6] = [
    Capability::General,
    Capability::Reasoning,
    Capability::Writing,
    Capability::Coding,
    Capability::Research,
    Capability::Extraction,
];

fn spec(model: &str, tiers: &[(Capability, u8)], input: f64, output: f64) -> ModelSpec {
    ModelSpec {
        provider: "p".to_owned(),
        model: model.to_owned(),
        capabilities: tiers.iter().copied().collect(),
        context_window: 100_000,
        max_output_tokens: 4096,
        price: Price {
            input_per_mtok: input,
            output_per_mtok: output,
            cached_input_per_mtok: None,
        },
        typical_latency_ms: None,
    }
}

fn shape(capability: Capability) -> CallShape {
    CallShape {
        capability,
        input_tokens: 1000,
        max_output_tokens: 1000,
    }
}

fn weights() -> Weights {
    Weights {
        capability: 1.0,
        quality: 1.0,
        price: 1.0,
        latency: 1.0,
        success: 1.0,
    }
}

fn input(spec: &ModelSpec, success_rate: f64, latency_ms: Option<f64>) -> ScoreInput<'_> {
    ScoreInput {
        spec,
        success_rate,
        latency_ms,
    }
}

#[test]
fn capability_fit_prefers_a_listed_capability_then_a_generalist() {
    let specialist = spec("s", &[(Capability::Coding, 3)], 1.0, 1.0);
    let generalist = spec("g", &[(Capability::General, 3)], 1.0, 1.0);
    assert_eq!(capability_fit(&specialist, Capability::Coding), 1.0);
    assert_eq!(capability_fit(&generalist, Capability::Coding), 0.5);
    assert_eq!(capability_fit(&specialist, Capability::Writing), 0.0);
    assert_eq!(capability_fit(&specialist, Capability::General), 0.75);
    assert_eq!(capability_fit(&generalist, Capability::General), 1.0);
}

#[test]
fn quality_scales_tiers_from_zero_to_one() {
    let low = spec("l", &[(Capability::Writing, 1)], 1.0, 1.0);
    let mid = spec("m", &[(Capability::Writing, 3)], 1.0, 1.0);
    let top = spec("t", &[(Capability::Writing, 5)], 1.0, 1.0);
    assert_eq!(quality(&low, Capability::Writing), 0.0);
    assert_eq!(quality(&mid, Capability::Writing), 0.5);
    assert_eq!(quality(&top, Capability::Writing), 1.0);
}

#[test]
fn price_part_falls_with_the_log_of_the_price_ratio() {
    assert_eq!(relative_part(1.0, 1.0, 100.0), 1.0);
    assert!((relative_part(10.0, 1.0, 100.0) - 0.5).abs() < 1e-12);
    assert_eq!(relative_part(100.0, 1.0, 100.0), 0.0);
    assert_eq!(relative_part(1000.0, 1.0, 100.0), 0.0);
    assert_eq!(relative_part(f64::NAN, 1.0, 100.0), 0.0);
}

#[test]
fn the_cheapest_candidate_scores_one_on_price_and_a_ten_times_dearer_one_half() {
    let cheap = spec("c", &[(Capability::General, 3)], 1.0, 1.0);
    let dear = spec("d", &[(Capability::General, 3)], 10.0, 10.0);
    let scored = score_all(
        &[input(&cheap, 0.9, None), input(&dear, 0.9, None)],
        &shape(Capability::General),
        &ScoringConfig::default(),
        &weights(),
    );
    assert_eq!(scored[0].normalised[2], 1.0);
    assert!((scored[1].normalised[2] - 0.5).abs() < 1e-9);
    assert!(scored[0].total > scored[1].total);
}

#[test]
fn unknown_latency_takes_the_configured_neutral_part() {
    let a = spec("a", &[(Capability::General, 3)], 1.0, 1.0);
    let b = spec("b", &[(Capability::General, 3)], 1.0, 1.0);
    let scoring = ScoringConfig {
        unknown_latency_part: 0.25,
        ..ScoringConfig::default()
    };
    let scored = score_all(
        &[input(&a, 0.9, Some(400.0)), input(&b, 0.9, None)],
        &shape(Capability::General),
        &scoring,
        &weights(),
    );
    assert_eq!(scored[0].normalised[3], 1.0);
    assert_eq!(scored[1].normalised[3], 0.25);
}

#[test]
fn a_zero_weight_part_does_not_count() {
    let fast = spec("f", &[(Capability::General, 1)], 1.0, 1.0);
    let slow = spec("s", &[(Capability::General, 5)], 1.0, 1.0);
    let only_latency = Weights {
        capability: 0.0,
        quality: 0.0,
        price: 0.0,
        latency: 1.0,
        success: 0.0,
    };
    let scored = score_all(
        &[
            input(&fast, 0.5, Some(100.0)),
            input(&slow, 1.0, Some(1000.0)),
        ],
        &shape(Capability::General),
        &ScoringConfig::default(),
        &only_latency,
    );
    assert_eq!(scored[0].total, 1.0);
    assert_eq!(scored[1].total, 0.0);
}

#[test]
fn usd_amounts_keep_small_costs_readable() {
    assert_eq!(format_usd(0.12), "$0.12");
    assert_eq!(format_usd(0.05), "$0.05");
    assert_eq!(format_usd(2.0), "$2.00");
    assert_eq!(format_usd(0.000125), "$0.000125");
    assert_eq!(format_usd(0.0), "$0.00");
}

fn arb_capability() -> impl Strategy<Value = Capability> {
    prop::sample::select(CAPABILITIES.to_vec())
}

fn arb_spec() -> impl Strategy<Value = ModelSpec> {
    (
        prop::collection::btree_map(arb_capability(), 1u8..=5, 1..=6),
        0.0f64..200.0,
        0.0f64..200.0,
        1u32..200_000,
        prop::option::of(0u64..100_000),
    )
        .prop_map(
            |(capabilities, input, output, max_output_tokens, typical_latency_ms): (
                BTreeMap<Capability, u8>,
                f64,
                f64,
                u32,
                Option<u64>,
            )| ModelSpec {
                provider: "p".to_owned(),
                model: "m".to_owned(),
                capabilities,
                context_window: 1_000_000,
                max_output_tokens,
                price: Price {
                    input_per_mtok: input,
                    output_per_mtok: output,
                    cached_input_per_mtok: None,
                },
                typical_latency_ms,
            },
        )
}

fn arb_weights() -> impl Strategy<Value = Weights> {
    (
        0.0f64..10.0,
        0.0f64..10.0,
        0.0f64..10.0,
        0.0f64..10.0,
        0.0f64..10.0,
    )
        .prop_filter("one weight must be positive", |(a, b, c, d, e)| {
            a + b + c + d + e > 0.0
        })
        .prop_map(|(capability, quality, price, latency, success)| Weights {
            capability,
            quality,
            price,
            latency,
            success,
        })
}

proptest! {
    #[test]
    fn parts_are_normalised_and_weighted_parts_sum_to_a_score_in_zero_to_one(
        specs in prop::collection::vec(arb_spec(), 1..8),
        telemetry in prop::collection::vec((-1.0f64..2.0, prop::option::of(0.0f64..1e7)), 8),
        capability in arb_capability(),
        input_tokens in 0u64..2_000_000,
        max_output_tokens in 0u32..300_000,
        weights in arb_weights(),
    ) {
        let inputs: Vec<ScoreInput<'_>> = specs
            .iter()
            .zip(&telemetry)
            .map(|(spec, (success_rate, latency_ms))| ScoreInput {
                spec,
                success_rate: *success_rate,
                latency_ms: latency_ms.or(spec.typical_latency_ms.map(|ms| ms as f64)),
            })
            .collect();
        let shape = CallShape { capability, input_tokens, max_output_tokens };
        let scored = score_all(&inputs, &shape, &ScoringConfig::default(), &weights);
        prop_assert_eq!(scored.len(), specs.len());
        let weight_total = weights.total();
        for result in &scored {
            for (idx, part) in result.normalised.iter().enumerate() {
                prop_assert!((0.0..=1.0).contains(part), "part {} = {}", weights.by_part()[idx].0, part);
                let weight = weights.by_part()[idx].1;
                prop_assert!((result.weighted[idx] - part * weight / weight_total).abs() < 1e-12);
            }
            let sum: f64 = result.weighted.iter().sum();
            prop_assert!((sum - result.total).abs() < 1e-9);
            prop_assert!((0.0..=1.0).contains(&result.total));
        }
        // The cheapest candidate always scores 1 on price.
        prop_assert!(scored.iter().any(|r| r.normalised[2] == 1.0));
    }

    #[test]
    fn scaling_every_price_by_the_same_factor_changes_no_part(
        specs in prop::collection::vec(arb_spec(), 1..6),
        factor in 0.01f64..100.0,
        weights in arb_weights(),
    ) {
        let scaled: Vec<ModelSpec> = specs
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.price.input_per_mtok = s.price.input_per_mtok * factor + 1.0;
                s.price.output_per_mtok = s.price.output_per_mtok * factor + 1.0;
                s
            })
            .collect();
        let doubled: Vec<ModelSpec> = scaled
            .iter()
            .map(|s| {
                let mut s = s.clone();
                s.price.input_per_mtok *= 1000.0;
                s.price.output_per_mtok *= 1000.0;
                s
            })
            .collect();
        let shape = shape(Capability::General);
        let scoring = ScoringConfig::default();
        let score = |specs: &[ModelSpec]| {
            let inputs: Vec<ScoreInput<'_>> = specs.iter().map(|s| input(s, 0.9, None)).collect();
            score_all(&inputs, &shape, &scoring, &weights)
        };
        for (a, b) in score(&scaled).iter().zip(&score(&doubled)) {
            prop_assert!((a.total - b.total).abs() < 1e-9, "{} vs {}", a.total, b.total);
        }
    }
}
