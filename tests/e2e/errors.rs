//! Bad input gets a problem+json 4xx that says what to fix, and writes nothing.

use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, both_backends, sim_env};

async fn check_problem(response: reqwest::Response, status: u16, code: &str, detail_part: &str) {
    assert_eq!(response.status(), status, "expected {status} {code}");
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(content_type, "application/problem+json");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], code, "{problem:#}");
    assert_eq!(problem["status"], status);
    assert!(problem["title"].is_string() && problem["type"].is_string());
    let detail = problem["detail"].as_str().unwrap();
    assert!(
        detail.contains(detail_part),
        "`{detail}` lacks `{detail_part}`"
    );
}

async fn bad_input_is_refused_with_a_problem_and_writes_nothing(backend: Backend) {
    let db = Database::new(backend).await;
    let mut env = sim_env();
    env.push(("BATON_SERVER__BODY_LIMIT_BYTES".into(), "4096".into()));
    let baton = Baton::start(&db, env).await;
    let json_type = "application/json";

    for path in ["/run", "/runs", "/stream/run"] {
        check_problem(
            baton.post_raw(path, "{\"prompt\": ", json_type).await,
            400,
            "invalid_json",
            "",
        )
        .await;
        check_problem(
            baton.post_json(path, &json!({"prompt": 42})).await,
            422,
            "invalid_request",
            "prompt",
        )
        .await;
        check_problem(
            baton
                .post_json(path, &json!({"prompt": "x", "colour": 1}))
                .await,
            422,
            "unknown_field",
            "colour",
        )
        .await;
        check_problem(
            baton.post_json(path, &json!({"prompt": "   "})).await,
            422,
            "prompt_empty",
            "prompt",
        )
        .await;
        check_problem(
            baton.post_json(path, &json!({})).await,
            422,
            "prompt_empty",
            "workflow",
        )
        .await;
        check_problem(
            baton
                .post_json(
                    path,
                    &json!({"prompt": "x", "options": {"max_concurrency": 0}}),
                )
                .await,
            422,
            "invalid_option",
            "max_concurrency",
        )
        .await;
        let cycle = json!({"workflow": {"tasks": [
            {"id": "a", "instructions": "x", "depends_on": ["b"]},
            {"id": "b", "instructions": "y", "depends_on": ["a"]}
        ]}});
        check_problem(
            baton.post_json(path, &cycle).await,
            422,
            "invalid_workflow",
            "cycle",
        )
        .await;
        let unknown = json!({"workflow": {"tasks": [{"id": "a", "instructions": "x", "depends_on": ["zzz"]}]}});
        check_problem(
            baton.post_json(path, &unknown).await,
            422,
            "invalid_workflow",
            "zzz",
        )
        .await;
        let big = json!({"prompt": "x".repeat(8192)});
        check_problem(
            baton.post_json(path, &big).await,
            413,
            "body_too_large",
            "4096",
        )
        .await;
        check_problem(
            baton.post_raw(path, "prompt=x", "text/plain").await,
            415,
            "unsupported_media_type",
            "application/json",
        )
        .await;
    }

    check_problem(
        baton.get("/runs/not-a-uuid").await,
        400,
        "invalid_parameter",
        "not-a-uuid",
    )
    .await;
    let unknown_run = "0190c7a8-0000-7000-8000-000000000001";
    check_problem(
        baton.get(&format!("/runs/{unknown_run}")).await,
        404,
        "run_not_found",
        unknown_run,
    )
    .await;
    check_problem(
        baton.get(&format!("/runs/{unknown_run}/events")).await,
        404,
        "run_not_found",
        unknown_run,
    )
    .await;
    check_problem(
        baton
            .client
            .post(baton.url(&format!("/runs/{unknown_run}/cancel")))
            .send()
            .await
            .unwrap(),
        404,
        "run_not_found",
        unknown_run,
    )
    .await;
    check_problem(
        baton.get("/runs?status=done").await,
        400,
        "invalid_parameter",
        "succeeded",
    )
    .await;
    check_problem(
        baton.get("/runs?cursor=garbage").await,
        400,
        "invalid_cursor",
        "cursor",
    )
    .await;
    check_problem(baton.get("/nowhere").await, 404, "not_found", "").await;
    check_problem(
        baton.client.delete(baton.url("/run")).send().await.unwrap(),
        405,
        "method_not_allowed",
        "",
    )
    .await;

    let runs: Value = baton.get_json("/runs").await;
    assert_eq!(runs["runs"], json!([]), "no bad request wrote a row");
    assert_eq!(baton.get("/healthz").await.status(), 200);
    assert_eq!(baton.get("/readyz").await.status(), 200);
}
both_backends!(bad_input_is_refused_with_a_problem_and_writes_nothing);
