//! What planning leaves in the journal: a run stopped while it plans gets no plan (and
//! no fallback standing in for one), and every rejected plan's problems are kept with
//! the attempt that produced them.

use std::time::Duration;

use baton_core::error::ErrorCode;
use baton_core::event::{EventPayload, PlanPhase};
use baton_core::ids::RunId;
use baton_core::journal::AttemptRecord;
use baton_core::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};
use serde_json::json;

use crate::support::{Scripted, Step, TestEngine, names, of};

/// The plan calls of a run, in call order.
async fn plan_attempts(test: &TestEngine, id: RunId) -> Vec<AttemptRecord> {
    let mut attempts: Vec<_> = test
        .attempts(id)
        .await
        .into_iter()
        .filter(|a| a.kind == CallKind::Plan)
        .collect();
    attempts.sort_by_key(|a| a.number);
    attempts
}

/// Asserts that a run has no plan in the journal: only `plan` started was published,
/// and no task rows or stored plan exist.
async fn assert_no_plan_journaled(test: &TestEngine, id: RunId) {
    let events = test.events(id).await;
    let plans = of(&events, "plan");
    assert!(
        matches!(
            plans.as_slice(),
            [EventPayload::Plan {
                phase: PlanPhase::Started,
                tasks: None,
                ..
            }]
        ),
        "only the start of planning was published: {plans:?}"
    );
    assert!(test.tasks(id).await.is_empty(), "no task rows");
    assert_eq!(test.record(id).await.state.plan, None, "no stored plan");
}

#[tokio::test(start_paused = true)]
async fn a_run_cancelled_while_planning_ends_cancelled_without_a_fallback_plan() {
    // Arrange: the planner never answers.
    let test = TestEngine::new(Scripted::with([Step::Hang]));
    let id = test
        .submit(json!({"prompt": "Name three rivers. Then describe the longest one."}))
        .await;
    test.until_called(1).await;

    // Act
    test.engine.cancel(id, None).await.unwrap();
    test.engine.wait(id).await;

    // Assert
    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Cancelled);
    assert_eq!(
        run.state.error.as_ref().map(|e| e.code),
        Some(ErrorCode::Cancelled)
    );
    assert_eq!(run.state.output, None);
    assert_eq!(
        names(&test.events(id).await),
        ["run_created", "plan", "final", "stats"]
    );
    assert_no_plan_journaled(&test, id).await;
    let plan_calls: Vec<_> = plan_attempts(&test, id)
        .await
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(
        plan_calls,
        [AttemptStatus::Cancelled],
        "the planner's call was stopped and stays journaled"
    );
    assert_eq!(test.calls(), 1, "no task of a fallback plan was called");
}

#[tokio::test(start_paused = true)]
async fn a_run_that_times_out_while_planning_fails_without_a_fallback_plan() {
    let test = TestEngine::new(Scripted::with([Step::Hang]));

    let id = test
        .run(json!({"prompt": "Write a haiku.", "options": {"timeout_s": 5}}))
        .await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Failed);
    assert_eq!(
        run.state.error.as_ref().map(|e| e.code),
        Some(ErrorCode::RunTimeout)
    );
    assert_no_plan_journaled(&test, id).await;
    assert_eq!(test.calls(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_run_shut_down_while_planning_is_planned_afresh_when_resumed() {
    // Arrange: the first process's planner never answers, and the process stops.
    let before = TestEngine::new(Scripted::with([Step::Hang]));
    let id = before
        .submit(json!({"prompt": "Find facts, then use them."}))
        .await;
    before.until_called(1).await;
    before.engine.shutdown().await;
    assert!(
        !before.record(id).await.state.status.is_terminal(),
        "a shutdown leaves the run unfinished"
    );
    assert_no_plan_journaled(&before, id).await;

    // Act: the next process resumes it, and its planner answers.
    let plan = r#"{"tasks": [{"id": "a", "instructions": "find facts"}, {"id": "b", "instructions": "use {{a}}", "depends_on": ["a"]}]}"#;
    let after = before
        .resumed(Scripted::with([Step::Answer(plan, Duration::ZERO)]), id)
        .await;

    // Assert: the run ran the planner's graph, not a one-task fallback.
    after.succeeded(id).await;
    let task_ids: Vec<_> = after
        .tasks(id)
        .await
        .iter()
        .map(|t| t.task_id.to_string())
        .collect();
    assert_eq!(task_ids, ["a", "b"]);
    let completed: Vec<_> = of(&after.events(id).await, "plan")
        .into_iter()
        .filter_map(|e| match e {
            EventPayload::Plan {
                phase: PlanPhase::Completed,
                fallback,
                source,
                ..
            } => Some((*fallback, source.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(completed, [(false, Some("planner".to_owned()))]);
}

#[tokio::test(start_paused = true)]
async fn each_rejected_plan_keeps_its_problems_in_its_attempt() {
    // Arrange: three answers the validator rejects, each for another reason.
    let zero = Duration::ZERO;
    let test = TestEngine::new(Scripted::with([
        Step::Answer("I would rather not.", zero),
        Step::Answer(
            r#"{"tasks": [{"id": "a", "instructions": "x", "depends_on": ["ghost"]}]}"#,
            zero,
        ),
        Step::Answer(
            r#"{"tasks": [{"id": "a", "instructions": "x"}, {"id": "a", "instructions": "y"}]}"#,
            zero,
        ),
    ]));

    // Act
    let id = test.run(json!({"prompt": "Write a haiku."})).await;

    // Assert: each plan call's attempt says why its plan was refused; the call itself
    // returned output, so it is not a failed call.
    let attempts = plan_attempts(&test, id).await;
    let errors: Vec<_> = attempts
        .iter()
        .map(|a| a.error.clone().unwrap_or_default())
        .collect();
    assert_eq!(attempts.len(), 3, "{attempts:#?}");
    for (attempt, expected) in attempts.iter().zip(["no JSON object", "ghost", "`a`"]) {
        let error = attempt.error.as_deref().unwrap_or_default();
        assert!(
            error.starts_with("the plan was rejected: ") && error.contains(expected),
            "attempt {}: {error:?} should name {expected:?}; all: {errors:?}",
            attempt.number
        );
        assert_eq!(attempt.status, AttemptStatus::Succeeded);
    }
    let completed = of(&test.events(id).await, "plan")
        .into_iter()
        .any(|e| matches!(e, EventPayload::Plan { fallback: true, .. }));
    assert!(completed, "after the repairs, the fallback plan was used");
}

#[tokio::test(start_paused = true)]
async fn an_accepted_plan_after_a_repair_leaves_only_the_rejected_attempt_with_an_error() {
    let zero = Duration::ZERO;
    let test = TestEngine::new(Scripted::with([
        Step::Answer(r#"{"tasks": []}"#, zero),
        Step::Answer(r#"{"tasks": [{"id": "a", "instructions": "x"}]}"#, zero),
    ]));

    let id = test.run(json!({"prompt": "Write a haiku."})).await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Succeeded);
    let errors: Vec<_> = plan_attempts(&test, id)
        .await
        .into_iter()
        .map(|a| a.error.is_some())
        .collect();
    assert_eq!(errors, [true, false], "only the rejected plan has an error");
}

/// A plan stores no row per task: a task's row is first written by its start commit,
/// and until then the journal lists it as pending, from the stored plan.
#[tokio::test(start_paused = true)]
async fn a_tasks_row_is_first_written_when_it_starts() {
    let test = TestEngine::new(Scripted::with([]));
    test.journal.hold_commits();
    let tasks = json!([
        {"id": "a", "instructions": "a"},
        {"id": "b", "instructions": "b", "depends_on": ["a"]},
        {"id": "c", "instructions": "c", "depends_on": ["b"]}
    ]);
    let id = test
        .submit(json!({"workflow": {"tasks": tasks}, "options": {"assemble": "concat", "verify": false}}))
        .await;

    // The run's state, its plan, then the first task's start.
    let held = tokio::time::timeout(Duration::from_secs(60), test.journal.until_held(3))
        .await
        .expect("the run submits its plan and its first task's start");
    let plan = held
        .iter()
        .position(|commit| commit.events.iter().any(|event| event.name() == "plan"))
        .expect("a plan commit");
    assert!(
        held[..=plan].iter().all(|commit| commit.tasks.is_empty()),
        "no task row with the plan: {held:?}"
    );
    let first_rows: Vec<&str> = held[plan + 1..]
        .iter()
        .flat_map(|commit| &commit.tasks)
        .map(|task| task.task_id.as_str())
        .collect();
    assert_eq!(first_rows, ["a"], "only the starting task's row: {held:?}");

    test.journal.release_held();
    test.engine.wait(id).await;
    let listed = test.task_statuses(id).await;
    assert_eq!(
        listed,
        [
            ("a".to_owned(), TaskStatus::Succeeded),
            ("b".to_owned(), TaskStatus::Succeeded),
            ("c".to_owned(), TaskStatus::Succeeded)
        ]
    );
}
