//! Whole runs through the real engine and the sim provider: `POST /run`,
//! `POST /stream/run`, `POST /runs` followed live by `GET /runs/{id}/events`,
//! idempotency and cancellation.

use std::time::Duration;

use baton_providers::sim::SimConfig;
use serde_json::{Value, json};

use baton_server::ServerConfig;

use crate::support::{SseReader, TestApp, types};

/// Two tasks, the second using the first's output; concatenated, unverified.
fn two_tasks() -> Value {
    json!({
        "workflow": {"tasks": [
            {"id": "a", "instructions": "Name a river."},
            {"id": "b", "instructions": "Describe {{a}}.", "depends_on": ["a"]}
        ]},
        "options": {"assemble": "concat", "verify": false}
    })
}

fn fast_sim() -> SimConfig {
    SimConfig {
        latency_ms: 5,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn execute_run_returns_the_finished_run() {
    let app = TestApp::with_sim(fast_sim()).await;

    let run = app.execute_run(&two_tasks()).await.ok(200);

    assert_eq!(run["status"], "succeeded", "{run:#}");
    let ids: Vec<_> = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    for task in run["tasks"].as_array().unwrap() {
        assert_eq!(task["status"], "succeeded");
        assert!(!task["attempts"].as_array().unwrap().is_empty());
    }
    assert!(!run["output"].as_str().unwrap().is_empty());
    assert!(run["usage"]["llm_calls"].as_u64().unwrap() >= 2);
    assert!(run["timings"]["duration_ms"].is_u64());
}

#[tokio::test]
async fn stream_run_streams_every_event_live_until_stats() {
    let app = TestApp::with_sim(fast_sim()).await;

    let response = app
        .send(
            axum::http::Request::post("/stream/run")
                .header("content-type", "application/json")
                .body(axum::body::Body::from(two_tasks().to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), 200);
    let frames = SseReader::new(response).read_to_end().await;

    let names = types(&frames);
    assert_eq!(names.first().map(String::as_str), Some("run_created"));
    assert_eq!(names.last().map(String::as_str), Some("stats"));
    assert!(
        names.contains(&"task_delta".to_owned()),
        "/stream/run streams tokens: {names:?}"
    );
    for (index, frame) in frames.iter().enumerate() {
        assert_eq!(
            frame.id.as_deref(),
            Some((index + 1).to_string().as_str()),
            "{names:?}"
        );
    }
}

#[tokio::test]
async fn create_run_is_202_with_location_and_its_events_are_followed_live() {
    let app = TestApp::with_sim(fast_sim()).await;

    let response = app.create_run(&two_tasks()).await;
    let run = response.ok(202);
    let id = run["id"].as_str().unwrap();
    assert_eq!(
        response.header("location"),
        Some(format!("/runs/{id}").as_str())
    );

    let frames = app.events(id.parse().unwrap(), "", None).await;
    assert_eq!(types(&frames).last().map(String::as_str), Some("stats"));
    assert_eq!(frames[frames.len() - 2].json()["status"], "succeeded");
    let run = app.get_run(id).await.ok(200);
    assert_eq!(run["status"], "succeeded");
}

#[tokio::test]
async fn a_live_run_is_followed_through_the_engine_channel_without_polling() {
    // With polling as good as off, only the engine's live channel can deliver the
    // events that are committed after the stream caught up with the journal.
    let config = ServerConfig {
        journal_poll_interval: Duration::from_secs(3600),
        ..ServerConfig::default()
    };
    let sim = SimConfig {
        latency_ms: 50,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    };
    let app = TestApp::with_sim_and_config(sim, config).await;
    let run = app.create_run(&two_tasks()).await.ok(202);
    let id: baton_core::ids::RunId = run["id"].as_str().unwrap().parse().unwrap();

    let mut reader = SseReader::new(app.open_events(id, "", None).await);
    let first = reader.next_event().await.unwrap();
    assert_eq!(first.event.as_deref(), Some("run_created"));
    let rest = tokio::time::timeout(Duration::from_secs(20), reader.read_to_end())
        .await
        .expect("live events arrived");

    assert_eq!(types(&rest).last().map(String::as_str), Some("stats"));
    let ids: Vec<u64> = rest
        .iter()
        .map(|f| f.id.as_ref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        ids,
        (2..=ids.len() as u64 + 1).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_run_and_another_body_is_422() {
    let app = TestApp::with_sim(fast_sim()).await;
    let post = |body: Value| {
        app.call(
            axum::http::Request::post("/runs")
                .header("content-type", "application/json")
                .header("idempotency-key", "key-1")
                .body(axum::body::Body::from(body.to_string()))
                .unwrap(),
        )
    };

    let first = post(two_tasks()).await;
    let first_id = first.ok(202)["id"].clone();
    assert_eq!(first.header("idempotent-replayed"), None);
    let again = post(two_tasks()).await;
    assert_eq!(again.ok(202)["id"], first_id);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    post(json!({"prompt": "something else"})).await.problem(
        422,
        "idempotency_conflict",
        &["Idempotency-Key"],
    );
    let page = app.list_runs("").await.ok(200);
    assert_eq!(
        page["runs"].as_array().unwrap().len(),
        1,
        "no second run was started"
    );
}

#[tokio::test]
async fn cancelling_a_running_run_ends_its_stream_with_final_cancelled() {
    let app = TestApp::with_sim(SimConfig {
        latency_ms: 600_000,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    })
    .await;
    let run = app.create_run(&two_tasks()).await.ok(202);
    let id: baton_core::ids::RunId = run["id"].as_str().unwrap().parse().unwrap();
    let mut reader = SseReader::new(app.open_events(id, "", None).await);
    while reader.next_event().await.unwrap().event.as_deref() != Some("task_start") {}

    let cancelled = app.cancel_run(id).await;
    assert_eq!(cancelled.status, 202);

    let rest = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end())
        .await
        .unwrap();
    let last_two: Vec<_> = rest
        .iter()
        .rev()
        .take(2)
        .map(|f| f.event.clone().unwrap())
        .collect();
    assert_eq!(last_two, ["stats", "final"]);
    assert_eq!(rest[rest.len() - 2].json()["status"], "cancelled");
    assert_eq!(app.cancel_run(id).await.status, 202, "cancel is idempotent");
}
