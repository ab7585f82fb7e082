use baton_core::ids::TaskId;

use super::*;

fn spec(schema: Option<Value>) -> TaskSpec {
    let mut spec = TaskSpec::new(TaskId::parse("t").unwrap(), "Give a person");
    spec.output_schema = schema;
    spec.success_criteria = vec!["names a person".into()];
    spec
}

fn failed_names(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| !c.passed)
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn empty_and_overlong_outputs_fail() {
    let config = VerifyConfig {
        max_output_chars: 10,
        ..VerifyConfig::default()
    };
    assert_eq!(
        failed_names(&check_output(&spec(None), "  ", &config)),
        vec!["non_empty", "length"]
    );
    assert_eq!(
        failed_names(&check_output(
            &spec(None),
            "far too long an answer",
            &config
        )),
        vec!["length"]
    );
    assert!(failed_names(&check_output(&spec(None), "fine", &config)).is_empty());
}

#[test]
fn outputs_are_checked_against_their_schema() {
    let schema =
        json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
    let config = VerifyConfig::default();
    let ok = check_output(
        &spec(Some(schema.clone())),
        "```json\n{\"name\": \"Ada\"}\n```",
        &config,
    );
    assert!(failed_names(&ok).is_empty(), "{ok:?}");
    let wrong = check_output(&spec(Some(schema.clone())), r#"{"name": 3}"#, &config);
    let detail = wrong
        .iter()
        .find(|c| c.name == "output_schema")
        .unwrap()
        .detail
        .clone()
        .unwrap();
    assert!(detail.contains("/name"), "{detail}");
    let prose = check_output(&spec(Some(schema)), "Ada Lovelace", &config);
    assert_eq!(failed_names(&prose), vec!["output_schema"]);
}

#[test]
fn judgements_are_read_tolerantly_and_strictly_shaped() {
    let judgement =
        parse_judgement("Verdict: {\"passed\": true, \"score\": 1.4, \"reason\": \"ok\"}").unwrap();
    assert_eq!(
        judgement,
        Judgement {
            passed: true,
            score: 1.0,
            reason: "ok".into()
        }
    );
    assert_eq!(
        parse_judgement("looks good to me"),
        Err(VerifyError::NoVerdict)
    );
    assert!(matches!(
        parse_judgement(r#"{"passed": "yes"}"#),
        Err(VerifyError::Malformed(_))
    ));
}

#[test]
fn the_verdict_combines_checks_and_judge() {
    let config = VerifyConfig::default();
    let checks = check_output(&spec(None), "fine", &config);
    let low = Judgement {
        passed: true,
        score: 0.2,
        reason: "thin".into(),
    };
    let verdict_low = verdict(checks.clone(), Some(&low), &config);
    assert!(!verdict_low.passed);
    assert_eq!(verdict_low.score, 0.2);
    let alone = verdict(checks, None, &config);
    assert!(alone.passed);
    assert_eq!(alone.score, 1.0);
}

#[test]
fn a_repair_carries_the_rejected_output_and_the_reasons() {
    let call = judge_request(&spec(None), "x");
    let failed = vec![Check {
        name: "length".into(),
        passed: false,
        detail: Some("too short".into()),
    }];
    let repair = repair_request(&call, "x", &failed);
    assert_eq!(repair.messages.len(), 3);
    assert!(repair.messages[2].content.contains("length: too short"));
}

fn schema_detail(schema: Value, output: &str) -> Option<String> {
    let checks = check_output(&spec(Some(schema)), output, &VerifyConfig::default());
    let check = checks.iter().find(|c| c.name == "output_schema").unwrap();
    assert_eq!(check.passed, check.detail.is_none(), "{check:?}");
    check.detail.clone()
}

#[test]
fn json_wrapped_in_prose_fails_with_a_hint_and_fenced_scalars_pass() {
    let person =
        json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
    let detail = schema_detail(person, "Here it is: {\"name\": \"Ada\"} Hope that helps!").unwrap();
    assert!(detail.starts_with("the output is not JSON"), "{detail}");
    assert!(detail.contains("answer with the JSON alone"), "{detail}");

    assert_eq!(
        schema_detail(json!({"type": "string"}), "```json\n\"Ada\"\n```"),
        None
    );
    assert_eq!(schema_detail(json!({"type": "integer"}), " 42 "), None);
}

#[test]
fn schema_problems_are_located_capped_and_never_quote_a_huge_output() {
    let numbers = json!({"type": "array", "items": {"type": "integer"}});
    let words = serde_json::to_string(&vec!["word"; 50]).unwrap();
    let detail = schema_detail(numbers, &words).unwrap();
    assert!(detail.contains("at /0: "), "{detail}");
    assert!(detail.ends_with("; and 40 more"), "{detail}");

    let object = json!({"type": "object"});
    let big = serde_json::to_string(&vec!["word"; 5_000]).unwrap();
    let detail = schema_detail(object, &big).unwrap();
    assert!(detail.len() < 500, "{detail}");
}

#[test]
fn an_invalid_output_schema_fails_the_check_with_the_reason() {
    let detail = schema_detail(json!({"type": "colour"}), "{}").unwrap();
    assert!(
        detail.starts_with("the task's output_schema is not a valid JSON Schema"),
        "{detail}"
    );
}

#[test]
fn a_repair_of_an_empty_output_never_sends_an_empty_assistant_turn() {
    let call = judge_request(&spec(None), "x");
    let failed = check_output(&spec(None), "", &VerifyConfig::default());
    let repair = repair_request(&call, " \n", &failed);
    assert_eq!(repair.messages[1].content, "(an empty answer)");
    assert!(
        repair.messages[2]
            .content
            .contains("non_empty: the output is empty")
    );
}

#[test]
fn a_passing_judgement_below_the_threshold_says_why_it_failed() {
    let config = VerifyConfig {
        judge_threshold: 0.7,
        ..VerifyConfig::default()
    };
    let lukewarm = Judgement {
        passed: true,
        score: 0.5,
        reason: "covers the basics".into(),
    };
    let verdict = verdict(Vec::new(), Some(&lukewarm), &config);
    let judge = &verdict.checks[0];
    assert!(!judge.passed);
    assert_eq!(
        judge.detail.as_deref(),
        Some("the judge scored it 0.50, below the threshold of 0.70: covers the basics")
    );
}

#[tokio::test]
async fn the_sims_judgement_parses_and_passes() {
    use baton_providers::provider::Provider;
    use baton_providers::sim::{SimConfig, SimProvider};

    let sim = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let mut call = judge_request(&spec(None), "Ada Lovelace");
    call.model = "sim-smart".into();
    let answer = sim.complete(&call, None).await.unwrap();

    let judgement = parse_judgement(&answer.text).unwrap();
    assert!(judgement.passed, "{judgement:?}");
    assert!(judgement.reason.starts_with("[simulated]"), "{judgement:?}");
    assert!(verdict(Vec::new(), Some(&judgement), &VerifyConfig::default()).passed);
}
