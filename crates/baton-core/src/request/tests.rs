use super::*;

fn validate(json: &str) -> Result<ValidRunRequest, RequestError> {
    let request: RunRequest = serde_json::from_str(json).unwrap();
    request.validate(&RunOptions::default(), &RequestLimits::default())
}

fn check_error(json: &str, code: ErrorCode, message_part: &str) {
    let err = validate(json).unwrap_err();
    assert_eq!(err.code(), code, "{err}");
    assert!(
        err.to_string().contains(message_part),
        "`{err}` lacks `{message_part}`"
    );
}

#[test]
fn a_prompt_alone_takes_the_server_defaults() {
    let valid = validate(r#"{"prompt":"  write a haiku  "}"#).unwrap();
    assert_eq!(valid.prompt.as_deref(), Some("write a haiku"));
    assert_eq!(valid.options, RunOptions::default());
    assert!(valid.workflow.is_none());
}

#[test]
fn bad_requests_say_what_to_fix() {
    check_error(
        r#"{"prompt":"   "}"#,
        ErrorCode::PromptEmpty,
        "prompt is empty",
    );
    check_error(
        r#"{}"#,
        ErrorCode::PromptEmpty,
        "neither a prompt nor a workflow",
    );
    check_error(
        r#"{"prompt":"x","options":{"max_concurrency":0}}"#,
        ErrorCode::InvalidOption,
        "options.max_concurrency: must be at least 1",
    );
    check_error(
        r#"{"prompt":"x","options":{"min_confidence":1.5}}"#,
        ErrorCode::InvalidOption,
        "between 0 and 1",
    );
    check_error(
        r#"{"prompt":"x","options":{"timeout_s":-1}}"#,
        ErrorCode::InvalidOption,
        "options.timeout_s",
    );
    check_error(
        r#"{"workflow":{"tasks":[{"id":"a","instructions":"x","depends_on":["b"]},{"id":"b","instructions":"y","depends_on":["a"]}]}}"#,
        ErrorCode::InvalidWorkflow,
        "cycle",
    );
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    for json in [
        r#"{"prompt":"x","colour":"red"}"#,
        r#"{"prompt":"x","options":{"colour":"red"}}"#,
        r#"{"workflow":{"tasks":[],"colour":1}}"#,
    ] {
        let err = serde_json::from_str::<RunRequest>(json).unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{err}");
    }
}
