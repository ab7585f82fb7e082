//! Concurrency, priority, budgets and fail-fast.

use std::sync::atomic::Ordering;
use std::time::Duration;

use baton_core::error::ErrorCode;
use baton_core::event::EventPayload;
use baton_core::status::{RunStatus, TaskStatus};
use serde_json::json;

use baton_core::journal::{Commit, Journal, JournalError};
use baton_executor::engine::{EngineError, Started, Submission};
use baton_testkit::Mode;

use crate::support::{Scripted, Step, TestEngine, of};

#[tokio::test(start_paused = true)]
async fn parallel_tasks_never_exceed_max_concurrency_and_start_by_priority() {
    let provider = Scripted::with([]);
    *provider.latency.lock().unwrap() = Duration::from_secs(10);
    let test = TestEngine::new(provider);
    let priorities = [0, 5, 1, 5, 3, 0];
    let tasks: Vec<_> = priorities
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": format!("t{i}"), "instructions": format!("task {i}"), "priority": p}))
        .collect();
    let began = tokio::time::Instant::now();

    let id = test
        .run(json!({"workflow": {"tasks": tasks}, "options": {"max_concurrency": 2, "assemble": "concat"}}))
        .await;

    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    assert_eq!(
        test.provider.peak.load(Ordering::SeqCst),
        2,
        "never more than max_concurrency calls"
    );
    let started: Vec<String> = of(&test.events(id).await, "task_start")
        .into_iter()
        .map(|e| match e {
            EventPayload::TaskStart { task_id, .. } => task_id.to_string(),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(
        started,
        ["t1", "t3", "t4", "t2", "t0", "t5"],
        "priority, then plan order"
    );
    // Three waves of two ten-second calls: the makespan is the critical path.
    assert_eq!(began.elapsed().as_secs(), 30);
}

#[tokio::test(start_paused = true)]
async fn sequential_runs_one_task_at_a_time_in_plan_order() {
    let test = TestEngine::new(Scripted::with([]));
    let tasks = json!([
        {"id": "a", "instructions": "a", "priority": 0},
        {"id": "b", "instructions": "b", "priority": 9}
    ]);

    let id = test
        .run(json!({"workflow": {"tasks": tasks}, "options": {"strategy": "sequential", "assemble": "concat"}}))
        .await;

    assert_eq!(test.provider.peak.load(Ordering::SeqCst), 1);
    let order = test.provider.order.lock().unwrap().clone();
    assert!(
        order[0].contains("Your task (a)") && order[1].contains("Your task (b)"),
        "{order:?}"
    );
    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
}

#[tokio::test(start_paused = true)]
async fn a_call_that_could_break_the_budget_is_not_made() {
    let test = TestEngine::new(Scripted::with([]));

    let id = test
        .run(json!({"workflow": {"tasks": [{"id": "a", "instructions": "x"}]}, "options": {"budget_usd": 0.0001}}))
        .await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Failed);
    assert_eq!(run.state.error.unwrap().code, ErrorCode::BudgetExceeded);
    assert_eq!(test.calls(), 0, "no call was made");
    assert!(
        test.attempts(id).await.is_empty(),
        "no attempt row was written"
    );
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_the_running_tasks_at_the_first_failure() {
    // a fails on both models a second in (b's call is in flight by then); b hangs
    // until it is cancelled.
    let second = Duration::from_secs(1);
    let test = TestEngine::new(Scripted::per_task([
        (
            "a",
            vec![Step::ServerError(second), Step::ServerError(second)],
        ),
        ("b", vec![Step::Hang]),
    ]));
    let tasks = json!([{"id": "a", "instructions": "a"}, {"id": "b", "instructions": "b"}]);

    let id = test
        .run(
            json!({"workflow": {"tasks": tasks}, "options": {"fail_fast": true, "max_retries": 0}}),
        )
        .await;

    let run = test.record(id).await;
    let attempts: Vec<_> = test
        .attempts(id)
        .await
        .iter()
        .map(|a| {
            (
                a.task_id.clone(),
                a.model.clone(),
                a.status,
                a.error.clone(),
            )
        })
        .collect();
    assert_eq!(run.state.status, RunStatus::Failed, "{attempts:?}");
    assert_eq!(run.state.error.unwrap().code, ErrorCode::TaskFailed);
    let statuses: Vec<_> = test.tasks(id).await.iter().map(|t| t.status).collect();
    assert_eq!(statuses, [TaskStatus::Failed, TaskStatus::Cancelled]);
    assert_eq!(
        test.provider.dropped_in_flight.load(Ordering::SeqCst),
        1,
        "b's call was dropped"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_critical_task_skips_its_dependents_and_a_non_critical_one_makes_the_run_partial()
{
    let test = TestEngine::new(Scripted::per_task([(
        "optional",
        vec![Step::BadRequest, Step::BadRequest],
    )]));
    let tasks = json!([
        {"id": "optional", "instructions": "may fail", "critical": false},
        {"id": "after", "instructions": "needs {{optional}}", "depends_on": ["optional"], "critical": false},
        {"id": "main", "instructions": "works"}
    ]);

    let id = test
        .run(json!({"workflow": {"tasks": tasks}, "options": {"assemble": "concat"}}))
        .await;

    let run = test.record(id).await;
    let attempts: Vec<_> = test
        .attempts(id)
        .await
        .iter()
        .map(|a| {
            (
                a.task_id.clone(),
                a.model.clone(),
                a.status,
                a.error.clone(),
            )
        })
        .collect();
    assert_eq!(run.state.status, RunStatus::Partial, "{attempts:?}");
    let statuses: Vec<_> = test.tasks(id).await.iter().map(|t| t.status).collect();
    assert_eq!(
        statuses,
        [
            TaskStatus::Failed,
            TaskStatus::Skipped,
            TaskStatus::Succeeded
        ]
    );
    assert_eq!(
        run.state.output.as_deref(),
        Some("ok"),
        "the one succeeded output is the answer"
    );
}

#[tokio::test(start_paused = true)]
async fn parallel_tasks_do_not_wait_for_each_others_commits() {
    let test = TestEngine::new(Scripted::with([]));
    test.journal.hold_commits();
    let tasks = json!([
        {"id": "a", "instructions": "a"},
        {"id": "b", "instructions": "b"},
        {"id": "c", "instructions": "c"}
    ]);

    let id = test
        .submit(json!({"workflow": {"tasks": tasks}, "options": {"max_concurrency": 3, "assemble": "concat", "verify": false}}))
        .await;
    // Nothing is written yet: the run's own writes (running, plan) are not waited
    // for, and each task submits its start commit without waiting for another's.
    let held = tokio::time::timeout(Duration::from_secs(60), test.journal.until_held(5))
        .await
        .expect("the tasks submit their start commits while none is durable");
    assert_eq!(held.len(), 5, "running, plan, three starts: {held:?}");
    assert!(
        held[1].events.iter().any(|event| event.name() == "plan"),
        "the plan comes before the starts: {held:?}"
    );

    let mut starting: Vec<String> = held
        .iter()
        .flat_map(|commit| &commit.attempts)
        .filter_map(|attempt| attempt.task_id.as_ref().map(ToString::to_string))
        .collect();
    starting.sort();
    assert_eq!(starting, ["a", "b", "c"]);
    assert_eq!(test.calls(), 0, "no call before its attempt row is durable");
    test.journal.release_held();
    test.engine.wait(id).await;
    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
}

/// A one-task workflow run without an idempotency key, to submit by hand.
fn keyless_submission() -> Submission {
    let request = json!({
        "workflow": {"tasks": [{"id": "a", "instructions": "a"}]},
        "options": {"assemble": "concat", "verify": false}
    });
    Submission {
        request: serde_json::from_value(request).unwrap(),
        tenant: None,
        idempotency_key: None,
        stream_by_default: false,
        keep_committed: false,
    }
}

/// Submits a keyless run with every write held, and waits until the run has
/// submitted its first three commits behind its creation (its running state, its
/// plan, its task's attempt row); returns the submission and those commits.
async fn submitted_while_held(
    test: &TestEngine,
) -> (
    tokio::task::JoinHandle<Result<Started, EngineError>>,
    Vec<Commit>,
) {
    test.journal.hold_writes();
    let engine = test.engine.clone();
    let submitted = tokio::spawn(async move { engine.submit(keyless_submission()).await });
    let held = tokio::time::timeout(Duration::from_secs(60), test.journal.until_held(3))
        .await
        .expect("the run submits its first commits before it is stored");
    (submitted, held)
}

#[tokio::test(start_paused = true)]
async fn a_run_without_a_key_starts_before_it_is_stored_and_is_answered_once_it_is() {
    let test = TestEngine::new(Scripted::with([]));

    // The run goes on while its creation waits to share a transaction.
    let (submitted, held) = submitted_while_held(&test).await;
    assert!(
        held[2].attempts.iter().any(|attempt| attempt
            .task_id
            .as_ref()
            .is_some_and(|id| id.as_str() == "a")),
        "a's attempt row: {held:?}"
    );
    assert!(!submitted.is_finished(), "not answered before it is stored");
    assert_eq!(
        test.calls(),
        0,
        "no call before the run and its attempt row are durable"
    );

    test.journal.release_held();
    let id = submitted.await.unwrap().unwrap().run_id();
    test.engine.wait(id).await;
    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    assert_eq!(test.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_that_cannot_be_stored_is_refused_and_makes_no_call() {
    let test = TestEngine::new(Scripted::with([]));
    let (submitted, held) = submitted_while_held(&test).await;
    let id = held[0].run.as_ref().expect("the running state").id;

    // Its creation fails, and with it the commits behind it.
    test.journal.set_mode(Mode::Unavailable);
    test.journal.release_held();
    let refused = submitted.await.unwrap();
    test.journal.set_mode(Mode::Healthy);

    assert!(
        matches!(
            refused,
            Err(EngineError::Journal(JournalError::Unavailable(_)))
        ),
        "{refused:?}"
    );
    test.engine.wait(id).await;
    assert_eq!(test.calls(), 0, "no call for a run that is not stored");
    assert!(test.journal.get_run(id, None).await.unwrap().is_none());
    assert!(
        test.journal
            .events_after(id, 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(start_paused = true)]
async fn a_dependent_task_does_not_wait_for_its_parents_end_commit_but_its_call_does() {
    let test = TestEngine::new(Scripted::with([]));
    test.journal.hold_commits();
    let tasks = json!([
        {"id": "a", "instructions": "a"},
        {"id": "b", "instructions": "b", "depends_on": ["a"]}
    ]);
    let starts_task = |commit: &Commit, task: &str| {
        commit.attempts.iter().any(|attempt| {
            attempt
                .task_id
                .as_ref()
                .is_some_and(|id| id.as_str() == task)
        })
    };

    let id = test
        .submit(json!({"workflow": {"tasks": tasks}, "options": {"assemble": "concat", "verify": false}}))
        .await;
    // The run's own writes go through until a's start commit is held; then a's
    // call is made once that commit is durable.
    test.let_commits_through_until(|held| held.iter().any(|commit| starts_task(commit, "a")))
        .await;
    test.let_commits_through();
    test.until_called(1).await;
    let held = tokio::time::timeout(Duration::from_secs(60), test.journal.until_held(2))
        .await
        .expect("b's start commit is submitted while a's end commit is not yet durable");

    assert!(
        held[0]
            .tasks
            .iter()
            .any(|task| task.task_id.as_str() == "a" && task.status == TaskStatus::Succeeded),
        "a's success comes first: {held:?}"
    );
    assert!(starts_task(&held[1], "b"), "then b's attempt row: {held:?}");
    assert_eq!(test.calls(), 1, "b is not called before both are durable");
    test.journal.release_held();
    test.engine.wait(id).await;
    assert_eq!(test.record(id).await.state.status, RunStatus::Succeeded);
    assert_eq!(test.calls(), 2);
}
