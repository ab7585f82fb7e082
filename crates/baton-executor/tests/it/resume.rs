//! Runs picked up by a new engine over the journal an earlier one left.

use std::time::Duration;

use baton_core::status::{AttemptStatus, CallKind, RunStatus, TaskStatus};
use baton_testkit::Mode;
use serde_json::json;

use crate::support::{Scripted, Step, TestEngine, names, task_attempts};

/// A task whose call returned, but whose judge was still thinking when the process
/// stopped, is verified again on resume, not paid for twice (DESIGN §4: a task whose
/// result is committed is never called again).
#[tokio::test(start_paused = true)]
async fn an_output_committed_before_a_shutdown_is_verified_again_not_called_again() {
    // Arrange: the task's call answers; the judge's call never does.
    let before = TestEngine::new(Scripted::with([
        Step::Answer("a river is moving water", Duration::from_millis(10)),
        Step::Hang,
    ]));
    let id = before
        .submit(json!({
            "workflow": {"tasks": [{
                "id": "a",
                "instructions": "Describe a river.",
                "success_criteria": ["names water"],
            }]},
            "options": {"verify": true, "assemble": "concat"},
        }))
        .await;
    before.until_called(2).await;
    before.engine.shutdown().await;
    let stopped = before.tasks(id).await;
    assert_eq!(
        stopped[0].output.as_deref(),
        Some("a river is moving water")
    );
    assert_ne!(before.record(id).await.state.status, RunStatus::Succeeded);

    // Act: a new engine over the same journal resumes the run.
    let after = before.resumed(Scripted::with([]), id).await;

    // Assert: one task call in all; the judge was asked again; the output stands.
    let run = after.succeeded(id).await;
    assert_eq!(run.state.output.as_deref(), Some("a river is moving water"));
    let attempts = after.attempts(id).await;
    let task_calls = task_attempts(&attempts);
    assert_eq!(task_calls.len(), 1, "{attempts:#?}");
    assert_eq!(task_calls[0].status, AttemptStatus::Succeeded);
    let judge_calls: Vec<_> = attempts
        .iter()
        .filter(|a| a.kind == CallKind::Judge)
        .map(|a| a.status)
        .collect();
    assert_eq!(
        judge_calls,
        [AttemptStatus::Cancelled, AttemptStatus::Succeeded],
        "the judge's cancelled call stays journaled"
    );
    assert_eq!(
        after.calls(),
        1,
        "only the judge was called after the restart"
    );
    let tasks = after.tasks(id).await;
    assert_eq!(tasks[0].status, TaskStatus::Succeeded);
    let events = after.events(id).await;
    let names = names(&events);
    assert_eq!(
        names.iter().filter(|n| **n == "task_artifact").count(),
        1,
        "{names:?}"
    );
    assert_eq!(names.last(), Some(&"stats"));
}

/// A task that a shutdown stopped before its call returned runs again on resume.
#[tokio::test(start_paused = true)]
async fn a_task_stopped_by_a_shutdown_runs_again_on_resume() {
    let before = TestEngine::new(Scripted::with([Step::Hang]));
    let id = before
        .submit(json!({
            "workflow": {"tasks": [{"id": "a", "instructions": "Describe a river."}]},
            "options": {"verify": false, "assemble": "concat"},
        }))
        .await;
    before.until_called(1).await;
    before.engine.shutdown().await;

    let after = before.resumed(Scripted::with([]), id).await;

    let run = after.succeeded(id).await;
    assert_eq!(run.state.output.as_deref(), Some("ok"));
    let statuses: Vec<_> = task_attempts(&after.attempts(id).await)
        .iter()
        .map(|a| a.status)
        .collect();
    assert_eq!(
        statuses,
        [AttemptStatus::Cancelled, AttemptStatus::Succeeded]
    );
}

/// A run whose process stopped without writing anything more (the journal went down
/// mid-run, as in a crash) resumes from what is stored: its later task, which never
/// started and so has no row, comes back from the plan, and the task that succeeded
/// is not called again.
#[tokio::test(start_paused = true)]
async fn a_run_stopped_before_its_later_tasks_started_resumes_them_from_the_plan() {
    // Arrange: `a` answers, `b`'s call never returns, `c` waits for `b`.
    let before = TestEngine::new(Scripted::with([
        Step::Answer("a done", Duration::from_millis(1)),
        Step::Hang,
    ]));
    let id = before
        .submit(json!({
            "workflow": {"tasks": [
                {"id": "a", "instructions": "a"},
                {"id": "b", "instructions": "b", "depends_on": ["a"]},
                {"id": "c", "instructions": "c", "depends_on": ["b"]}
            ]},
            "options": {"verify": false, "assemble": "concat"},
        }))
        .await;
    before.until_called(2).await;
    // The journal goes down, so stopping writes nothing more (no `cancelled` rows).
    before.journal.set_mode(Mode::Unavailable);
    before.engine.shutdown().await;
    before.journal.set_mode(Mode::Healthy);
    let stopped = before.task_statuses(id).await;
    assert_eq!(
        stopped,
        [
            ("a".to_owned(), TaskStatus::Succeeded),
            ("b".to_owned(), TaskStatus::Running),
            ("c".to_owned(), TaskStatus::Pending)
        ],
        "`c` is listed from the plan"
    );

    // Act
    let after = before
        .resumed(
            Scripted::with([
                Step::Answer("b done", Duration::from_millis(1)),
                Step::Answer("c done", Duration::from_millis(1)),
            ]),
            id,
        )
        .await;

    // Assert: `b` and `c` were called; `a` was not called again.
    after.succeeded(id).await;
    assert_eq!(after.calls(), 2, "only `b` and `c` after the restart");
    let outputs: Vec<Option<String>> = after
        .tasks(id)
        .await
        .into_iter()
        .map(|task| task.output)
        .collect();
    assert_eq!(
        outputs,
        [
            Some("a done".to_owned()),
            Some("b done".to_owned()),
            Some("c done".to_owned())
        ]
    );
}
