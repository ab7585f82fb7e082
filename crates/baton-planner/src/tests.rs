use baton_core::graph::GraphLimits;
use baton_providers::provider::Provider;
use baton_providers::sim::{SimConfig, SimProvider};

use super::*;

fn check_parse(text: &str, expected: &str) {
    let actual = match parse_plan(text, &GraphLimits::default()) {
        Ok(graph) => format!(
            "ok {:?}",
            graph
                .tasks()
                .iter()
                .map(|t| t.id.as_str())
                .collect::<Vec<_>>()
        ),
        Err(err) => format!("err {err}"),
    };
    assert!(
        actual.starts_with(expected),
        "{actual}\n  does not start with\n{expected}"
    );
}

#[test]
fn plans_are_read_from_fences_prose_and_bare_arrays() {
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":"x"}]}"#,
        r#"ok ["a"]"#,
    );
    check_parse(
        "Sure! Here it is:\n```json\n{\"tasks\": [{\"id\": \"a\", \"instructions\": \"x\"}, {\"id\": \"b\", \"instructions\": \"y\", \"depends_on\": [\"a\"]}]}\n```\nDone.",
        r#"ok ["a", "b"]"#,
    );
    check_parse(r#"[{"id":"a","instructions":"x"}]"#, r#"ok ["a"]"#);
}

#[test]
fn invalid_plans_say_what_to_fix() {
    check_parse("I cannot plan this.", "err the answer holds no JSON object");
    check_parse(r#"{"tasks": []}"#, "err at /tasks:");
    check_parse(r#"{"tasks":[{"id":"a"}]}"#, "err at /tasks/0:");
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":"x","colour":"red"}]}"#,
        "err at /tasks/0:",
    );
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":"x","depends_on":["b"]},{"id":"b","instructions":"y","depends_on":["a"]}]}"#,
        "err the dependencies form a cycle",
    );
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":"x","depends_on":["nope"]}]}"#,
        "err task `a` depends on `nope`",
    );
}

#[test]
fn null_optional_fields_and_a_wrapped_plan_are_accepted() {
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":"x","title":null,"depends_on":null,"output_schema":null,"priority":null}]}"#,
        r#"ok ["a"]"#,
    );
    check_parse(
        r#"{"plan": {"tasks":[{"id":"a","instructions":"x"}]}}"#,
        r#"ok ["a"]"#,
    );
    // A null where a value is required is still a problem.
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":null}]}"#,
        "err at /tasks/0/instructions:",
    );
}

#[test]
fn an_output_schema_that_is_not_a_json_schema_is_a_problem_of_the_plan() {
    check_parse(
        r#"{"tasks":[{"id":"a","instructions":"x","output_schema":{"type":"colour"}}]}"#,
        "err task `a` has an output_schema that is not a valid JSON Schema",
    );
}

#[test]
fn problems_are_capped_and_never_quote_a_huge_value() {
    let bad_ids: Vec<Value> = (0..30)
        .map(|n| json!({"id": format!("bad id {n}"), "instructions": "x"}))
        .collect();
    let err = parse_plan(
        &json!({ "tasks": bad_ids }).to_string(),
        &GraphLimits::default(),
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 20);
    assert_eq!(err.problems[19], "and 11 more problems of the same kinds");

    let huge = vec!["word"; 2_000];
    let err = parse_plan(
        &json!({"tasks": [{"id": "a", "instructions": huge}]}).to_string(),
        &GraphLimits::default(),
    )
    .unwrap_err();
    assert_eq!(err.problems.len(), 1);
    assert!(
        err.problems[0].starts_with("at /tasks/0/instructions:"),
        "{err}"
    );
    assert!(err.problems[0].len() < 400, "{err}");
}

#[test]
fn a_valid_workflow_satisfies_the_published_schema() {
    let spec: TaskSpec = serde_json::from_value(json!({
        "id": "a", "title": "A", "instructions": "x", "depends_on": [], "priority": 2,
        "capability": "writing", "success_criteria": ["short"], "output_schema": {"type": "object"},
        "critical": false, "model": "sim/sim-fast", "max_retries": 1, "timeout_s": 3.5, "cost_limit_usd": 0.1
    }))
    .unwrap();
    let value = serde_json::to_value(Workflow { tasks: vec![spec] }).unwrap();
    let validator = jsonschema::validator_for(&plan_schema()).unwrap();
    assert!(validator.is_valid(&value), "{value}");
}

#[test]
fn a_repair_sends_the_answer_back_with_its_problems() {
    let config = PlannerConfig::default();
    let error = parse_plan("{}", &config.limits).unwrap_err();
    let repair = repair_request("do it", "{}", &error, &config);
    assert_eq!(repair.messages.len(), 3);
    assert!(
        repair.messages[2].content.contains("tasks"),
        "{}",
        repair.messages[2].content
    );
}

#[test]
fn the_fallback_is_one_task_with_the_request() {
    let graph = fallback_plan("Write a haiku");
    assert_eq!(graph.len(), 1);
    assert_eq!(graph.task(0).instructions, "Write a haiku");
}

#[test]
fn task_calls_fill_placeholders_and_carry_dependency_outputs() {
    let mut spec = TaskSpec::new(TaskId::parse("b").unwrap(), "Improve {{a}} please");
    spec.success_criteria = vec!["is short".into()];
    let a = TaskId::parse("a").unwrap();
    let call = task_request(&spec, Some("the request"), &[(&a, "DRAFT")], 100);
    let text = &call.messages[0].content;
    assert!(text.contains("Improve DRAFT please"), "{text}");
    assert!(text.contains("<output task=\"a\">\nDRAFT"), "{text}");
    assert!(text.contains("the request") && text.contains("is short"));
    assert_eq!(call.kind, CallKind::Task);
    assert!(call.json_schema.is_none());
}

#[tokio::test]
async fn the_sims_plans_parse_and_split_multi_part_prompts() {
    let sim = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let config = PlannerConfig::default();
    let mut call = plan_request(
        "Research the history of the bicycle. Then write a short blog post about it.",
        &config,
    );
    call.model = "sim-smart".into();
    let answer = sim.complete(&call, None).await.unwrap();
    let graph = parse_plan(&answer.text, &config.limits).unwrap();
    assert_eq!(graph.len(), 2);
    assert_eq!(graph.task(1).depends_on, vec![graph.task(0).id.clone()]);

    let mut call = plan_request("Write a haiku about rivers", &config);
    call.model = "sim-smart".into();
    let answer = sim.complete(&call, None).await.unwrap();
    assert_eq!(parse_plan(&answer.text, &config.limits).unwrap().len(), 1);
}

#[tokio::test]
async fn the_sim_answers_a_task_about_its_own_instructions() {
    let sim = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let spec = TaskSpec::new(TaskId::parse("b").unwrap(), "Describe {{a}} in one line");
    let a = TaskId::parse("a").unwrap();
    let mut call = task_request(
        &spec,
        Some("a long background request"),
        &[(&a, "the Nile")],
        100,
    );
    call.model = "sim-fast".into();
    let answer = sim.complete(&call, None).await.unwrap();
    assert!(
        answer.text.contains("Describe the Nile in one line"),
        "{}",
        answer.text
    );
    assert!(!answer.text.contains("background"), "{}", answer.text);
}

#[tokio::test]
async fn the_sim_answers_a_synthesis_about_the_request_and_ignores_criteria_in_tasks() {
    let sim = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let first = TaskSpec::new(TaskId::parse("a").unwrap(), "List three rivers");
    let mut call = synthesis_request(
        Some("Plan a picnic by a river"),
        &[(&first, "the Nile, the Rhine, the Thames")],
        200,
    );
    call.model = "sim-fast".into();
    let answer = sim.complete(&call, None).await.unwrap();
    assert!(answer.text.starts_with("[simulated]"), "{}", answer.text);
    assert!(
        answer.text.contains("Plan a picnic by a river"),
        "{}",
        answer.text
    );

    let mut judged = TaskSpec::new(TaskId::parse("b").unwrap(), "Name a lake");
    judged.success_criteria = vec!["names exactly one lake".into()];
    let mut call = task_request(&judged, None, &[], 100);
    call.model = "sim-fast".into();
    let answer = sim.complete(&call, None).await.unwrap();
    assert!(answer.text.contains("Name a lake"), "{}", answer.text);
    assert!(!answer.text.contains("exactly one"), "{}", answer.text);
}

#[test]
fn a_repair_of_an_empty_answer_never_sends_an_empty_assistant_turn() {
    let config = PlannerConfig::default();
    let error = parse_plan("", &config.limits).unwrap_err();
    let repair = repair_request("do it", "", &error, &config);
    assert_eq!(repair.messages[1].content, "(an empty answer)");
    assert!(
        repair.messages[2].content.contains("holds no JSON object"),
        "{}",
        repair.messages[2].content
    );
}
