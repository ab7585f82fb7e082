use super::*;

fn policy() -> RetryPolicy {
    RetryPolicy {
        base_delay_ms: 100,
        max_delay_ms: 1_000,
        max_retry_after_ms: 5_000,
    }
}

#[test]
fn backoff_doubles_up_to_the_ceiling_with_full_jitter() {
    let p = policy();
    let at = |retry, random| p.decide(retry, 10, None, random);
    assert_eq!(
        at(1, 0.999),
        RetryDecision::RetryAfter(Duration::from_millis(99))
    );
    assert_eq!(
        at(2, 0.5),
        RetryDecision::RetryAfter(Duration::from_millis(100))
    );
    assert_eq!(
        at(3, 0.5),
        RetryDecision::RetryAfter(Duration::from_millis(200))
    );
    assert_eq!(
        at(9, 0.5),
        RetryDecision::RetryAfter(Duration::from_millis(500))
    );
    assert_eq!(at(1, 0.0), RetryDecision::RetryAfter(Duration::ZERO));
}

#[test]
fn retries_stop_at_the_limit() {
    assert_eq!(policy().decide(3, 2, None, 0.5), RetryDecision::GiveUp);
    assert!(matches!(
        policy().decide(2, 2, None, 0.5),
        RetryDecision::RetryAfter(_)
    ));
}

#[test]
fn retry_after_is_honoured_up_to_the_cap() {
    let p = policy();
    assert_eq!(
        p.decide(1, 3, Some(Duration::from_secs(2)), 0.1),
        RetryDecision::RetryAfter(Duration::from_secs(2))
    );
    assert_eq!(
        p.decide(1, 3, Some(Duration::from_secs(6)), 0.1),
        RetryDecision::GiveUp
    );
}
