//! Routing decisions through the public API: constraints, pins, profiles, roles,
//! telemetry and breakers as the router applies them.

use std::time::Duration;

use baton_core::error::{ErrorCode, HasCode};
use baton_core::event::Candidate;
use baton_core::graph::Capability;
use baton_core::request::RoutingProfile;
use baton_core::status::CallKind;
use baton_core::usage::Usage;
use baton_providers::provider::ErrorKind;
use baton_router::{
    BreakerConfig, BreakerState, CallOutcome, Catalogue, Route, RouteError, RouteRequest, Router,
    RouterConfig, RouterError,
};

use crate::support::{model, providers, router, task};

fn chosen(route: &Route) -> String {
    route.chosen.model_ref().to_string()
}

fn candidate<'r>(route: &'r Route, id: &str) -> &'r Candidate {
    route
        .candidates
        .iter()
        .find(|c| format!("{}/{}", c.provider, c.model) == id)
        .unwrap_or_else(|| panic!("{id} is not among the candidates"))
}

fn skipped(route: &Route, id: &str) -> String {
    candidate(route, id)
        .skipped
        .clone()
        .unwrap_or_else(|| panic!("{id} was not skipped"))
}

fn no_model_reasons(result: Result<Route, RouteError>) -> String {
    match result {
        Err(RouteError::NoModel { reasons }) => reasons,
        other => panic!("expected no model, got {other:?}"),
    }
}

fn ok(ms: u64) -> CallOutcome {
    CallOutcome::succeeded(Duration::from_millis(ms), None, Usage::default(), 0.0)
}

fn server_error() -> CallOutcome {
    CallOutcome::failed(
        ErrorKind::Server,
        "500 internal error",
        Duration::from_millis(50),
    )
}

/// Breakers that never open, so telemetry alone drives the choice.
fn no_breakers() -> RouterConfig {
    let never = BreakerConfig {
        failure_threshold: u32::MAX,
        error_rate: 1.0,
        ..BreakerConfig::default()
    };
    RouterConfig {
        model_breaker: never,
        provider_breaker: never,
        ..RouterConfig::default()
    }
}

#[test]
fn models_of_unconfigured_providers_are_no_candidates() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let route = router.route(&task(Capability::Writing)).unwrap();
    let listed: Vec<String> = route
        .candidates
        .iter()
        .map(|c| format!("{}/{}", c.provider, c.model))
        .collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(
        !listed.contains(&"gamma/elsewhere".to_owned()),
        "{listed:?}"
    );
    // `GET /models` still shows it, as not configured.
    let status = router
        .models()
        .into_iter()
        .find(|m| m.spec.model == "elsewhere")
        .expect("gamma/elsewhere in the model list");
    assert!(!status.configured);
}

#[test]
fn default_profile_picks_the_cheap_model_for_easy_writing() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let route = router.route(&task(Capability::Writing)).unwrap();
    assert_eq!(chosen(&route), "alpha/cheap");
    assert_eq!(route.chosen.provider.name(), "alpha");
    assert_eq!(route.chosen.context_window, 100_000);
    assert_eq!(route.chosen.max_output_tokens, 8000);
}

#[test]
fn accurate_profile_picks_the_best_tier_and_cheap_profile_the_cheapest() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let accurate = router
        .route(&RouteRequest {
            profile: RoutingProfile::Accurate,
            ..task(Capability::Writing)
        })
        .unwrap();
    assert_eq!(chosen(&accurate), "alpha/smart");
    let cheap = router
        .route(&RouteRequest {
            profile: RoutingProfile::Cheap,
            ..task(Capability::Writing)
        })
        .unwrap();
    assert_eq!(chosen(&cheap), "alpha/cheap");
}

#[test]
fn a_specialist_wins_its_capability() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let route = router.route(&task(Capability::Coding)).unwrap();
    assert_eq!(chosen(&route), "beta/coder");
}

#[test]
fn every_scored_candidate_carries_all_five_weighted_parts_summing_to_its_score() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let route = router.route(&task(Capability::Writing)).unwrap();
    let scored: Vec<&Candidate> = route
        .candidates
        .iter()
        .filter(|c| c.skipped.is_none())
        .collect();
    assert_eq!(scored.len(), 3);
    for candidate in &scored {
        let parts = candidate.parts.expect("a scored candidate has parts");
        let sum: f64 = parts.by_name().iter().map(|(_, part)| part).sum();
        assert!((sum - candidate.score.unwrap()).abs() < 1e-9);
    }
    // Scored candidates come first, best first; the chosen one leads.
    assert_eq!(
        format!("{}/{}", scored[0].provider, scored[0].model),
        chosen(&route)
    );
    assert_eq!(scored[0].score, Some(route.score));
    assert!(scored.windows(2).all(|w| w[0].score >= w[1].score));
    assert_eq!(route.candidates.len(), scored.len(), "nothing was skipped");
}

#[test]
fn a_window_too_small_for_the_prompt_is_skipped_with_the_numbers() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let route = router
        .route(&RouteRequest {
            input_tokens: 10_000,
            ..task(Capability::Coding)
        })
        .unwrap();
    assert_eq!(
        skipped(&route, "beta/coder"),
        "context window 8192 < 11000 tokens needed"
    );
    assert_eq!(chosen(&route), "alpha/smart");
}

#[test]
fn the_output_allowance_is_capped_by_the_model_when_checking_the_window() {
    let router = router(RouterConfig::default(), &["beta"]);
    // 4000 prompt tokens plus the coder's own 4096-token output cap fit 8192.
    let route = router
        .route(&RouteRequest {
            input_tokens: 4000,
            max_output_tokens: 100_000,
            ..task(Capability::Coding)
        })
        .unwrap();
    assert_eq!(chosen(&route), "beta/coder");
}

#[test]
fn a_model_whose_worst_case_breaks_the_budget_is_skipped() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let route = router
        .route(&RouteRequest {
            budget_left_usd: Some(0.001),
            ..task(Capability::Coding)
        })
        .unwrap();
    assert_eq!(
        skipped(&route, "alpha/smart"),
        "worst-case cost $0.03 > $0.001 left"
    );
    assert_eq!(
        skipped(&route, "beta/coder"),
        "worst-case cost $0.003 > $0.001 left"
    );
    assert_eq!(chosen(&route), "alpha/cheap");
}

#[test]
fn with_every_candidate_skipped_the_error_says_why_for_each() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let error = router
        .route(&RouteRequest {
            budget_left_usd: Some(0.0),
            ..task(Capability::Writing)
        })
        .unwrap_err();
    assert_eq!(error.code(), ErrorCode::NoModelAvailable);
    let reasons = no_model_reasons(Err(error));
    assert!(
        reasons.contains("alpha/cheap: worst-case cost $0.0005 > $0.00 left"),
        "{reasons}"
    );
    assert!(
        reasons.contains("gamma/elsewhere: provider not configured"),
        "{reasons}"
    );
    assert_eq!(reasons.matches("; ").count(), 3, "{reasons}");
}

#[test]
fn models_that_already_failed_for_the_task_are_skipped() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let failed = [model("alpha", "cheap")];
    let route = router
        .route(&RouteRequest {
            exclude: &failed,
            ..task(Capability::Writing)
        })
        .unwrap();
    assert_eq!(
        skipped(&route, "alpha/cheap"),
        "already failed for this task"
    );
    assert_ne!(chosen(&route), "alpha/cheap");
}

#[test]
fn a_pinned_model_is_chosen_and_the_others_are_reported_as_not_pinned() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    for pin in ["alpha/smart", "smart"] {
        let route = router
            .route(&RouteRequest {
                pinned: Some(pin),
                ..task(Capability::Writing)
            })
            .unwrap();
        assert_eq!(chosen(&route), "alpha/smart");
        assert_eq!(
            skipped(&route, "alpha/cheap"),
            "not pinned (the call pins alpha/smart)"
        );
        // The other two of the configured providers' models; gamma's is no candidate.
        assert_eq!(route.candidates.len(), 3);
        assert!(route.candidates.last().unwrap().skipped.is_some());
        assert!(candidate(&route, "alpha/smart").score.is_some());
    }
}

#[test]
fn pinning_an_unknown_or_unconfigured_model_is_an_unknown_model_error() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    for pin in ["nope", "alpha/nope", "gamma/elsewhere", "elsewhere"] {
        let result = router.route(&RouteRequest {
            pinned: Some(pin),
            ..task(Capability::Writing)
        });
        assert!(
            matches!(&result, Err(RouteError::UnknownModel(name)) if name == pin),
            "{pin}: {result:?}"
        );
        assert_eq!(result.unwrap_err().code(), ErrorCode::NoModelAvailable);
    }
}

#[test]
fn a_pinned_model_still_obeys_hard_constraints() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    let reasons = no_model_reasons(router.route(&RouteRequest {
        pinned: Some("beta/coder"),
        input_tokens: 10_000,
        ..task(Capability::Coding)
    }));
    assert!(
        reasons.contains("beta/coder: context window 8192 < 11000 tokens needed"),
        "{reasons}"
    );
}

#[test]
fn planning_calls_route_for_reasoning_by_default() {
    let config = RouterConfig {
        weights: baton_router::ProfileWeights {
            default: baton_router::Weights {
                capability: 10.0,
                quality: 0.0,
                price: 0.0,
                latency: 0.0,
                success: 0.0,
            },
            ..baton_router::ProfileWeights::default()
        },
        ..RouterConfig::default()
    };
    let router = router(config, &["beta"]);
    // The coder lists no reasoning, so its fit for a plan is that of a generalist.
    let route = router
        .route(&RouteRequest {
            kind: CallKind::Plan,
            ..task(Capability::General)
        })
        .unwrap();
    assert!((route.score - 0.5).abs() < 1e-9, "{}", route.score);
    // The same model asked for general work as a task fits fully.
    let route = router.route(&task(Capability::General)).unwrap();
    assert!((route.score - 1.0).abs() < 1e-9, "{}", route.score);
}

#[test]
fn a_role_can_pin_its_model_and_profile() {
    let mut config = RouterConfig::default();
    config.roles.judge.model = Some("alpha/smart".to_owned());
    config.roles.synthesis.profile = Some(RoutingProfile::Accurate);
    let router = router(config, &["alpha", "beta"]);
    let judge = router
        .route(&RouteRequest {
            kind: CallKind::Judge,
            ..task(Capability::General)
        })
        .unwrap();
    assert_eq!(chosen(&judge), "alpha/smart");
    let synthesis = router
        .route(&RouteRequest {
            kind: CallKind::Synthesis,
            ..task(Capability::General)
        })
        .unwrap();
    assert_eq!(chosen(&synthesis), "alpha/smart");
    // A call's own pin wins over the role's.
    let pinned = router
        .route(&RouteRequest {
            kind: CallKind::Judge,
            pinned: Some("alpha/cheap"),
            ..task(Capability::General)
        })
        .unwrap();
    assert_eq!(chosen(&pinned), "alpha/cheap");
}

#[test]
fn context_too_long_falls_back_to_a_model_with_a_larger_window() {
    let router = router(RouterConfig::default(), &["alpha", "beta", "gamma"]);
    let request = task(Capability::Coding);
    let route = router
        .route_with_larger_window(&request, &model("beta", "coder"))
        .unwrap();
    assert!(route.chosen.context_window > 8192);
    let route = router
        .route_with_larger_window(&request, &model("alpha", "smart"))
        .unwrap();
    assert_eq!(chosen(&route), "gamma/elsewhere");
    assert_eq!(
        skipped(&route, "alpha/cheap"),
        "context window 100000 is not larger than alpha/smart's 200000"
    );
    let reasons =
        no_model_reasons(router.route_with_larger_window(&request, &model("gamma", "elsewhere")));
    assert!(
        reasons.contains("alpha/smart: context window 200000 is not larger"),
        "{reasons}"
    );
}

#[tokio::test(start_paused = true)]
async fn failures_lower_a_models_score_until_another_wins() {
    let router = router(no_breakers(), &["alpha", "beta"]);
    let before = router.route(&task(Capability::Writing)).unwrap();
    assert_eq!(chosen(&before), "alpha/cheap");
    for _ in 0..20 {
        router.record("alpha", "cheap", &server_error());
    }
    let after = router.route(&task(Capability::Writing)).unwrap();
    assert_eq!(chosen(&after), "alpha/smart");
    // Two hours later (twelve half-lives) the failures have faded.
    tokio::time::advance(Duration::from_secs(7200)).await;
    let later = router.route(&task(Capability::Writing)).unwrap();
    assert_eq!(chosen(&later), "alpha/cheap");
}

#[tokio::test(start_paused = true)]
async fn measured_latency_turns_the_fast_profiles_choice() {
    let router = router(RouterConfig::default(), &["alpha"]);
    let fast = RouteRequest {
        profile: RoutingProfile::Fast,
        ..task(Capability::Writing)
    };
    assert_eq!(chosen(&router.route(&fast).unwrap()), "alpha/cheap");
    router.record("alpha", "cheap", &ok(5000));
    router.record("alpha", "smart", &ok(200));
    let route = router.route(&fast).unwrap();
    assert_eq!(chosen(&route), "alpha/smart");
    let latency = |id: &str| candidate(&route, id).parts.unwrap().latency;
    assert_eq!(latency("alpha/cheap"), 0.0);
    assert!(latency("alpha/smart") > 0.0);
}

#[tokio::test(start_paused = true)]
async fn an_open_model_breaker_skips_the_model_then_lets_one_probe_through() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    for _ in 0..5 {
        router.record("alpha", "cheap", &server_error());
    }
    let route = router.route(&task(Capability::Writing)).unwrap();
    assert_eq!(
        skipped(&route, "alpha/cheap"),
        "model circuit open until a probe in 30s"
    );
    assert_ne!(chosen(&route), "alpha/cheap");

    tokio::time::advance(Duration::from_secs(29)).await;
    let pinned = RouteRequest {
        pinned: Some("alpha/cheap"),
        ..task(Capability::Writing)
    };
    let reasons = no_model_reasons(router.route(&pinned));
    assert!(
        reasons.contains("alpha/cheap: model circuit open until a probe in 1s"),
        "{reasons}"
    );

    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(
        chosen(&router.route(&pinned).unwrap()),
        "alpha/cheap",
        "the probe"
    );
    let status = router
        .models()
        .into_iter()
        .find(|m| m.spec.model == "cheap")
        .unwrap();
    assert_eq!(status.breaker.state, BreakerState::HalfOpen);
    let reasons = no_model_reasons(router.route(&pinned));
    assert!(
        reasons.contains("model circuit open until a probe in 30s"),
        "one probe: {reasons}"
    );

    router.record("alpha", "cheap", &ok(100));
    assert_eq!(chosen(&router.route(&pinned).unwrap()), "alpha/cheap");
    let status = router
        .models()
        .into_iter()
        .find(|m| m.spec.model == "cheap")
        .unwrap();
    assert_eq!(status.breaker.state, BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_probe_that_is_not_chosen_is_not_taken() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    for _ in 0..5 {
        router.record("alpha", "cheap", &server_error());
    }
    tokio::time::advance(Duration::from_secs(30)).await;
    // The failures keep alpha/cheap's score below alpha/smart's, so routing
    // chooses smart and leaves cheap's probe for a call that chooses it.
    for _ in 0..3 {
        let route = router.route(&task(Capability::Writing)).unwrap();
        assert_eq!(chosen(&route), "alpha/smart");
        assert!(candidate(&route, "alpha/cheap").skipped.is_none());
    }
}

#[tokio::test(start_paused = true)]
async fn one_failure_does_not_open_a_breaker() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    router.record("alpha", "cheap", &server_error());
    let route = router.route(&task(Capability::Writing)).unwrap();
    assert!(candidate(&route, "alpha/cheap").skipped.is_none());
}

#[tokio::test(start_paused = true)]
async fn an_auth_failure_opens_the_providers_breaker_at_once() {
    let router = router(RouterConfig::default(), &["alpha", "beta"]);
    router.record(
        "alpha",
        "cheap",
        &CallOutcome::failed(
            ErrorKind::Auth,
            "invalid x-api-key",
            Duration::from_millis(5),
        ),
    );
    let route = router.route(&task(Capability::Writing)).unwrap();
    assert_eq!(chosen(&route), "beta/coder");
    for id in ["alpha/cheap", "alpha/smart"] {
        assert_eq!(
            skipped(&route, id),
            "provider circuit open until a probe in 30s"
        );
    }
    let statuses = router.models();
    assert_eq!(statuses[1].provider_breaker.state, BreakerState::Open);
    assert_eq!(statuses[2].provider_breaker.state, BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_context_too_long_error_does_not_count_against_the_model() {
    let router = router(RouterConfig::default(), &["alpha"]);
    for _ in 0..10 {
        router.record(
            "alpha",
            "cheap",
            &CallOutcome::failed(ErrorKind::ContextTooLong, "too long", Duration::ZERO),
        );
    }
    let status = router
        .models()
        .into_iter()
        .find(|m| m.spec.model == "cheap")
        .unwrap();
    assert_eq!(status.breaker.state, BreakerState::Closed);
    assert!((status.telemetry.success_rate - 0.9).abs() < 1e-12);
    assert_eq!(status.telemetry.errors_by_kind["context_too_long"], 10);
}

#[tokio::test(start_paused = true)]
async fn models_shows_spec_configuration_breakers_limits_and_telemetry() {
    let mut config = RouterConfig::default();
    config.rate_limits.insert(
        "alpha".to_owned(),
        baton_router::RateLimitConfig {
            requests_per_minute: Some(60),
            ..Default::default()
        },
    );
    let router = router(config, &["alpha", "beta"]);
    router.record(
        "alpha",
        "cheap",
        &CallOutcome::succeeded(
            Duration::from_millis(400),
            Some(Duration::from_millis(100)),
            Usage {
                input_tokens: 10,
                output_tokens: 20,
                ..Usage::default()
            },
            0.002,
        ),
    );
    let statuses = router.models();
    assert_eq!(statuses.len(), 4);
    assert!(statuses[0].configured);
    assert!(!statuses[3].configured);
    let json = serde_json::to_value(&statuses[0]).unwrap();
    assert_eq!(json["provider"], "alpha");
    assert_eq!(json["model"], "cheap");
    assert_eq!(json["capabilities"]["writing"], 3);
    assert_eq!(json["price"]["input_per_mtok"], 0.1);
    assert_eq!(json["context_window"], 100_000);
    assert_eq!(json["breaker"]["state"], "closed");
    assert_eq!(json["rate_limit"]["requests_per_minute"], 60);
    assert_eq!(json["telemetry"]["calls"], 1);
    assert_eq!(json["telemetry"]["output_tokens"], 20);
    assert!(json["telemetry"]["latency_p50_ms"].as_f64().unwrap() > 300.0);
    assert!(json["telemetry"]["ttft_p50_ms"].as_f64().unwrap() > 80.0);
    assert!(
        serde_json::to_value(&statuses[1])
            .unwrap()
            .get("rate_limit")
            .is_some()
    );
    assert!(
        serde_json::to_value(&statuses[2])
            .unwrap()
            .get("rate_limit")
            .is_none()
    );
}

#[tokio::test(start_paused = true)]
async fn telemetry_saved_from_one_router_restores_into_another() {
    let first = router(no_breakers(), &["alpha", "beta"]);
    for _ in 0..20 {
        first.record("alpha", "cheap", &server_error());
    }
    first.record("alpha", "smart", &ok(700));
    let saved = first.saved_state();

    let second = router(no_breakers(), &["alpha", "beta"]);
    assert_eq!(second.restore(&saved), saved.len());
    assert_eq!(
        chosen(&second.route(&task(Capability::Writing)).unwrap()),
        "alpha/smart"
    );
    let telemetry = |r: &Router| {
        r.models()
            .into_iter()
            .map(|m| m.telemetry)
            .collect::<Vec<_>>()
    };
    let (a, b) = (telemetry(&first), telemetry(&second));
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.calls, b.calls);
        // The wall clock moves between saving and restoring, so the restored
        // weights have decayed by that much (microseconds of a 10-minute half-life).
        assert!((a.success_rate - b.success_rate).abs() < 1e-3);
        assert_eq!(a.latency_p50_ms, b.latency_p50_ms);
    }
}

#[test]
fn a_provider_configured_twice_is_refused() {
    let result = Router::new(
        RouterConfig::default(),
        Catalogue::from_toml(crate::support::CATALOGUE).unwrap(),
        providers(&["alpha", "alpha"]),
    );
    assert!(matches!(result, Err(RouterError::DuplicateProvider(name)) if name == "alpha"));
}

#[test]
fn an_invalid_config_is_refused_naming_the_key() {
    let mut config = RouterConfig::default();
    config.telemetry.prior_success_rate = 2.0;
    let result = Router::new(
        config,
        Catalogue::from_toml(crate::support::CATALOGUE).unwrap(),
        providers(&["alpha"]),
    );
    assert!(
        matches!(&result, Err(RouterError::InvalidConfig { key, .. }) if key == "router.telemetry.prior_success_rate"),
        "{result:?}"
    );
}

#[test]
fn an_empty_catalogue_says_so() {
    let router = Router::new(
        RouterConfig::default(),
        Catalogue::default(),
        providers(&["alpha"]),
    )
    .unwrap();
    let reasons = no_model_reasons(router.route(&task(Capability::Writing)));
    assert_eq!(reasons, "the catalogue lists no models");
}

#[test]
fn the_router_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Router>();
    check::<Route>();
}

#[test]
fn with_only_the_sim_the_profiles_split_work_between_its_two_models() {
    let catalogue = Catalogue::from_toml(include_str!("../../../../config/models.toml")).unwrap();
    let router = Router::new(RouterConfig::default(), catalogue, providers(&["sim"])).unwrap();
    let pick = |capability, profile| {
        let route = router
            .route(&RouteRequest {
                profile,
                ..task(capability)
            })
            .unwrap();
        chosen(&route)
    };
    assert_eq!(
        pick(Capability::Reasoning, RoutingProfile::Default),
        "sim/sim-smart"
    );
    assert_eq!(
        pick(Capability::Writing, RoutingProfile::Default),
        "sim/sim-fast"
    );
    assert_eq!(
        pick(Capability::Reasoning, RoutingProfile::Cheap),
        "sim/sim-fast"
    );
    assert_eq!(
        pick(Capability::Writing, RoutingProfile::Accurate),
        "sim/sim-smart"
    );
    assert_eq!(
        pick(Capability::Reasoning, RoutingProfile::Fast),
        "sim/sim-fast"
    );
    let plan = router
        .route(&RouteRequest {
            kind: CallKind::Plan,
            ..task(Capability::General)
        })
        .unwrap();
    assert_eq!(chosen(&plan), "sim/sim-smart");
    // The real models' providers are not configured: they are no candidates.
    assert!(plan.candidates.iter().all(|c| c.provider == "sim"));
}

#[test]
fn model_status_has_an_openapi_schema_with_its_parts() {
    #[derive(utoipa::OpenApi)]
    #[openapi(components(schemas(baton_router::ModelStatus)))]
    struct Doc;
    let doc = serde_json::to_value(<Doc as utoipa::OpenApi>::openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    let status = serde_json::to_string(&schemas["ModelStatus"]).unwrap();
    for field in [
        "configured",
        "breaker",
        "provider_breaker",
        "telemetry",
        "ModelSpec",
    ] {
        assert!(status.contains(field), "{field} missing from {status}");
    }
    for nested in [
        "ModelSpec",
        "BreakerStatus",
        "TelemetrySnapshot",
        "RateLimitConfig",
    ] {
        assert!(
            schemas.get(nested).is_some(),
            "{nested} schema missing: {schemas}"
        );
    }
    // ModelStatus extends ModelSpec (allOf), so ModelSpec must allow more properties.
    assert!(schemas["ModelSpec"].get("additionalProperties").is_none());
}
