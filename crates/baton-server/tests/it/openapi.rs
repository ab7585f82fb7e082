//! The OpenAPI document: locked by a snapshot, served as generated, and held to the
//! API's conventions.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::TestApp;

fn snapshot_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots/openapi.json")
}

fn document() -> Value {
    serde_json::to_value(baton_server::openapi()).unwrap()
}

/// Rewrite the snapshot with `UPDATE_SNAPSHOTS=1 cargo test -p baton-server`.
#[test]
fn the_openapi_document_matches_its_snapshot() {
    let generated = baton_server::openapi().to_pretty_json().unwrap() + "\n";
    let path = snapshot_path();
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some_and(|value| value == "1") {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "the OpenAPI document changed: review the difference and run `UPDATE_SNAPSHOTS=1 cargo test -p baton-server` to accept it"
    );
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = TestApp::new().await;
    let served = app.get("/openapi.json").await.ok(200);
    assert_eq!(served, document());
}

#[test]
fn the_document_is_openapi_3_1_titled_baton_with_the_crate_version() {
    let document = document();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(document["info"]["title"], "Baton");
    assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
}

#[test]
fn every_operation_is_named_verb_resource_and_documents_its_problems() {
    let document = document();
    let verbs = ["create", "list", "get", "stream", "cancel", "execute"];
    let mut operation_ids = Vec::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            let verb = id.split('_').next().unwrap();
            assert!(
                verbs.contains(&verb),
                "{id} does not start with a known verb"
            );
            assert!(
                operation["summary"].is_string() || operation["description"].is_string(),
                "{id} is undocumented"
            );
            for (status, response) in operation["responses"].as_object().unwrap() {
                assert!(
                    response["description"]
                        .as_str()
                        .is_some_and(|d| !d.is_empty()),
                    "{id} {status}"
                );
                if status.starts_with('4') || status.starts_with('5') {
                    let content =
                        &response["content"]["application/problem+json"]["schema"]["$ref"];
                    assert_eq!(
                        content, "#/components/schemas/Problem",
                        "{id} {status} is not a problem"
                    );
                }
            }
            operation_ids.push(id.to_owned());
        }
    }
    operation_ids.sort();
    assert_eq!(
        operation_ids,
        [
            "cancel_run",
            "create_run",
            "execute_run",
            "get_health",
            "get_openapi",
            "get_readiness",
            "get_run",
            "get_run_task",
            "get_stats",
            "list_models",
            "list_run_tasks",
            "list_runs",
            "stream_run",
            "stream_run_events",
        ]
    );
}

#[test]
fn event_streams_are_described_as_text_event_stream_of_events() {
    let document = document();
    for (path, method) in [("/runs/{id}/events", "get"), ("/stream/run", "post")] {
        let content = &document["paths"][path][method]["responses"]["200"]["content"];
        assert_eq!(
            content["text/event-stream"]["schema"]["$ref"], "#/components/schemas/Event",
            "{path}"
        );
    }
}

#[test]
fn the_problem_schema_and_every_error_code_are_published() {
    let document = document();
    let schemas = &document["components"]["schemas"];
    let problem = &schemas["Problem"]["properties"];
    for member in ["type", "title", "status", "detail", "code"] {
        assert!(problem[member].is_object(), "Problem lacks `{member}`");
    }
    let codes = schemas["ErrorCode"]["enum"].as_array().unwrap();
    for code in baton_core::error::ErrorCode::ALL {
        assert!(
            codes.contains(&Value::from(code.as_str())),
            "{code} is not in the ErrorCode schema"
        );
    }
}

#[test]
fn every_schema_property_is_documented() {
    let document = document();
    let mut undocumented = Vec::new();
    let ours = [
        "Problem",
        "RunResponse",
        "RunSummaryResponse",
        "RunTimings",
        "TaskResponse",
        "TaskTimings",
        "AttemptResponse",
        "ListRunsResponse",
        "ListTasksResponse",
        "HealthResponse",
    ];
    for name in ours {
        let schema = &document["components"]["schemas"][name];
        let properties = schema["properties"]
            .as_object()
            .unwrap_or_else(|| panic!("no schema {name}"));
        for (property, value) in properties {
            let described = value["description"].is_string()
                || value["allOf"].is_array()
                || value["oneOf"]
                    .as_array()
                    .is_some_and(|variants| variants.iter().any(|v| v["description"].is_string()));
            if !described {
                undocumented.push(format!("{name}.{property}"));
            }
        }
    }
    assert!(undocumented.is_empty(), "undocumented: {undocumented:?}");
}
