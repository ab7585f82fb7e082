//! Retries with backoff, fallbacks, timeouts and cancellation, on the paused clock.

use std::sync::atomic::Ordering;
use std::time::Duration;

use baton_core::error::ErrorCode;
use baton_core::event::EventPayload;
use baton_core::journal::Commit;
use baton_core::status::{AttemptStatus, RunStatus, TaskStatus};
use serde_json::json;

use crate::support::{Scripted, Step, TestEngine, of, task_attempts};

fn one_task(options: serde_json::Value) -> serde_json::Value {
    json!({"workflow": {"tasks": [{"id": "a", "instructions": "x"}]}, "options": options})
}

#[tokio::test(start_paused = true)]
async fn transient_failures_are_retried_with_exponential_backoff_and_full_jitter() {
    let zero = Duration::ZERO;
    let test = TestEngine::new(Scripted::with([
        Step::ServerError(zero),
        Step::ServerError(zero),
    ]));
    let began = tokio::time::Instant::now();

    let id = test.run(one_task(json!({"max_retries": 2}))).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    assert_eq!(test.calls(), 3);
    let events = test.events(id).await;
    let delays: Vec<u64> = of(&events, "task_retry")
        .into_iter()
        .map(|e| match e {
            EventPayload::TaskRetry { delay_ms, .. } => *delay_ms,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(delays.len(), 2);
    assert!(
        delays[0] < 1_000 && delays[1] < 2_000,
        "full jitter under a doubling ceiling: {delays:?}"
    );
    assert_eq!(
        began.elapsed().as_millis() as u64,
        delays.iter().sum::<u64>(),
        "the waits were the backoff"
    );
    let statuses: Vec<_> = task_attempts(&test.attempts(id).await)
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(
        statuses,
        [
            AttemptStatus::Failed,
            AttemptStatus::Failed,
            AttemptStatus::Succeeded
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn exhausted_retries_fall_back_to_the_next_model() {
    let zero = Duration::ZERO;
    let test = TestEngine::new(Scripted::with([
        Step::ServerError(zero),
        Step::ServerError(zero),
    ]));

    let id = test.run(one_task(json!({"max_retries": 1}))).await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let models = test.task_models(id).await;
    assert_eq!(models, ["first", "first", "second"]);
    let events = test.events(id).await;
    let failed = of(&events, "task_failed");
    assert!(
        matches!(failed[..], [EventPayload::TaskFailed { fallback: Some(next), .. }] if next == "scripted/second"),
        "{failed:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_permanent_error_is_not_retried_on_the_same_model() {
    let test = TestEngine::new(Scripted::with([Step::BadRequest]));

    let id = test.run(one_task(json!({"max_retries": 5}))).await;

    let models = test.task_models(id).await;
    assert_eq!(
        models,
        ["first", "second"],
        "one call on the failing model, then the fallback"
    );
    assert!(of(&test.events(id).await, "task_retry").is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_call_slower_than_its_timeout_is_cut_and_retried() {
    let test = TestEngine::new(Scripted::with([Step::Answer(
        "late",
        Duration::from_secs(60),
    )]));
    let began = tokio::time::Instant::now();

    let id = test
        .run(one_task(json!({"task_timeout_s": 5.0, "max_retries": 1})))
        .await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    let attempts = test.attempts(id).await;
    let first = &task_attempts(&attempts)[0];
    assert_eq!(first.status, AttemptStatus::Failed);
    assert!(
        first.error.as_deref().unwrap().contains("timeout"),
        "{:?}",
        first.error
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "the slow call was not waited for"
    );
    assert_eq!(test.provider.dropped_in_flight.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn cancelling_a_run_drops_its_in_flight_call() {
    let test = TestEngine::new(Scripted::with([Step::Hang]));
    let id = test.submit(one_task(json!({}))).await;
    test.until_called(1).await;

    test.engine.cancel(id, None).await.unwrap();
    test.engine.wait(id).await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Cancelled);
    assert_eq!(run.state.error.unwrap().code, ErrorCode::Cancelled);
    assert_eq!(test.provider.dropped_in_flight.load(Ordering::SeqCst), 1);
    assert_eq!(test.tasks(id).await[0].status, TaskStatus::Cancelled);
    assert_eq!(
        task_attempts(&test.attempts(id).await)[0].status,
        AttemptStatus::Cancelled
    );
    // Cancelling again changes nothing.
    test.engine.cancel(id, None).await.unwrap();
    assert_eq!(of(&test.events(id).await, "final").len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_past_its_timeout_fails_with_run_timeout() {
    let test = TestEngine::new(Scripted::with([Step::Hang]));
    let began = tokio::time::Instant::now();

    let id = test.run(one_task(json!({"timeout_s": 10.0}))).await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Failed);
    assert_eq!(run.state.error.unwrap().code, ErrorCode::RunTimeout);
    assert_eq!(began.elapsed().as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_retried_task_keeps_the_start_time_its_first_attempt_committed() {
    let test = TestEngine::new(Scripted::with([Step::ServerError(Duration::ZERO)]));
    test.journal.hold_commits();
    let first_start = |commit: &Commit| {
        commit
            .tasks
            .iter()
            .find(|task| task.task_id.as_str() == "a" && task.status == TaskStatus::Running)
            .and_then(|task| task.started_at)
    };

    let id = test.submit(one_task(json!({"max_retries": 1}))).await;
    test.let_commits_through_until(|held| held.iter().any(|commit| first_start(commit).is_some()))
        .await;
    let held = test.journal.until_held(1).await;
    let started_at = held.iter().find_map(first_start).expect("a's start time");
    test.journal.release_held();
    test.engine.wait(id).await;

    assert_eq!(test.calls(), 2, "one retry");
    let tasks = test.tasks(id).await;
    let task = tasks
        .iter()
        .find(|task| task.task_id.as_str() == "a")
        .expect("a's row");
    assert_eq!(task.status, TaskStatus::Succeeded);
    assert_eq!(task.started_at, Some(started_at));
}
