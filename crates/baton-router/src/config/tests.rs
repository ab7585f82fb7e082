//! Tests of the router's settings: defaults, and errors that name the key.

use baton_core::request::RoutingProfile;

use super::*;

fn parse(text: &str) -> RouterConfig {
    toml::from_str(text).unwrap()
}

fn invalid_key(config: &RouterConfig) -> String {
    match config.validate() {
        Err(RouterError::InvalidConfig { key, .. }) => key,
        other => panic!("expected an invalid setting, got {other:?}"),
    }
}

#[test]
fn empty_section_gives_valid_defaults() {
    let config = parse("");
    assert_eq!(config, RouterConfig::default());
    config.validate().unwrap();
}

#[test]
fn profiles_weigh_their_own_concern_most() {
    let config = RouterConfig::default();
    let fast = config.weights_for(RoutingProfile::Fast);
    let cheap = config.weights_for(RoutingProfile::Cheap);
    let accurate = config.weights_for(RoutingProfile::Accurate);
    assert!(fast.latency > config.weights_for(RoutingProfile::Default).latency);
    assert!(cheap.price > fast.price && cheap.price > accurate.price);
    assert!(accurate.quality > fast.quality && accurate.quality > cheap.quality);
}

#[test]
fn sections_override_defaults_and_keep_the_rest() {
    let config = parse(
        r#"
        [weights.cheap]
        capability = 1.0
        quality = 0.0
        price = 5.0
        latency = 0.0
        success = 1.0

        [model_breaker]
        failure_threshold = 3

        [telemetry]
        half_life_s = 60.0

        [roles.plan]
        capability = "coding"
        model = "sim/sim-smart"
        max_output_tokens = 2000

        [rate_limits.openai]
        requests_per_minute = 500
        tokens_per_minute = 200000
        requests_per_day = 10000
        max_concurrent = 8
        "#,
    );
    config.validate().unwrap();
    assert_eq!(config.weights.cheap.price, 5.0);
    assert_eq!(config.weights.default, ProfileWeights::default().default);
    assert_eq!(config.model_breaker.failure_threshold, 3);
    assert_eq!(
        config.model_breaker.min_calls,
        BreakerConfig::default().min_calls
    );
    assert_eq!(config.telemetry.half_life_s, 60.0);
    assert_eq!(config.roles.plan.capability, Capability::Coding);
    assert_eq!(config.roles.plan.model.as_deref(), Some("sim/sim-smart"));
    assert_eq!(config.roles.judge, Roles::default().judge);
    let openai = &config.rate_limits["openai"];
    assert_eq!(openai.requests_per_minute, Some(500));
    assert_eq!(openai.requests_per_day, Some(10_000));
    assert_eq!(openai.tokens_per_hour, None);
    assert_eq!(openai.max_concurrent, Some(8));
}

#[test]
fn unknown_key_is_refused() {
    let result: Result<RouterConfig, _> = toml::from_str("[model_breaker]\nthreshold = 3\n");
    let message = result.unwrap_err().to_string();
    assert!(message.contains("threshold"), "{message}");
}

#[test]
fn negative_weight_names_the_profile_and_part() {
    let mut config = RouterConfig::default();
    config.weights.fast.latency = -1.0;
    assert_eq!(invalid_key(&config), "router.weights.fast.latency");
}

#[test]
fn all_zero_weights_are_refused() {
    let mut config = RouterConfig::default();
    config.weights.cheap = Weights {
        capability: 0.0,
        quality: 0.0,
        price: 0.0,
        latency: 0.0,
        success: 0.0,
    };
    assert_eq!(invalid_key(&config), "router.weights.cheap");
}

#[test]
fn zero_rate_limit_names_the_provider_and_limit() {
    let mut config = RouterConfig::default();
    config.rate_limits.insert(
        "openai".to_owned(),
        RateLimitConfig {
            tokens_per_minute: Some(0),
            ..RateLimitConfig::default()
        },
    );
    assert_eq!(
        invalid_key(&config),
        "router.rate_limits.openai.tokens_per_minute"
    );
}

#[test]
fn bad_breaker_and_telemetry_values_name_their_keys() {
    let mut config = RouterConfig::default();
    config.provider_breaker.error_rate = 1.5;
    assert_eq!(invalid_key(&config), "router.provider_breaker.error_rate");

    let mut config = RouterConfig::default();
    config.model_breaker.max_open_s = 1.0;
    assert_eq!(invalid_key(&config), "router.model_breaker.max_open_s");

    let mut config = RouterConfig::default();
    config.telemetry.half_life_s = 0.0;
    assert_eq!(invalid_key(&config), "router.telemetry.half_life_s");

    let mut config = RouterConfig::default();
    config.scoring.price_span = 1.0;
    assert_eq!(invalid_key(&config), "router.scoring.price_span");

    let mut config = RouterConfig::default();
    config.roles.synthesis.max_output_tokens = 0;
    assert_eq!(
        invalid_key(&config),
        "router.roles.synthesis.max_output_tokens"
    );
}

#[test]
fn roles_default_to_reasoning_and_writing_and_tasks_have_none() {
    let config = RouterConfig::default();
    assert_eq!(
        config.role(CallKind::Plan).map(|r| r.capability),
        Some(Capability::Reasoning)
    );
    assert_eq!(
        config.role(CallKind::Assess).map(|r| r.capability),
        Some(Capability::Reasoning)
    );
    assert_eq!(
        config.role(CallKind::Judge).map(|r| r.capability),
        Some(Capability::Reasoning)
    );
    assert_eq!(
        config.role(CallKind::Synthesis).map(|r| r.capability),
        Some(Capability::Writing)
    );
    assert!(config.role(CallKind::Task).is_none());
}
