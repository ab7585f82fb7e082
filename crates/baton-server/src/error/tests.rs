//! Tests of the problem-code table and the problem document.

use axum::http::StatusCode;
use axum::response::IntoResponse;
use baton_core::error::ErrorCode;

use super::{ApiError, PROBLEM_CONTENT_TYPE, status_and_title};

/// The codes a client causes: each must be a 4xx, so no client mistake is a 5xx.
const REQUEST_CODES: &[ErrorCode] = &[
    ErrorCode::InvalidJson,
    ErrorCode::InvalidRequest,
    ErrorCode::UnknownField,
    ErrorCode::UnsupportedMediaType,
    ErrorCode::BodyTooLarge,
    ErrorCode::PromptEmpty,
    ErrorCode::PromptTooLong,
    ErrorCode::InvalidOption,
    ErrorCode::InvalidWorkflow,
    ErrorCode::InvalidParameter,
    ErrorCode::InvalidCursor,
    ErrorCode::RunNotFound,
    ErrorCode::TaskNotFound,
    ErrorCode::NotFound,
    ErrorCode::MethodNotAllowed,
    ErrorCode::IdempotencyConflict,
    ErrorCode::RunNotAwaitingInput,
    ErrorCode::Unauthorized,
    ErrorCode::Forbidden,
];

#[test]
fn every_code_has_an_error_status_and_a_title() {
    for &code in ErrorCode::ALL {
        let (status, title) = status_and_title(code);
        assert!(
            status.is_client_error() || status.is_server_error(),
            "{code} maps to {status}"
        );
        assert!(!title.trim().is_empty(), "{code} has no title");
        assert!(
            !title.ends_with('.'),
            "titles have no final period: {title}"
        );
    }
}

#[test]
fn request_error_codes_are_4xx_and_the_others_are_5xx() {
    for &code in ErrorCode::ALL {
        let (status, _) = status_and_title(code);
        if REQUEST_CODES.contains(&code) {
            assert!(
                status.is_client_error(),
                "{code} is a client mistake but maps to {status}"
            );
        } else {
            assert!(
                status.is_server_error(),
                "{code} is not a client mistake but maps to {status}"
            );
        }
    }
}

#[test]
fn a_problem_has_the_rfc_9457_members_and_the_code() {
    let problem = ApiError::new(ErrorCode::PromptEmpty, "write a prompt").problem();
    let json = serde_json::to_value(&problem).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "type": "urn:baton:problem:prompt_empty",
            "title": "The prompt is empty",
            "status": 422,
            "detail": "write a prompt",
            "code": "prompt_empty",
        })
    );
}

#[test]
fn a_response_is_problem_json_with_the_mapped_status() {
    let response = ApiError::new(ErrorCode::RunNotFound, "no run").into_response();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(response.headers()["content-type"], PROBLEM_CONTENT_TYPE);
}

#[test]
fn server_errors_never_show_their_detail_or_cause() {
    let cause = std::io::Error::other("password=hunter2 at db.internal:5432");
    let error = ApiError::from_source(ErrorCode::StorageUnavailable, cause);
    let problem = error.problem();
    assert_eq!(problem.status, 503);
    assert!(!problem.detail.contains("hunter2"), "{}", problem.detail);
    assert!(
        !problem.detail.contains("db.internal"),
        "{}",
        problem.detail
    );
    assert!(
        problem.detail.contains("x-request-id"),
        "{}",
        problem.detail
    );
    // The cause is kept for the log.
    assert!(error.report().contains("hunter2"));
}

#[test]
fn every_code_is_in_the_api_docs_table_with_its_status_and_title() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/API.md");
    let docs = std::fs::read_to_string(path).unwrap();
    for &code in ErrorCode::ALL {
        let (status, title) = status_and_title(code);
        let row = format!("| `{code}` | {} | {title} |", status.as_u16());
        assert!(docs.contains(&row), "docs/API.md lacks the row `{row}`");
    }
}
