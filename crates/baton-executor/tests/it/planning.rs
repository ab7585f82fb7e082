//! Planning: a valid plan runs with dependency outputs; an invalid one is repaired,
//! then replaced by a one-task plan.

use std::time::Duration;

use baton_core::event::EventPayload;
use baton_core::status::{CallKind, RunStatus};
use serde_json::json;

use crate::support::{Scripted, Step, TestEngine, names, of};

#[tokio::test(start_paused = true)]
async fn a_valid_plan_runs_with_dependency_outputs_and_a_synthesis() {
    let plan = r#"Here you go: ```json
{"tasks": [{"id": "a", "instructions": "find facts"}, {"id": "b", "instructions": "use {{a}}", "depends_on": ["a"]}]}
```"#;
    let zero = Duration::ZERO;
    let test = TestEngine::new(Scripted::with([
        Step::Answer(plan, zero),
        Step::Answer("ALPHA FACTS", zero),
        Step::Answer("BETA", zero),
        Step::Answer("FINAL ANSWER", zero),
    ]));

    let id = test
        .run(json!({"prompt": "Find facts, then use them."}))
        .await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Succeeded);
    assert_eq!(run.state.output.as_deref(), Some("FINAL ANSWER"));
    let prompts = test.provider.order.lock().unwrap().clone();
    assert!(
        prompts[2].contains("use ALPHA FACTS"),
        "b's placeholder was filled: {}",
        prompts[2]
    );
    assert!(
        prompts[3].contains("ALPHA FACTS") && prompts[3].contains("BETA"),
        "the synthesis saw both outputs"
    );
    let events = test.events(id).await;
    let event_names = names(&events);
    assert_eq!(&event_names[..3], ["run_created", "plan", "plan"]);
    assert_eq!(
        &event_names[event_names.len() - 3..],
        ["assemble_start", "final", "stats"]
    );
}

#[tokio::test(start_paused = true)]
async fn an_invalid_plan_is_repaired_then_replaced_by_one_task() {
    let zero = Duration::ZERO;
    let test = TestEngine::new(Scripted::with([
        Step::Answer("I would rather not.", zero),
        Step::Answer(r#"{"tasks": []}"#, zero),
        Step::Answer(
            r#"{"tasks": [{"id": "a", "instructions": "x", "depends_on": ["a"]}]}"#,
            zero,
        ),
    ]));

    let id = test.run(json!({"prompt": "Write a haiku."})).await;

    let run = test.record(id).await;
    assert_eq!(run.state.status, RunStatus::Succeeded);
    let attempts = test.attempts(id).await;
    let plan_calls = attempts.iter().filter(|a| a.kind == CallKind::Plan).count();
    assert_eq!(plan_calls, 3, "one plan and plan_repair_limit (2) repairs");
    let prompts = test.provider.order.lock().unwrap().clone();
    assert!(
        prompts[1].contains("cannot be used"),
        "the repair carries the problems: {}",
        prompts[1]
    );
    let events = test.events(id).await;
    let completed = of(&events, "plan").into_iter().find_map(|e| match e {
        EventPayload::Plan {
            tasks: Some(tasks),
            fallback,
            source,
            ..
        } => Some((tasks.len(), *fallback, source.clone())),
        _ => None,
    });
    assert_eq!(completed, Some((1, true, Some("fallback".to_owned()))));
    let tasks = test.tasks(id).await;
    assert_eq!(tasks[0].spec.instructions, "Write a haiku.");
}
