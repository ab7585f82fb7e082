//! The router in the call path: the engine-wide cap, rate-limit buckets, the
//! vendor's Retry-After, breakers opened during retries, the larger-window fallback,
//! and the telemetry saved with every call.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use baton_core::event::EventPayload;
use baton_core::journal::Journal;
use baton_core::status::RunStatus;
use baton_router::{BreakerConfig, RateLimitConfig, RouterConfig};
use serde_json::{Value, json};

use crate::support::{ROOMY_MODEL, Scripted, Step, TERSE_MODEL, TestEngine, of};

fn independent_tasks(n: usize) -> Value {
    let tasks: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("t{i}"), "instructions": format!("Task {i}.")}))
        .collect();
    json!({
        "workflow": {"tasks": tasks},
        "options": {"max_concurrency": n, "max_concurrency_per_provider": n,
                    "verify": false, "assemble": "concat"},
    })
}

fn limited(config: RateLimitConfig) -> RouterConfig {
    RouterConfig {
        rate_limits: BTreeMap::from([("scripted".to_owned(), config)]),
        ..RouterConfig::default()
    }
}

#[tokio::test(start_paused = true)]
async fn the_engine_wide_cap_holds_over_every_run() {
    let provider = Scripted::with([]);
    *provider.latency.lock().unwrap() = Duration::from_secs(1);
    let test = TestEngine::with_router(provider, RouterConfig::default(), Some(3));

    let first = test.submit(independent_tasks(4)).await;
    let second = test.submit(independent_tasks(4)).await;
    test.engine.wait(first).await;
    test.engine.wait(second).await;

    for id in [first, second] {
        assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    }
    assert_eq!(test.calls(), 8);
    assert_eq!(
        test.provider.peak.load(std::sync::atomic::Ordering::SeqCst),
        3,
        "two runs of four parallel tasks, three calls at a time"
    );
}

#[tokio::test(start_paused = true)]
async fn a_call_over_the_per_minute_bucket_waits_and_the_wait_is_counted() {
    let router = limited(RateLimitConfig {
        requests_per_minute: Some(2),
        ..RateLimitConfig::default()
    });
    let test = TestEngine::with_router(Scripted::with([]), router, None);
    let started = tokio::time::Instant::now();

    let id = test.run(independent_tasks(3)).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(30),
        "the third call waits for the bucket to refill: {elapsed:?}"
    );
    let stats = test.engine.router().limiter().stats();
    assert_eq!(stats.len(), 1, "{stats:?}");
    assert_eq!((stats[0].acquired, stats[0].waits), (3, 1), "{stats:?}");
    assert!(stats[0].waited_ms >= 29_000, "{stats:?}");
    // The wait is the queue's, not the vendor's: latency telemetry stays near zero.
    let attempts = test.attempts(id).await;
    assert!(
        attempts.iter().all(|a| a.latency_ms.unwrap() < 1_000),
        "{attempts:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_from_the_vendor_holds_back_every_call_to_the_provider() {
    // `late` starts after `a`'s 429 and must wait out the vendor's 10 s too.
    let provider = Scripted::per_task([
        ("a", vec![Step::RateLimited(Duration::from_secs(10))]),
        ("gate", vec![Step::Answer("open", Duration::from_secs(1))]),
    ]);
    let test = TestEngine::with_router(provider, limited(RateLimitConfig::default()), None);
    let body = json!({
        "workflow": {"tasks": [
            {"id": "a", "instructions": "First."},
            {"id": "gate", "instructions": "Gate."},
            {"id": "late", "instructions": "After {{gate}}.", "depends_on": ["gate"]},
        ]},
        "options": {"verify": false, "assemble": "concat", "max_retries": 2},
    });

    let id = test.run(body).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let events = test.events(id).await;
    let retries = of(&events, "task_retry");
    assert!(
        matches!(retries[..], [EventPayload::TaskRetry { delay_ms, .. }] if *delay_ms >= 10_000),
        "{retries:?}"
    );
    let stats = test.engine.router().limiter().stats();
    assert!(
        stats[0].waits >= 1 && stats[0].waited_ms >= 8_000,
        "the gated task's call waited for the vendor's block: {stats:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_vendor_that_says_its_window_is_spent_is_not_called_until_it_resets() {
    let provider = Scripted::per_task([(
        "gate",
        vec![Step::AnswerWindowSpent(Duration::from_secs(20))],
    )]);
    let test = TestEngine::with_router(provider, RouterConfig::default(), None);
    let body = json!({
        "workflow": {"tasks": [
            {"id": "gate", "instructions": "Gate."},
            {"id": "late", "instructions": "After {{gate}}.", "depends_on": ["gate"]},
        ]},
        "options": {"verify": false, "assemble": "concat"},
    });
    let started = tokio::time::Instant::now();

    let id = test.run(body).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    assert!(
        started.elapsed() >= Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let stats = test.engine.router().limiter().stats();
    assert_eq!(stats[0].waits, 1, "{stats:?}");
}

#[tokio::test(start_paused = true)]
async fn a_breaker_that_opens_during_retries_sends_the_task_to_the_next_model() {
    let router = RouterConfig {
        model_breaker: BreakerConfig {
            failure_threshold: 2,
            ..BreakerConfig::default()
        },
        ..RouterConfig::default()
    };
    let zero = Duration::ZERO;
    let provider = Scripted::with([
        Step::ServerError(zero),
        Step::ServerError(zero),
        Step::ServerError(zero),
    ]);
    let test = TestEngine::with_router(provider, router, None);
    let body = json!({
        "workflow": {"tasks": [{"id": "a", "instructions": "Do it."}]},
        "options": {"verify": false, "max_retries": 5},
    });

    let id = test.run(body).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let models = test.task_models(id).await;
    assert_eq!(
        models[..2],
        ["first", "first"],
        "the breaker opens after two failures: {models:?}"
    );
    assert_ne!(models[2], "first", "no third call into an open breaker");
    let events = test.events(id).await;
    let failed = of(&events, "task_failed");
    assert!(
        matches!(&failed[..], [EventPayload::TaskFailed { error, fallback: Some(_), .. }] if error.contains("circuit breaker")),
        "{failed:?}"
    );
    let decisions = of(&events, "decision");
    let EventPayload::Decision { candidates, .. } = decisions[1] else {
        unreachable!()
    };
    let skipped = candidates.iter().find(|c| c.model == "first").unwrap();
    assert!(
        skipped.skipped.is_some(),
        "the next decision says why `first` was left: {skipped:#?}"
    );
}

#[tokio::test(start_paused = true)]
async fn context_too_long_falls_back_to_a_model_with_a_larger_window() {
    let provider = Scripted::per_task([("a", vec![Step::ContextTooLong])]);
    let test = TestEngine::with_models(provider, ROOMY_MODEL);
    let body = json!({
        "workflow": {"tasks": [{"id": "a", "instructions": "Read this long text."}]},
        "options": {"verify": false},
    });

    let id = test.run(body).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let models = test.task_models(id).await;
    assert_eq!(
        models,
        ["first", "roomy"],
        "`second` scores higher but has the same window as `first`"
    );
    let events = test.events(id).await;
    assert!(
        matches!(of(&events, "task_failed")[..], [EventPayload::TaskFailed { fallback: Some(next), .. }] if next == "scripted/roomy")
    );
}

#[tokio::test(start_paused = true)]
async fn failures_always_and_successes_once_a_second_save_the_routers_state() {
    let test = TestEngine::new(Scripted::with([Step::ServerError(Duration::ZERO)]));
    let body = json!({
        "workflow": {"tasks": [{"id": "a", "instructions": "Do it."}]},
        "options": {"verify": false, "max_retries": 2},
    });
    let saved_calls = |saved: &[baton_core::journal::TelemetryRecord]| {
        let first = saved
            .iter()
            .find(|r| r.provider == "scripted" && r.model == "first")
            .unwrap_or_else(|| panic!("{saved:#?}"));
        first.state["telemetry"]["totals"]["calls"]
            .as_u64()
            .unwrap()
    };

    // A failure, then a success within the second: the failure's state is saved.
    test.run(body.clone()).await;
    let saved = test.journal.load_telemetry().await.unwrap();
    assert_eq!(saved_calls(&saved), 1, "{saved:#?}");
    assert!(
        saved
            .iter()
            .any(|r| r.provider == "scripted" && r.model.is_empty()),
        "the provider's breaker is saved too: {saved:#?}"
    );

    // A success a second later is saved, with everything learned since.
    tokio::time::advance(Duration::from_secs(2)).await;
    test.run(body).await;
    let saved = test.journal.load_telemetry().await.unwrap();
    assert_eq!(saved_calls(&saved), 3, "{saved:#?}");

    // A router built from the journal (as at a restart) knows what this one learned.
    let restarted = TestEngine::with_journal(Scripted::with([]), Arc::clone(&test.journal));
    restarted.engine.router().restore(&saved);
    let models = restarted.engine.router().models();
    let restored = models.iter().find(|m| m.spec.model == "first").unwrap();
    assert_eq!(restored.telemetry.calls, 3);
    assert_eq!(restored.telemetry.failures, 1);
}

#[tokio::test(start_paused = true)]
async fn each_model_gets_the_request_fitted_to_it_and_a_fallback_not_the_last_models_cap() {
    // The terse model is chosen first and refuses the call for good; the next model
    // gets the output tokens the task asked for, not the terse model's cap.
    let test = TestEngine::with_models(Scripted::with([Step::BadRequest]), TERSE_MODEL);
    let id = test
        .run(json!({"workflow": {"tasks": [{"id": "a", "instructions": "a"}]}, "options": {"verify": false}}))
        .await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let asked = baton_executor::engine::EngineConfig::with_defaults().task_max_output_tokens;
    assert!(
        asked > 64,
        "the task asks for more than the terse model writes"
    );
    let sent = test.provider.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        [
            ("terse".to_owned(), 64),
            ("first".to_owned(), asked.min(4096))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn a_repair_goes_to_the_same_model_with_the_same_fitted_request_and_the_rejection() {
    let test = TestEngine::new(Scripted::with([Step::Answer("", Duration::ZERO)]));
    let id = test
        .run(json!({"workflow": {"tasks": [{"id": "a", "instructions": "a"}]}}))
        .await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let sent = test.provider.sent.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "the empty answer, then its repair: {sent:?}");
    assert_eq!(sent[0], sent[1]);
    let prompts = test.provider.order.lock().unwrap().clone();
    assert!(
        prompts[1].contains("That answer was rejected"),
        "{prompts:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_run_level_call_gets_its_request_fitted_to_the_chosen_model() {
    // The planner builds its request without knowing the model; the call fits it.
    let test = TestEngine::with_models(Scripted::with([]), TERSE_MODEL);
    let id = test
        .run(json!({"prompt": "Name three rivers. Then describe the longest one."}))
        .await;

    assert!(test.record(id).await.state.status.is_terminal());
    let sent = test.provider.sent.lock().unwrap().clone();
    assert_eq!(
        sent.first(),
        Some(&("terse".to_owned(), 64)),
        "the planner's call: {sent:?}"
    );
}
