//! Tests of the circuit breaker on paused time.

use std::time::Duration;

use super::*;

fn config() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: 3,
        error_rate: 0.5,
        min_calls: 6,
        window_s: 60.0,
        open_s: 10.0,
        max_open_s: 40.0,
    }
}

fn now() -> Instant {
    Instant::now()
}

async fn advance_s(seconds: u64) {
    tokio::time::advance(Duration::from_secs(seconds)).await;
}

/// Three failures and three successes: at the rate's limit, one more failure opens.
fn at_the_limit(breaker: &mut CircuitBreaker) {
    for _ in 0..3 {
        breaker.on_failure(now());
        breaker.on_success(now());
    }
}

#[tokio::test(start_paused = true)]
async fn opens_after_consecutive_failures() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.on_failure(now());
    breaker.on_failure(now());
    assert_eq!(breaker.state(now()), BreakerState::Closed);
    breaker.on_failure(now());
    assert_eq!(breaker.state(now()), BreakerState::Open);
    assert_eq!(
        breaker.admission(now()),
        Admission::Rejected {
            until: now() + Duration::from_secs(10)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn one_failure_in_a_quiet_minute_does_not_open_it() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.on_failure(now());
    assert_eq!(breaker.state(now()), BreakerState::Closed);
    assert_eq!(breaker.admission(now()), Admission::Allowed);
}

#[tokio::test(start_paused = true)]
async fn a_success_resets_the_consecutive_count() {
    let mut breaker = CircuitBreaker::new(config());
    for _ in 0..5 {
        breaker.on_failure(now());
        breaker.on_failure(now());
        breaker.on_success(now());
        advance_s(61).await;
    }
    assert_eq!(breaker.state(now()), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn opens_when_the_error_rate_exceeds_the_limit_over_enough_calls() {
    let mut breaker = CircuitBreaker::new(config());
    // Alternating failures never reach three in a row; 3 of 6 is not above 50%.
    at_the_limit(&mut breaker);
    assert_eq!(breaker.state(now()), BreakerState::Closed);
    // 4 of 7 is above 50%, though only one failure is consecutive.
    breaker.on_failure(now());
    assert_eq!(breaker.state(now()), BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn the_rate_forgets_calls_older_than_the_window() {
    let mut breaker = CircuitBreaker::new(config());
    at_the_limit(&mut breaker);
    advance_s(60).await;
    // Counting the old calls, 5 of 9 would be above 50%; but the window is
    // empty again, and 3 calls are too few for the rate to count.
    breaker.on_failure(now());
    breaker.on_success(now());
    breaker.on_failure(now());
    assert_eq!(breaker.state(now()), BreakerState::Closed);
}

#[tokio::test(start_paused = true)]
async fn open_breaker_lets_one_probe_through_after_the_interval() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.trip(now());
    advance_s(9).await;
    assert!(matches!(
        breaker.try_acquire(now()),
        Admission::Rejected { .. }
    ));
    advance_s(1).await;
    assert_eq!(breaker.state(now()), BreakerState::HalfOpen);
    assert_eq!(breaker.try_acquire(now()), Admission::Probe);
    assert!(
        matches!(breaker.try_acquire(now()), Admission::Rejected { .. }),
        "only one probe"
    );
    breaker.on_success(now());
    assert_eq!(breaker.state(now()), BreakerState::Closed);
    assert_eq!(breaker.try_acquire(now()), Admission::Allowed);
}

#[tokio::test(start_paused = true)]
async fn failed_probes_double_the_open_interval_up_to_the_cap() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.trip(now());
    let mut intervals = Vec::new();
    for _ in 0..4 {
        let Admission::Rejected { until } = breaker.admission(now()) else {
            panic!("expected open")
        };
        let interval = until - now();
        intervals.push(interval.as_secs());
        tokio::time::advance(interval).await;
        assert_eq!(breaker.try_acquire(now()), Admission::Probe);
        breaker.on_failure(now());
    }
    assert_eq!(intervals, [10, 20, 40, 40]);
}

#[tokio::test(start_paused = true)]
async fn a_lost_probe_is_replaced_after_one_interval() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.trip(now());
    advance_s(10).await;
    assert_eq!(breaker.try_acquire(now()), Admission::Probe);
    advance_s(9).await;
    assert!(matches!(
        breaker.try_acquire(now()),
        Admission::Rejected { .. }
    ));
    advance_s(1).await;
    assert_eq!(breaker.try_acquire(now()), Admission::Probe);
}

#[tokio::test(start_paused = true)]
async fn a_neutral_outcome_frees_the_probe_at_once() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.trip(now());
    advance_s(10).await;
    assert_eq!(breaker.try_acquire(now()), Admission::Probe);
    breaker.on_neutral(now());
    assert_eq!(breaker.try_acquire(now()), Admission::Probe);
}

#[tokio::test(start_paused = true)]
async fn trip_opens_a_closed_breaker_at_once() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.trip(now());
    let status = breaker.status(now());
    assert_eq!(status.state, BreakerState::Open);
    assert_eq!(status.consecutive_failures, 1);
    assert_eq!(status.probe_in_s, Some(10.0));
}

#[tokio::test(start_paused = true)]
async fn a_late_success_closes_an_open_breaker() {
    let mut breaker = CircuitBreaker::new(config());
    breaker.trip(now());
    breaker.on_success(now());
    assert_eq!(breaker.state(now()), BreakerState::Closed);
}

/// A breaker saved at the rate's limit.
fn saved_at_the_limit() -> BreakerSnapshot {
    let mut breaker = CircuitBreaker::new(config());
    at_the_limit(&mut breaker);
    breaker.snapshot(now())
}

/// The state of a breaker restored from `saved` after `elapsed` down, once one more
/// call has failed.
fn restored_then_one_failure(saved: &BreakerSnapshot, elapsed: Duration) -> BreakerState {
    let mut restored = CircuitBreaker::restore(config(), saved, now(), elapsed);
    restored.on_failure(now());
    restored.state(now())
}

#[tokio::test(start_paused = true)]
async fn a_saved_window_is_restored_with_its_counts() {
    let state = restored_then_one_failure(&saved_at_the_limit(), Duration::ZERO);

    // 4 of 7 is above 50 %; with the window lost it would be 1 call, too few.
    assert_eq!(state, BreakerState::Open);
}

#[tokio::test(start_paused = true)]
async fn a_restored_window_has_aged_by_the_time_down() {
    let state = restored_then_one_failure(&saved_at_the_limit(), Duration::from_secs(60));

    assert_eq!(state, BreakerState::Closed);
}

/// A state saved before the window was counted per slot lists its calls one by one.
#[tokio::test(start_paused = true)]
async fn a_window_saved_call_by_call_is_restored() {
    let saved: BreakerSnapshot = serde_json::from_value(serde_json::json!({
        "state": "closed",
        "consecutive_failures": 0,
        "open_interval_s": 10.0,
        "window": [[5.0, true], [4.0, false], [3.0, true], [2.0, false], [1.0, true], [0.5, false]],
        "openings": 0
    }))
    .unwrap();

    let state = restored_then_one_failure(&saved, Duration::ZERO);

    assert_eq!(state, BreakerState::Open);
}

/// However many calls a busy model takes, the window holds (and saves) a slot per
/// sixtieth of it, and the calls still in it.
#[tokio::test(start_paused = true)]
async fn a_busy_window_keeps_a_slot_per_sixtieth() {
    let mut breaker = CircuitBreaker::new(config());
    // 10,000 calls, one every 10 ms: the last 6,000 are inside the 60 s window.
    for _ in 0..10_000 {
        breaker.on_success(now());
        tokio::time::advance(Duration::from_millis(10)).await;
    }

    let saved = breaker.snapshot(now());
    let calls: u64 = saved.window_slots.iter().map(|&(_, calls, _)| calls).sum();

    assert!(
        saved.window_slots.len() <= WINDOW_SLOTS as usize,
        "{} slots",
        saved.window_slots.len()
    );
    // The window lets a call go between 59 s and 60 s after it was made.
    assert!((5_900..=6_000).contains(&calls), "{calls} calls");
    let json = serde_json::to_value(&saved).unwrap();
    assert!(json.get("window").is_none(), "{json}");
}

/// A saved state is read back from the journal as it is: counts too large to add up
/// saturate instead of overflowing.
#[tokio::test(start_paused = true)]
async fn a_saved_window_with_huge_counts_restores() {
    let saved: BreakerSnapshot = serde_json::from_value(serde_json::json!({
        "state": "closed",
        "consecutive_failures": 0,
        "open_interval_s": 10.0,
        "window_slots": [[2.0, u64::MAX, u64::MAX], [1.0, u64::MAX, 0]],
        "openings": 0
    }))
    .unwrap();

    let mut restored = CircuitBreaker::restore(config(), &saved, now(), Duration::ZERO);
    restored.on_success(now());
    advance_s(60).await;
    restored.on_success(now());

    assert_eq!(restored.state(now()), BreakerState::Closed);
}
