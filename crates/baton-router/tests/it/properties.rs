//! Properties of every routing decision, over random catalogues, telemetry and
//! requests: hard constraints are always respected, and a refusal means every
//! candidate was skipped.

use std::time::Duration;

use baton_core::graph::Capability;
use baton_core::request::RoutingProfile;
use baton_core::status::CallKind;
use baton_core::usage::{Price, Usage};
use baton_providers::provider::ErrorKind;
use baton_router::{
    CallOutcome, Catalogue, ModelRef, ModelSpec, RouteError, RouteRequest, Router, RouterConfig,
};
use proptest::prelude::*;

use crate::support::providers;

const PROVIDERS: [&str; 3] = ["p0", "p1", "p2"];
const CAPABILITIES: [Capability; 6] = [
    Capability::General,
    Capability::Reasoning,
    Capability::Writing,
    Capability::Coding,
    Capability::Research,
    Capability::Extraction,
];
const PROFILES: [RoutingProfile; 4] = [
    RoutingProfile::Default,
    RoutingProfile::Fast,
    RoutingProfile::Accurate,
    RoutingProfile::Cheap,
];

fn arb_spec(idx: usize) -> impl Strategy<Value = ModelSpec> {
    (
        0..PROVIDERS.len(),
        prop::collection::btree_map(prop::sample::select(CAPABILITIES.to_vec()), 1u8..=5, 1..=6),
        1u64..300_000,
        1u32..50_000,
        0.0f64..50.0,
        0.0f64..100.0,
    )
        .prop_map(
            move |(provider, capabilities, context_window, max_output_tokens, input, output)| {
                ModelSpec {
                    provider: PROVIDERS[provider].to_owned(),
                    model: format!("m{idx}"),
                    capabilities,
                    context_window,
                    max_output_tokens,
                    price: Price {
                        input_per_mtok: input,
                        output_per_mtok: output,
                        cached_input_per_mtok: None,
                    },
                    typical_latency_ms: None,
                }
            },
        )
}

fn arb_catalogue() -> impl Strategy<Value = Vec<ModelSpec>> {
    (1usize..8).prop_flat_map(|n| (0..n).map(arb_spec).collect::<Vec<_>>())
}

/// One call's outcome for model `model_idx`: success with a latency, or a failure.
fn arb_history() -> impl Strategy<Value = Vec<(usize, Option<u64>, bool)>> {
    prop::collection::vec(
        (0usize..8, prop::option::of(1u64..10_000), any::<bool>()),
        0..40,
    )
}

#[derive(Debug, Clone)]
struct Call {
    capability: Capability,
    kind: CallKind,
    input_tokens: u64,
    max_output_tokens: u32,
    budget_left_usd: Option<f64>,
    profile: RoutingProfile,
    excluded: Vec<usize>,
    configured: Vec<bool>,
}

fn arb_call() -> impl Strategy<Value = Call> {
    (
        prop::sample::select(CAPABILITIES.to_vec()),
        prop::sample::select(CallKind::ALL.to_vec()),
        0u64..300_000,
        1u32..60_000,
        prop::option::of(0.0f64..2.0),
        prop::sample::select(PROFILES.to_vec()),
        prop::collection::vec(0usize..8, 0..3),
        prop::collection::vec(any::<bool>(), PROVIDERS.len()),
    )
        .prop_map(
            |(
                capability,
                kind,
                input_tokens,
                max_output_tokens,
                budget_left_usd,
                profile,
                excluded,
                configured,
            )| {
                Call {
                    capability,
                    kind,
                    input_tokens,
                    max_output_tokens,
                    budget_left_usd,
                    profile,
                    excluded,
                    configured,
                }
            },
        )
}

fn outcome(latency_ms: Option<u64>, auth: bool) -> CallOutcome {
    match latency_ms {
        Some(ms) => CallOutcome::succeeded(Duration::from_millis(ms), None, Usage::default(), 0.0),
        None if auth => CallOutcome::failed(ErrorKind::Auth, "denied", Duration::ZERO),
        None => CallOutcome::failed(ErrorKind::Server, "500", Duration::ZERO),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_decision_respects_the_hard_constraints(
        specs in arb_catalogue(),
        history in arb_history(),
        call in arb_call(),
    ) {
        let _clock = runtime().enter();
        let catalogue = Catalogue::from_models(specs.clone()).unwrap();
        let configured: Vec<&str> = PROVIDERS
            .iter()
            .zip(&call.configured)
            .filter(|(_, on)| **on)
            .map(|(name, _)| *name)
            .collect();
        let router = Router::new(RouterConfig::default(), catalogue, providers(&configured)).unwrap();
        for (idx, latency_ms, auth) in &history {
            if let Some(spec) = specs.get(*idx) {
                router.record(&spec.provider, &spec.model, &outcome(*latency_ms, *auth));
            }
        }
        let open: Vec<bool> = router
            .models()
            .iter()
            .map(|m| {
                m.breaker.state == baton_router::BreakerState::Open
                    || m.provider_breaker.state == baton_router::BreakerState::Open
            })
            .collect();
        let exclude: Vec<ModelRef> =
            call.excluded.iter().filter_map(|idx| specs.get(*idx)).map(ModelSpec::model_ref).collect();
        let request = RouteRequest {
            kind: call.kind,
            capability: call.capability,
            pinned: None,
            input_tokens: call.input_tokens,
            max_output_tokens: call.max_output_tokens,
            budget_left_usd: call.budget_left_usd,
            profile: call.profile,
            exclude: &exclude,
        };

        match router.route(&request) {
            Ok(route) => {
                let idx = specs
                    .iter()
                    .position(|s| s.provider == route.chosen.provider_name && s.model == route.chosen.model)
                    .unwrap();
                let spec = &specs[idx];
                prop_assert!(configured.contains(&spec.provider.as_str()));
                prop_assert_eq!(route.chosen.provider.name(), spec.provider.as_str());
                prop_assert!(!exclude.contains(&spec.model_ref()));
                prop_assert!(!open[idx], "an open breaker was chosen");
                let output = u64::from(call.max_output_tokens.min(spec.max_output_tokens));
                prop_assert!(spec.context_window >= call.input_tokens + output);
                if let Some(budget) = call.budget_left_usd {
                    prop_assert!(spec.price.worst_case_cost(call.input_tokens, output) <= budget);
                }
                prop_assert!((0.0..=1.0).contains(&route.score));
                let of_configured = specs
                    .iter()
                    .filter(|spec| configured.contains(&spec.provider.as_str()))
                    .count();
                prop_assert_eq!(route.candidates.len(), of_configured);
                let best = route.candidates.iter().filter_map(|c| c.score).fold(f64::MIN, f64::max);
                prop_assert_eq!(route.score, best);
                for candidate in &route.candidates {
                    prop_assert!(candidate.score.is_some() != candidate.skipped.is_some());
                    if let Some(score) = candidate.score {
                        prop_assert!((0.0..=1.0).contains(&score));
                        prop_assert!(candidate.parts.is_some());
                    }
                }
            }
            Err(RouteError::NoModel { reasons }) => {
                // Nobody fits: every model is named with its reason.
                for spec in &specs {
                    let named = format!("{}: ", spec.model_ref());
                    prop_assert!(reasons.contains(&named), "{} missing from {}", named, reasons);
                }
            }
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}
