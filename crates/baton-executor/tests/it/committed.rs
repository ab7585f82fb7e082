//! Runs kept as their commits leave them, for whoever waits for them (`POST /run`
//! answers with that instead of reading the run back).

use std::time::Duration;

use baton_core::event::EventPayload;
use baton_core::journal::{Journal, stored_time};
use baton_core::status::{AttemptStatus, RunStatus, TaskStatus};
use baton_testkit::Mode;
use serde_json::{Value, json};

use crate::support::{Scripted, Step, TestEngine, of};

fn chain() -> Value {
    json!({
        "workflow": {"tasks": [
            {"id": "a", "instructions": "a"},
            {"id": "b", "instructions": "b after {{a}}", "depends_on": ["a"]}
        ]},
        "options": {"verify": false, "assemble": "concat"},
    })
}

/// A kept run comes back from `wait` as the journal holds it: the run's last state,
/// each task's last row, each attempt's last row, in the journal's order. It is
/// handed to the first waiter, not copied: a second one reads the journal.
#[tokio::test(start_paused = true)]
async fn a_kept_run_comes_back_from_wait_as_the_journal_holds_it() {
    // Arrange
    let test = TestEngine::new(Scripted::with([
        Step::Answer("a done", Duration::from_millis(5)),
        Step::Answer("b done", Duration::from_millis(5)),
    ]));

    // Act
    let id = test.submit_kept(chain()).await;
    let waits = tokio::join!(test.engine.wait(id), test.engine.wait(id));
    let kept = match waits {
        (Some(kept), None) | (None, Some(kept)) => kept,
        other => panic!("one waiter gets the kept run: {other:?}"),
    };

    // Assert
    let stored = test
        .journal
        .get_run_with_rows(id, None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.run.state.status, RunStatus::Succeeded);
    assert_eq!(kept.run.state.output, stored.run.state.output);
    assert_eq!(kept.run.state.usage, stored.run.state.usage);
    assert_eq!(kept.run.state.plan, stored.run.state.plan);
    // The memory journal keeps nanoseconds; the databases, and the kept run, do not.
    assert_eq!(
        kept.run.state.updated_at,
        stored_time(stored.run.state.updated_at)
    );
    let tasks =
        |tasks: &[baton_core::journal::TaskRecord]| -> Vec<(String, TaskStatus, Option<String>)> {
            tasks
                .iter()
                .map(|t| (t.task_id.to_string(), t.status, t.output.clone()))
                .collect()
        };
    assert_eq!(tasks(&kept.tasks), tasks(&stored.tasks));
    assert_eq!(
        tasks(&kept.tasks),
        [
            (
                "a".to_owned(),
                TaskStatus::Succeeded,
                Some("a done".to_owned())
            ),
            (
                "b".to_owned(),
                TaskStatus::Succeeded,
                Some("b done".to_owned())
            )
        ]
    );
    let attempts = |attempts: &[baton_core::journal::AttemptRecord]| -> Vec<_> {
        attempts.iter().map(|a| (a.id, a.status)).collect()
    };
    assert_eq!(attempts(&kept.attempts), attempts(&stored.attempts));
    assert!(
        kept.attempts
            .iter()
            .all(|a| a.status == AttemptStatus::Succeeded)
    );
}

/// `wait` gives nothing back for a run that was not kept, nor for one whose commit
/// failed (what it kept is then not what is stored): the journal has the answer.
#[tokio::test(start_paused = true)]
async fn wait_gives_nothing_for_a_run_not_kept_or_whose_commit_failed() {
    let test = TestEngine::new(Scripted::with([
        Step::Answer("a done", Duration::from_millis(5)),
        Step::Answer("b done", Duration::from_millis(5)),
        Step::Answer("a again", Duration::from_millis(5)),
    ]));
    let not_kept = test.submit(chain()).await;
    assert!(test.engine.wait(not_kept).await.is_none());

    // The journal goes down while the kept run's call is in flight.
    let id = test.submit_kept(chain()).await;
    test.until_called(3).await;
    test.journal.set_mode(Mode::Unavailable);
    let kept = test.engine.wait(id).await;
    test.journal.set_mode(Mode::Healthy);

    assert!(kept.is_none(), "{kept:?}");
}

/// A run's request is stored as accepted (the client's prompt, workflow and
/// metadata, every option resolved), and its `run_created` event carries the same.
#[tokio::test(start_paused = true)]
async fn the_stored_request_and_its_run_created_event_hold_the_request_as_accepted() {
    // Arrange
    let test = TestEngine::new(Scripted::with([
        Step::Answer("a done", Duration::from_millis(5)),
        Step::Answer("b done", Duration::from_millis(5)),
    ]));
    let mut request = chain();
    request["metadata"] = json!({"ticket": "T-1"});

    // Act
    let id = test.run(request).await;

    // Assert
    let stored = test.record(id).await.request.to_value();
    assert_eq!(stored["prompt"], Value::Null);
    assert_eq!(stored["metadata"], json!({"ticket": "T-1"}));
    assert_eq!(stored["options"]["verify"], false);
    assert_eq!(stored["options"]["assemble"], "concat");
    assert!(
        stored["options"]["max_retries"].is_u64(),
        "options are resolved: {stored}"
    );
    let tasks = stored["workflow"]["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[1]["id"], "b");
    assert_eq!(tasks[1]["depends_on"], json!(["a"]));
    let events = test.events(id).await;
    let Some(EventPayload::RunCreated { request: sent }) = of(&events, "run_created").first()
    else {
        panic!("a run_created event: {events:?}");
    };
    assert_eq!(sent.to_value(), stored);
}
