//! Tests of the body, header and parameter parsers behind the extractors.

use axum::http::{HeaderMap, HeaderValue, header};
use baton_core::error::ErrorCode;
use baton_core::request::RunRequest;

use super::{
    ApiError, check_json_content_type, idempotency_key, last_event_id, parse_json, truncate,
};

fn parse(body: &str) -> Result<RunRequest, ApiError> {
    parse_json::<RunRequest>(body.as_bytes())
}

#[track_caller]
fn check(body: &str, code: ErrorCode, detail_parts: &[&str]) {
    let error = parse(body).unwrap_err();
    assert_eq!(error.code(), code, "{error}");
    let detail = error.public_detail();
    for part in detail_parts {
        assert!(detail.contains(part), "`{detail}` lacks `{part}`");
    }
}

#[test]
fn a_valid_body_parses() {
    let request = parse(r#"{"prompt": "hi", "options": {"max_concurrency": 2}}"#).unwrap();
    assert_eq!(request.prompt.as_deref(), Some("hi"));
    assert_eq!(request.options.max_concurrency, Some(2));
}

#[test]
fn malformed_json_says_where() {
    check(
        "{\"prompt\": ",
        ErrorCode::InvalidJson,
        &["not valid JSON", "line 1, column 11"],
    );
    check(
        "{\"prompt\": \"a\",\n \"options\": {]}",
        ErrorCode::InvalidJson,
        &["line 2"],
    );
    check(
        "{\"prompt\": \"a\"} trailing",
        ErrorCode::InvalidJson,
        &["trailing"],
    );
    check("   ", ErrorCode::InvalidJson, &["empty"]);
}

#[test]
fn a_wrong_type_names_the_field_path() {
    check(
        r#"{"prompt": 42}"#,
        ErrorCode::InvalidRequest,
        &["`prompt`", "expected a string"],
    );
    check(
        r#"{"prompt": "x", "options": {"max_concurrency": "five"}}"#,
        ErrorCode::InvalidRequest,
        &["`options.max_concurrency`", "u32"],
    );
    check(
        r#"{"workflow": {"tasks": [{"id": "a"}]}}"#,
        ErrorCode::InvalidRequest,
        &["workflow.tasks[0]", "missing field `instructions`"],
    );
    check(
        r#"{"prompt": "x", "options": {"strategy": "fastest"}}"#,
        ErrorCode::InvalidRequest,
        &["`options.strategy`", "parallel", "greedy", "sequential"],
    );
    check(
        "[1, 2]",
        ErrorCode::InvalidRequest,
        &["must be a JSON object"],
    );
    check(
        "\"hello\"",
        ErrorCode::InvalidRequest,
        &["must be a JSON object"],
    );
    check(
        r#"["a prompt"]"#,
        ErrorCode::InvalidRequest,
        &["must be a JSON object"],
    );
    check("[1, ", ErrorCode::InvalidJson, &["line 1"]);
}

#[test]
fn an_unknown_field_is_named_with_the_allowed_ones() {
    check(
        r#"{"prompt": "x", "colour": 1}"#,
        ErrorCode::UnknownField,
        &[
            "`colour`",
            "at the top level",
            "`prompt`",
            "`workflow`",
            "`options`",
            "`metadata`",
        ],
    );
    check(
        r#"{"prompt": "x", "options": {"max_concurency": 1}}"#,
        ErrorCode::UnknownField,
        &["`max_concurency`", "in `options`", "`max_concurrency`"],
    );
}

#[test]
fn only_json_content_types_are_accepted() {
    let with = |value: &'static str| {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        check_json_content_type(&headers)
    };
    assert!(with("application/json").is_ok());
    assert!(with("application/json; charset=utf-8").is_ok());
    assert!(with("Application/JSON").is_ok());
    assert!(with("application/merge-patch+json").is_ok());
    let error = with("text/plain").unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnsupportedMediaType);
    assert!(error.public_detail().contains("text/plain"));
    let error = check_json_content_type(&HeaderMap::new()).unwrap_err();
    assert_eq!(error.code(), ErrorCode::UnsupportedMediaType);
    assert!(
        error
            .public_detail()
            .contains("Content-Type: application/json")
    );
}

#[test]
fn idempotency_keys_are_short_visible_ascii() {
    let key = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("idempotency-key", HeaderValue::from_str(value).unwrap());
        idempotency_key(&headers)
    };
    assert_eq!(idempotency_key(&HeaderMap::new()).unwrap(), None);
    assert_eq!(key("key-1").unwrap().as_deref(), Some("key-1"));
    assert_eq!(key("").unwrap_err().code(), ErrorCode::InvalidParameter);
    assert_eq!(
        key(&"k".repeat(256)).unwrap_err().code(),
        ErrorCode::InvalidParameter
    );
    assert_eq!(key(&"k".repeat(255)).unwrap().map(|k| k.len()), Some(255));
}

#[test]
fn last_event_id_is_an_integer_or_empty() {
    let id = |value: &str| {
        let mut headers = HeaderMap::new();
        headers.insert("last-event-id", HeaderValue::from_str(value).unwrap());
        last_event_id(&headers)
    };
    assert_eq!(last_event_id(&HeaderMap::new()).unwrap(), None);
    assert_eq!(id("").unwrap(), None);
    assert_eq!(id("17").unwrap(), Some(17));
    let error = id("seven").unwrap_err();
    assert_eq!(error.code(), ErrorCode::InvalidParameter);
    assert!(error.public_detail().contains("`seven`"));
    assert_eq!(id("-1").unwrap_err().code(), ErrorCode::InvalidParameter);
}

#[test]
fn echoed_text_is_truncated() {
    assert_eq!(truncate("abc", 5), "abc");
    assert_eq!(truncate("abcdef", 3), "abc…");
}
