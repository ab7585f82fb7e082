//! Tests of the rate limiter on paused time.

use std::time::Duration;

use super::*;

fn limiter(config: RateLimitConfig) -> RateLimiter {
    RateLimiter::new(BTreeMap::from([("openai".to_owned(), config)]))
}

#[tokio::test(start_paused = true)]
async fn calls_within_the_limits_do_not_wait() {
    let limiter = limiter(RateLimitConfig {
        requests_per_minute: Some(3),
        tokens_per_minute: Some(1000),
        ..RateLimitConfig::default()
    });
    for _ in 0..3 {
        let permit = limiter.acquire("openai", 100).await;
        assert_eq!(permit.waited(), Duration::ZERO);
        limiter.settle(permit, 100);
    }
    let stats = limiter.stats();
    assert_eq!(stats[0].acquired, 3);
    assert_eq!(stats[0].waits, 0);
}

#[tokio::test(start_paused = true)]
async fn an_unlimited_provider_never_waits() {
    let limiter = limiter(RateLimitConfig::default());
    for _ in 0..100 {
        assert_eq!(
            limiter.acquire("anthropic", 1_000_000).await.waited(),
            Duration::ZERO
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_request_after_the_per_minute_limit_waits_for_a_refill_and_is_counted() {
    let limiter = limiter(RateLimitConfig {
        requests_per_minute: Some(2),
        ..RateLimitConfig::default()
    });
    limiter.acquire("openai", 0).await;
    limiter.acquire("openai", 0).await;
    let started = Instant::now();
    let permit = limiter.acquire("openai", 0).await;
    // Two per minute refill one every 30 s.
    assert_eq!(Instant::now() - started, Duration::from_secs(30));
    assert_eq!(permit.waited(), Duration::from_secs(30));
    let stats = &limiter.stats()[0];
    assert_eq!(stats.waits, 1);
    assert_eq!(stats.waited_ms, 30_000);
    assert_eq!(limiter.total_waited(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn waiters_are_served_in_arrival_order() {
    let limiter = Arc::new(limiter(RateLimitConfig {
        requests_per_minute: Some(1),
        ..RateLimitConfig::default()
    }));
    limiter.acquire("openai", 0).await;
    let (first, second) = tokio::join!(limiter.acquire("openai", 0), limiter.acquire("openai", 0));
    assert_eq!(first.waited(), Duration::from_secs(60));
    assert_eq!(second.waited(), Duration::from_secs(120));
}

#[tokio::test(start_paused = true)]
async fn tokens_are_reserved_from_the_estimate_and_corrected_by_real_usage() {
    let limiter = limiter(RateLimitConfig {
        tokens_per_minute: Some(600),
        ..RateLimitConfig::default()
    });
    // Estimated 100, really used 900: the bucket is 300 tokens in debt.
    let permit = limiter.acquire("openai", 100).await;
    limiter.settle(permit, 900);
    let permit = limiter.acquire("openai", 300).await;
    // 600 of debt, paid back at 10 tokens a second.
    assert_eq!(permit.waited(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn an_overestimate_is_given_back() {
    let limiter = limiter(RateLimitConfig {
        tokens_per_minute: Some(600),
        ..RateLimitConfig::default()
    });
    let permit = limiter.acquire("openai", 600).await;
    assert_eq!(permit.reserved_tokens(), 600);
    limiter.settle(permit, 100);
    let permit = limiter.acquire("openai", 500).await;
    assert_eq!(permit.waited(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn an_estimate_larger_than_the_bucket_waits_for_a_full_bucket_only() {
    let limiter = limiter(RateLimitConfig {
        tokens_per_minute: Some(600),
        ..RateLimitConfig::default()
    });
    limiter.acquire("openai", 600).await;
    let permit = limiter.acquire("openai", 10_000).await;
    assert_eq!(permit.waited(), Duration::from_secs(60));
}

#[tokio::test(start_paused = true)]
async fn the_daily_tier_holds_calls_back_after_the_minute_tier_refills() {
    let limiter = limiter(RateLimitConfig {
        requests_per_minute: Some(60),
        requests_per_day: Some(2),
        ..RateLimitConfig::default()
    });
    limiter.acquire("openai", 0).await;
    limiter.acquire("openai", 0).await;
    let permit = limiter.acquire("openai", 0).await;
    // Two a day refill one every 12 hours.
    assert_eq!(permit.waited(), Duration::from_secs(12 * 3600));
}

#[tokio::test(start_paused = true)]
async fn retry_after_holds_every_call_back() {
    let limiter = limiter(RateLimitConfig::default());
    limiter.slow_down(
        "openai",
        &RateLimitHint::retry_after(Duration::from_secs(7)),
    );
    assert_eq!(limiter.stats()[0].blocked_for_s, Some(7.0));
    let permit = limiter.acquire("openai", 0).await;
    assert_eq!(permit.waited(), Duration::from_secs(7));
    let permit = limiter.acquire("openai", 0).await;
    assert_eq!(permit.waited(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_that_arrives_while_waiting_extends_the_wait() {
    let limiter = Arc::new(limiter(RateLimitConfig {
        requests_per_minute: Some(1),
        ..RateLimitConfig::default()
    }));
    limiter.acquire("openai", 0).await;
    let waiter = {
        let limiter = Arc::clone(&limiter);
        tokio::spawn(async move { limiter.acquire("openai", 0).await.waited() })
    };
    // Let the waiter start waiting (the runtime is single-threaded).
    tokio::task::yield_now().await;
    tokio::time::advance(Duration::from_secs(50)).await;
    limiter.slow_down(
        "openai",
        &RateLimitHint::retry_after(Duration::from_secs(30)),
    );
    assert_eq!(waiter.await.unwrap(), Duration::from_secs(80));
}

#[tokio::test(start_paused = true)]
async fn vendor_remaining_counts_lower_the_buckets() {
    let limiter = limiter(RateLimitConfig {
        requests_per_minute: Some(60),
        tokens_per_minute: Some(60_000),
        ..RateLimitConfig::default()
    });
    limiter.slow_down(
        "openai",
        &RateLimitHint {
            remaining_tokens: Some(1000),
            ..RateLimitHint::default()
        },
    );
    limiter.acquire("openai", 1000).await;
    let permit = limiter.acquire("openai", 1000).await;
    // 1000 tokens refill in one second at 60k a minute.
    assert_eq!(permit.waited(), Duration::from_secs(1));
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_vendor_window_waits_for_its_reset() {
    let limiter = limiter(RateLimitConfig::default());
    limiter.slow_down(
        "openai",
        &RateLimitHint {
            remaining_requests: Some(0),
            reset_requests: Some(Duration::from_secs(5)),
            ..RateLimitHint::default()
        },
    );
    assert_eq!(
        limiter.acquire("openai", 0).await.waited(),
        Duration::from_secs(5)
    );
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_wait_gives_its_reservation_back() {
    let limiter = limiter(RateLimitConfig {
        requests_per_minute: Some(1),
        ..RateLimitConfig::default()
    });
    limiter.acquire("openai", 0).await;
    // This caller gives up after 10 s of its 60 s wait.
    let gave_up = tokio::time::timeout(Duration::from_secs(10), limiter.acquire("openai", 0)).await;
    assert!(gave_up.is_err());
    // The next caller waits only for the first call's refill, not for two.
    let permit = limiter.acquire("openai", 0).await;
    assert_eq!(permit.waited(), Duration::from_secs(50));
}

#[tokio::test(start_paused = true)]
async fn max_concurrent_holds_a_call_until_a_permit_is_settled() {
    let limiter = Arc::new(limiter(RateLimitConfig {
        max_concurrent: Some(1),
        ..RateLimitConfig::default()
    }));
    let first = limiter.acquire("openai", 0).await;
    let waiter = {
        let limiter = Arc::clone(&limiter);
        tokio::spawn(async move { limiter.acquire("openai", 0).await.waited() })
    };
    // Let the waiter start waiting (the runtime is single-threaded).
    tokio::task::yield_now().await;
    tokio::time::advance(Duration::from_secs(3)).await;
    assert!(!waiter.is_finished());
    limiter.settle(first, 0);
    assert_eq!(waiter.await.unwrap(), Duration::from_secs(3));
}
