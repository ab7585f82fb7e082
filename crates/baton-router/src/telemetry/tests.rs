//! Tests of telemetry on paused time: decay by half-life, quantiles, error counts.

use std::time::Duration;

use baton_core::usage::Usage;
use baton_providers::provider::{ErrorKind, TimeoutKind};

use super::*;

fn config() -> TelemetryConfig {
    TelemetryConfig {
        half_life_s: 60.0,
        prior_success_rate: 0.9,
        prior_weight: 2.0,
    }
}

fn ok(ms: u64) -> CallOutcome {
    CallOutcome::succeeded(
        Duration::from_millis(ms),
        Some(Duration::from_millis(ms / 4)),
        Usage {
            input_tokens: 100,
            output_tokens: 50,
            ..Usage::default()
        },
        0.01,
    )
}

fn failed(kind: ErrorKind) -> CallOutcome {
    CallOutcome::failed(kind, "boom", Duration::from_millis(30))
}

#[tokio::test(start_paused = true)]
async fn new_model_has_the_prior_success_rate() {
    let telemetry = ModelTelemetry::new(Instant::now());
    assert!((telemetry.success_rate(&config(), Instant::now()) - 0.9).abs() < 1e-12);
    assert_eq!(telemetry.latency_p50_ms(), None);
}

#[tokio::test(start_paused = true)]
async fn failures_lower_the_rate_and_fade_back_to_the_prior_over_half_lives() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    for _ in 0..8 {
        telemetry.record(&config, Instant::now(), &failed(ErrorKind::Server));
    }
    let fresh = telemetry.success_rate(&config, Instant::now());
    // (0 + 0.9·2) / (8 + 2)
    assert!((fresh - 0.18).abs() < 1e-9, "{fresh}");

    tokio::time::advance(Duration::from_secs(60)).await;
    let one_half_life = telemetry.success_rate(&config, Instant::now());
    // The failures now weigh 4: 1.8 / 6.
    assert!((one_half_life - 0.3).abs() < 1e-9, "{one_half_life}");

    tokio::time::advance(Duration::from_secs(60 * 20)).await;
    let much_later = telemetry.success_rate(&config, Instant::now());
    assert!((much_later - 0.9).abs() < 1e-4, "{much_later}");
}

#[tokio::test(start_paused = true)]
async fn recent_calls_outweigh_old_ones() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    for _ in 0..10 {
        telemetry.record(
            &config,
            Instant::now(),
            &failed(ErrorKind::Timeout(TimeoutKind::Total)),
        );
    }
    tokio::time::advance(Duration::from_secs(180)).await;
    for _ in 0..10 {
        telemetry.record(&config, Instant::now(), &ok(100));
    }
    // Old failures weigh 10/8 = 1.25 against 10 fresh successes.
    let rate = telemetry.success_rate(&config, Instant::now());
    assert!(
        (rate - (10.0 + 1.8) / (10.0 + 1.25 + 2.0)).abs() < 1e-9,
        "{rate}"
    );
}

#[tokio::test(start_paused = true)]
async fn latency_quantiles_come_from_successful_calls() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    for ms in 1..=100 {
        telemetry.record(&config, Instant::now(), &ok(ms * 10));
    }
    telemetry.record(
        &config,
        Instant::now(),
        &failed(ErrorKind::Timeout(TimeoutKind::Total)),
    );
    let snapshot = telemetry.snapshot(&config, Instant::now());
    let p50 = snapshot.latency_p50_ms.unwrap();
    let p95 = snapshot.latency_p95_ms.unwrap();
    // Buckets are 25% wide: the true values are 500 ms and 950 ms.
    assert!((400.0..=625.0).contains(&p50), "p50 {p50}");
    assert!((760.0..=1190.0).contains(&p95), "p95 {p95}");
    let ttft = snapshot.ttft_p50_ms.unwrap();
    assert!((100.0..=160.0).contains(&ttft), "ttft {ttft}");
}

#[tokio::test(start_paused = true)]
async fn latency_follows_a_model_that_slowed_down() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    for _ in 0..20 {
        telemetry.record(&config, Instant::now(), &ok(100));
    }
    tokio::time::advance(Duration::from_secs(600)).await;
    for _ in 0..5 {
        telemetry.record(&config, Instant::now(), &ok(2000));
    }
    let p50 = telemetry.latency_p50_ms().unwrap();
    assert!(p50 > 1500.0, "old fast calls should have faded: p50 {p50}");
}

#[tokio::test(start_paused = true)]
async fn errors_are_counted_by_kind_with_the_last_one_kept() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    telemetry.record(&config, Instant::now(), &failed(ErrorKind::RateLimited));
    telemetry.record(&config, Instant::now(), &failed(ErrorKind::RateLimited));
    telemetry.record(
        &config,
        Instant::now(),
        &CallOutcome::failed(
            ErrorKind::Timeout(TimeoutKind::Idle),
            "x".repeat(2000),
            Duration::ZERO,
        ),
    );
    telemetry.record(&config, Instant::now(), &ok(10));
    let snapshot = telemetry.snapshot(&config, Instant::now());
    assert_eq!(snapshot.calls, 4);
    assert_eq!(snapshot.successes, 1);
    assert_eq!(snapshot.failures, 3);
    assert_eq!(snapshot.errors_by_kind.get("rate_limited"), Some(&2));
    assert_eq!(snapshot.errors_by_kind.get("timeout"), Some(&1));
    let last = snapshot.last_error.unwrap();
    assert_eq!(last.kind, "timeout");
    assert_eq!(last.message.chars().count(), 500);
    assert_eq!(snapshot.input_tokens, 100);
    assert_eq!(snapshot.output_tokens, 50);
    assert!((snapshot.cost_usd - 0.01).abs() < 1e-12);
}

#[tokio::test(start_paused = true)]
async fn request_faults_do_not_move_the_success_rate() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    telemetry.record(&config, Instant::now(), &failed(ErrorKind::ContextTooLong));
    telemetry.record(&config, Instant::now(), &failed(ErrorKind::ContentPolicy));
    assert!((telemetry.success_rate(&config, Instant::now()) - 0.9).abs() < 1e-12);
    assert_eq!(telemetry.snapshot(&config, Instant::now()).failures, 2);
}

#[tokio::test(start_paused = true)]
async fn state_round_trips_through_json_with_the_same_figures() {
    let config = config();
    let mut telemetry = ModelTelemetry::new(Instant::now());
    for ms in [100, 200, 300] {
        telemetry.record(&config, Instant::now(), &ok(ms));
    }
    telemetry.record(&config, Instant::now(), &failed(ErrorKind::Server));
    tokio::time::advance(Duration::from_secs(30)).await;
    let before = telemetry.snapshot(&config, Instant::now());

    let json = serde_json::to_string(&telemetry.state(&config, Instant::now())).unwrap();
    let state: TelemetryState = serde_json::from_str(&json).unwrap();
    let restored = ModelTelemetry::from_state(&state, Instant::now());
    let after = restored.snapshot(&config, Instant::now());

    assert!((before.success_rate - after.success_rate).abs() < 1e-12);
    assert!((before.recent_calls - after.recent_calls).abs() < 1e-12);
    assert_eq!(before.latency_p50_ms, after.latency_p50_ms);
    assert_eq!(before.errors_by_kind, after.errors_by_kind);
    assert_eq!(before.calls, after.calls);
}

#[test]
fn histogram_quantile_is_none_when_empty_and_zero_for_instant_calls() {
    let mut histogram = DecayingHistogram::new();
    assert_eq!(histogram.quantile(0.5), None);
    histogram.observe(0.0);
    let p50 = histogram.quantile(0.5).unwrap();
    assert!((0.0..=1.25).contains(&p50), "{p50}");
}

#[test]
fn histogram_keeps_very_long_calls_in_its_last_bucket() {
    let mut histogram = DecayingHistogram::new();
    histogram.observe(1e12);
    assert!(histogram.quantile(0.99).unwrap() > 1e6);
}
