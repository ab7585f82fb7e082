//! `GET /models` and `GET /stats` after real runs on the sim provider.

use baton_providers::sim::SimConfig;
use baton_testkit::Mode;
use serde_json::json;

use crate::support::TestApp;

fn quick_sim() -> SimConfig {
    SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    }
}

#[tokio::test]
async fn models_lists_the_catalogue_with_breakers_limits_and_the_telemetry_of_real_calls() {
    let app = TestApp::with_sim(quick_sim()).await;
    let before = app.get("/models").await.ok(200);
    let models = before["models"].as_array().unwrap();
    assert!(models.len() > 3, "{before:#}");
    let sim = models.iter().find(|m| m["provider"] == "sim").unwrap();
    assert_eq!(sim["configured"], true);
    assert_eq!(sim["breaker"]["state"], "closed");
    assert_eq!(sim["telemetry"]["calls"], 0);
    let openai = models.iter().find(|m| m["provider"] == "openai").unwrap();
    assert_eq!(openai["configured"], false, "no OpenAI key in this app");
    assert!(
        openai["price"]["input_per_mtok"].as_f64().unwrap() > 0.0,
        "{openai:#}"
    );
    assert!(openai["context_window"].as_u64().unwrap() > 0);

    let body = json!({"workflow": {"tasks": [{"id": "a", "instructions": "Name a river."}]},
        "options": {"verify": false}});
    app.execute_run(&body).await.ok(200);

    let after = app.get("/models").await.ok(200);
    let calls: u64 = after["models"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["provider"] == "sim")
        .map(|m| m["telemetry"]["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(calls, 1, "the one task call is counted: {after:#}");
}

#[tokio::test]
async fn stats_sums_runs_tasks_calls_and_cost_overall_and_per_provider() {
    let app = TestApp::with_sim(quick_sim()).await;
    let empty = app.get("/stats").await.ok(200);
    assert_eq!(empty["runs"]["started"], 0);
    assert_eq!(empty["success_rate"], serde_json::Value::Null);

    let body = json!({"workflow": {"tasks": [
        {"id": "a", "instructions": "Name a river."},
        {"id": "b", "instructions": "Describe {{a}}.", "depends_on": ["a"]}
    ]}, "options": {"verify": false, "assemble": "concat"}});
    app.execute_run(&body).await.ok(200);
    app.execute_run(&body).await.ok(200);

    let stats = app.get("/stats").await.ok(200);
    assert_eq!(stats["runs"]["started"], 2, "{stats:#}");
    assert_eq!(stats["runs"]["succeeded"], 2);
    assert_eq!(stats["success_rate"], 1.0);
    assert_eq!(stats["tasks"], 4);
    assert_eq!(stats["tasks_succeeded"], 4);
    assert_eq!(stats["calls"], 4);
    assert_eq!(stats["failed_calls"], 0);
    assert!(stats["tokens_in"].as_u64().unwrap() > 0);
    assert!(stats["average_task_latency_ms"].is_number());
    assert_eq!(stats["rate_limit_waits"], 0);
    assert_eq!(stats["breaker_openings"], 0);
    let providers = stats["providers"].as_array().unwrap();
    assert_eq!(providers.len(), 1, "{stats:#}");
    assert_eq!(providers[0]["provider"], "sim");
    assert_eq!(providers[0]["calls"], 4);
    assert_eq!(providers[0]["call_success_rate"], 1.0);
}

#[tokio::test]
async fn stats_is_a_503_problem_when_the_journal_is_down() {
    let app = TestApp::in_memory();
    app.set_mode(Mode::Unavailable);
    app.get("/stats")
        .await
        .problem(503, "storage_unavailable", &[]);
    // The registry is the router's, in memory: it still answers.
    app.get("/models").await.ok(200);
}
