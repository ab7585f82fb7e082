//! Bad input gets a 4xx problem that says what to fix, and writes nothing.

use axum::body::Body;
use axum::http::Request;
use baton_server::ServerConfig;
use serde_json::{Value, json};

use crate::support::TestApp;

const SUBMIT_PATHS: [&str; 3] = ["/run", "/runs", "/stream/run"];

/// Posts `body` to each endpoint that creates a run and checks the problem; then
/// checks that nothing was stored.
async fn check_refused(
    app: &TestApp,
    body: &Value,
    status: u16,
    code: &str,
    detail_parts: &[&str],
) {
    for path in SUBMIT_PATHS {
        app.post_json(path, body)
            .await
            .problem(status, code, detail_parts);
    }
    app.assert_no_runs().await;
}

async fn check_refused_raw(
    app: &TestApp,
    body: &str,
    content_type: Option<&str>,
    status: u16,
    code: &str,
    detail_parts: &[&str],
) {
    for path in SUBMIT_PATHS {
        app.post_raw(path, body.to_owned(), content_type)
            .await
            .problem(status, code, detail_parts);
    }
    app.assert_no_runs().await;
}

#[tokio::test]
async fn malformed_json_is_400_invalid_json_saying_where() {
    let app = TestApp::new().await;
    check_refused_raw(
        &app,
        "{\"prompt\": ",
        Some("application/json"),
        400,
        "invalid_json",
        &["line 1, column 11"],
    )
    .await;
    check_refused_raw(
        &app,
        "",
        Some("application/json"),
        400,
        "invalid_json",
        &["empty"],
    )
    .await;
}

#[tokio::test]
async fn a_wrong_type_is_422_invalid_request_naming_the_field() {
    let app = TestApp::new().await;
    check_refused(
        &app,
        &json!({"prompt": 42}),
        422,
        "invalid_request",
        &["`prompt`", "expected a string"],
    )
    .await;
    check_refused(
        &app,
        &json!({"prompt": "x", "options": {"max_concurrency": "lots"}}),
        422,
        "invalid_request",
        &["`options.max_concurrency`"],
    )
    .await;
    check_refused(
        &app,
        &json!({"workflow": {"tasks": [{"id": "not ok!", "instructions": "x"}]}}),
        422,
        "invalid_request",
        &["workflow.tasks[0].id", "not ok!"],
    )
    .await;
    check_refused(
        &app,
        &json!(["a list"]),
        422,
        "invalid_request",
        &["JSON object"],
    )
    .await;
}

#[tokio::test]
async fn an_unknown_field_is_422_naming_it_and_the_allowed_ones() {
    let app = TestApp::new().await;
    check_refused(
        &app,
        &json!({"prompt": "x", "colour": 1}),
        422,
        "unknown_field",
        &[
            "`colour`",
            "`prompt`",
            "`workflow`",
            "`options`",
            "`metadata`",
        ],
    )
    .await;
    check_refused(
        &app,
        &json!({"prompt": "x", "options": {"max_concurency": 1}}),
        422,
        "unknown_field",
        &["`max_concurency`", "`max_concurrency`"],
    )
    .await;
}

#[tokio::test]
async fn an_empty_prompt_is_422_prompt_empty() {
    let app = TestApp::new().await;
    check_refused(
        &app,
        &json!({"prompt": "  \n "}),
        422,
        "prompt_empty",
        &["prompt"],
    )
    .await;
    check_refused(
        &app,
        &json!({}),
        422,
        "prompt_empty",
        &["prompt", "workflow"],
    )
    .await;
}

#[tokio::test]
async fn a_prompt_over_the_limit_is_422_prompt_too_long() {
    let app = TestApp::new().await;
    let prompt = "x".repeat(300 * 1024);
    check_refused(
        &app,
        &json!({"prompt": prompt}),
        422,
        "prompt_too_long",
        &["262144"],
    )
    .await;
}

#[tokio::test]
async fn impossible_options_are_422_invalid_option() {
    let app = TestApp::new().await;
    check_refused(
        &app,
        &json!({"prompt": "x", "options": {"max_concurrency": 0}}),
        422,
        "invalid_option",
        &["max_concurrency", "at least 1"],
    )
    .await;
    check_refused(
        &app,
        &json!({"prompt": "x", "options": {"min_confidence": 2}}),
        422,
        "invalid_option",
        &["min_confidence", "between 0 and 1"],
    )
    .await;
    check_refused(
        &app,
        &json!({"prompt": "x", "options": {"strategy": "fastest"}}),
        422,
        "invalid_request",
        &["`options.strategy`", "parallel"],
    )
    .await;
}

#[tokio::test]
async fn an_invalid_workflow_is_422_invalid_workflow() {
    let app = TestApp::new().await;
    let cycle = json!({"workflow": {"tasks": [
        {"id": "a", "instructions": "x", "depends_on": ["b"]},
        {"id": "b", "instructions": "y", "depends_on": ["a"]}
    ]}});
    check_refused(&app, &cycle, 422, "invalid_workflow", &["cycle", "a", "b"]).await;
    let unknown =
        json!({"workflow": {"tasks": [{"id": "a", "instructions": "x", "depends_on": ["zzz"]}]}});
    check_refused(
        &app,
        &unknown,
        422,
        "invalid_workflow",
        &["`zzz`", "not a task"],
    )
    .await;
    let duplicate = json!({"workflow": {"tasks": [
        {"id": "a", "instructions": "x"}, {"id": "a", "instructions": "y"}
    ]}});
    check_refused(
        &app,
        &duplicate,
        422,
        "invalid_workflow",
        &["`a`", "more than once"],
    )
    .await;
    check_refused(
        &app,
        &json!({"workflow": {"tasks": []}}),
        422,
        "invalid_workflow",
        &["no tasks"],
    )
    .await;
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413_saying_the_limit_and_the_key() {
    let app = TestApp::with_config(ServerConfig {
        body_limit_bytes: 1024,
        ..ServerConfig::default()
    })
    .await;
    let body = json!({"prompt": "x".repeat(2048)});
    check_refused(
        &app,
        &body,
        413,
        "body_too_large",
        &["1024 bytes", "server.body_limit_bytes"],
    )
    .await;
    // A body under the limit gets past the limit (and is refused for what it says).
    check_refused(&app, &json!({"prompt": ""}), 422, "prompt_empty", &[]).await;
}

#[tokio::test]
async fn a_body_that_is_not_json_is_415() {
    let app = TestApp::new().await;
    check_refused_raw(
        &app,
        "prompt=x",
        Some("text/plain"),
        415,
        "unsupported_media_type",
        &["text/plain", "application/json"],
    )
    .await;
    check_refused_raw(
        &app,
        "{\"prompt\": \"x\"}",
        None,
        415,
        "unsupported_media_type",
        &["Content-Type: application/json"],
    )
    .await;
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_400() {
    let app = TestApp::new().await;
    for path in SUBMIT_PATHS {
        let request = Request::post(path)
            .header("content-type", "application/json")
            .header("idempotency-key", "k".repeat(300))
            .body(Body::from(r#"{"prompt": "x"}"#))
            .unwrap();
        app.call(request)
            .await
            .problem(400, "invalid_parameter", &["Idempotency-Key", "255"]);
    }
    app.assert_no_runs().await;
}

#[tokio::test]
async fn a_malformed_last_event_id_on_stream_run_is_400() {
    let app = TestApp::new().await;
    let request = Request::post("/stream/run")
        .header("content-type", "application/json")
        .header("last-event-id", "ten")
        .body(Body::from(r#"{"prompt": "x"}"#))
        .unwrap();
    app.call(request)
        .await
        .problem(400, "invalid_parameter", &["Last-Event-ID", "`ten`"]);
    app.assert_no_runs().await;
}

#[tokio::test]
async fn malformed_and_unknown_ids_are_400_and_404() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("hello").await;
    let unknown = "0190c7a8-0000-7000-8000-000000000001";

    app.get("/runs/not-a-uuid")
        .await
        .problem(400, "invalid_parameter", &["`not-a-uuid`", "UUID"]);
    app.get("/runs/not-a-uuid/tasks")
        .await
        .problem(400, "invalid_parameter", &["not-a-uuid"]);
    app.get("/runs/not-a-uuid/events")
        .await
        .problem(400, "invalid_parameter", &["not-a-uuid"]);
    app.cancel_run("not-a-uuid")
        .await
        .problem(400, "invalid_parameter", &["not-a-uuid"]);
    app.get_run(unknown)
        .await
        .problem(404, "run_not_found", &[unknown]);
    app.list_run_tasks(unknown)
        .await
        .problem(404, "run_not_found", &[unknown]);
    app.get_run_task(unknown, "research")
        .await
        .problem(404, "run_not_found", &[unknown]);
    app.get(&format!("/runs/{unknown}/events"))
        .await
        .problem(404, "run_not_found", &[unknown]);
    app.cancel_run(unknown)
        .await
        .problem(404, "run_not_found", &[unknown]);

    app.get_run_task(run_id, "bad%20id").await.problem(
        400,
        "invalid_parameter",
        &["task id", "`bad id`"],
    );
    app.get_run_task(run_id, "nope").await.problem(
        404,
        "task_not_found",
        &["`nope`", "research, write"],
    );
}

#[tokio::test]
async fn bad_list_parameters_are_400_saying_what_is_allowed() {
    let app = TestApp::new().await;
    app.list_runs("?status=done").await.problem(
        400,
        "invalid_parameter",
        &["`status`", "succeeded", "`done`"],
    );
    for limit in ["0", "101", "ten", "-1"] {
        app.list_runs(&format!("?limit={limit}")).await.problem(
            400,
            "invalid_parameter",
            &["`limit`", "from 1 to 100"],
        );
    }
    app.list_runs("?cursor=garbage").await.problem(
        400,
        "invalid_cursor",
        &["cursor", "`garbage`", "next_cursor"],
    );
    app.list_runs("?cursor=AAAA")
        .await
        .problem(400, "invalid_cursor", &[]);
    app.list_runs("?colour=red").await.problem(
        400,
        "invalid_parameter",
        &[
            "unknown parameter `colour`",
            "`status`",
            "`limit`",
            "`cursor`",
        ],
    );
    app.list_runs("?limit=1&limit=2")
        .await
        .problem(400, "invalid_parameter", &["limit"]);
}

#[tokio::test]
async fn bad_event_cursors_are_400() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("hello").await;
    let response = app.open_events(run_id, "?after=ten", None).await;
    assert_eq!(response.status(), 400);
    app.get(&format!("/runs/{run_id}/events?after=-1"))
        .await
        .problem(400, "invalid_parameter", &["`after`", "integer"]);
    app.get(&format!("/runs/{run_id}/events?from=3"))
        .await
        .problem(400, "invalid_parameter", &["`from`", "`after`"]);
    let request = Request::get(format!("/runs/{run_id}/events"))
        .header("last-event-id", "x1")
        .body(Body::empty())
        .unwrap();
    app.call(request)
        .await
        .problem(400, "invalid_parameter", &["Last-Event-ID", "`x1`"]);
}

#[tokio::test]
async fn unknown_routes_are_404_and_wrong_methods_are_405_problems() {
    let app = TestApp::new().await;
    app.get("/nowhere")
        .await
        .problem(404, "not_found", &["GET /nowhere", "/docs"]);
    app.post_json("/runs/x/y/z", &json!({}))
        .await
        .problem(404, "not_found", &[]);

    let response = app
        .call(Request::delete("/run").body(Body::empty()).unwrap())
        .await;
    response.problem(405, "method_not_allowed", &["`DELETE`", "`/run`"]);
    assert_eq!(response.header("allow"), Some("POST"));
    let response = app.get("/run").await;
    response.problem(405, "method_not_allowed", &["`GET`"]);
    let response = app
        .call(Request::put("/runs").body(Body::empty()).unwrap())
        .await;
    response.problem(405, "method_not_allowed", &[]);
    let allow = response.header("allow").unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    app.get("/runs/0190c7a8-0000-7000-8000-000000000001/cancel")
        .await
        .problem(405, "method_not_allowed", &[]);
}
