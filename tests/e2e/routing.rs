//! Routing as clients see it, through the real binary and a fake OpenAI: a sick
//! model's breaker opens and traffic moves on (explained by `decision` events, shown
//! by `/models` and `/stats`, and kept across a restart), and concurrency limits hold
//! at the vendor.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use baton_testkit::{FakeVendor, Response, Vendor};
use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, both_backends};

const KEY: &str = "sk-test-baton-e2e-routing-0123456789";

fn openai_env(fake: &FakeVendor, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("OPENAI_API_KEY", KEY),
        ("BATON_ENGINE__RETRY__BASE_DELAY_MS", "1"),
        ("BATON_ENGINE__RETRY__MAX_DELAY_MS", "5"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    env.push(("OPENAI_BASE_URL".to_owned(), fake.base_url()));
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    env
}

fn one_task() -> Value {
    json!({
        "workflow": {"tasks": [{"id": "only", "instructions": "Say hello."}]},
        "options": {"verify": false, "assemble": "concat", "max_retries": 3}
    })
}

fn events_of<'a>(run: &'a [crate::support::SseEvent], kind: &str) -> Vec<&'a Value> {
    run.iter()
        .filter(|e| e.data["type"] == kind)
        .map(|e| &e.data)
        .collect()
}

async fn a_failing_model_opens_its_breaker_and_traffic_moves_to_the_next(backend: Backend) {
    // Arrange: the first model the router picks answers 500, every other one answers.
    let db = Database::new(backend).await;
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let sick: Arc<Mutex<Option<String>>> = Arc::default();
    let chosen = Arc::clone(&sick);
    fake.set_responder(move |request| {
        let model = request.model().unwrap_or_default();
        let mut sick = chosen.lock().unwrap();
        let sick = sick.get_or_insert_with(|| model.clone());
        if *sick == model {
            Response::json(
                500,
                json!({"error": {"message": "the model is sick", "type": "server_error"}}),
            )
        } else {
            Response::answer("Hello from a healthy model")
        }
    });
    let env = openai_env(
        &fake,
        &[("BATON_ROUTER__MODEL_BREAKER__FAILURE_THRESHOLD", "2")],
    );
    let baton = Baton::start(&db, env).await;

    // Act 1: the first run's task fails twice on the sick model, then falls back.
    let first = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;
    let sick = sick.lock().unwrap().clone().unwrap();
    let failed = events_of(&first, "task_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let fallback = failed[0]["fallback"].as_str().unwrap().to_owned();
    assert!(
        fallback.starts_with("openai/") && !fallback.ends_with(&format!("/{sick}")),
        "{fallback}"
    );
    assert!(
        failed[0]["error"]
            .as_str()
            .unwrap()
            .contains("circuit breaker"),
        "{failed:?}"
    );
    let decisions = events_of(&first, "decision");
    assert_eq!(decisions.len(), 2);
    assert_eq!(decisions[0]["model"], sick.as_str());
    assert_eq!(
        format!("openai/{}", decisions[1]["model"].as_str().unwrap()),
        fallback
    );
    assert_eq!(events_of(&first, "final")[0]["status"], "succeeded");
    let sick_calls = |fake: &FakeVendor| {
        fake.requests()
            .iter()
            .filter(|r| r.model().as_deref() == Some(sick.as_str()))
            .count()
    };
    assert_eq!(
        sick_calls(&fake),
        2,
        "two failures open the breaker; no third call"
    );

    // Act 2: the next run does not even try the sick model, and says why.
    let second = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;
    let decision = events_of(&second, "decision")[0];
    assert_ne!(decision["model"], sick.as_str());
    let skipped = decision["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["model"] == sick.as_str())
        .unwrap();
    assert!(
        skipped["skipped"]
            .as_str()
            .unwrap()
            .contains("circuit open"),
        "{skipped}"
    );
    assert!(
        decision["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["skipped"].is_null())
            .all(|c| c["parts"].as_object().unwrap().len() == 5),
        "every scored candidate has its five parts: {decision}"
    );
    assert_eq!(sick_calls(&fake), 2);

    // Assert: /models and /stats show it, and a restart keeps the breaker open.
    let models = baton.get_json("/models").await;
    let breaker_of = |models: &Value| {
        models["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["provider"] == "openai" && m["model"] == sick.as_str())
            .unwrap()["breaker"]
            .clone()
    };
    assert_eq!(breaker_of(&models)["state"], "open", "{models}");
    let stats = baton.get_json("/stats").await;
    assert_eq!(stats["runs"]["succeeded"], 2, "{stats}");
    assert_eq!(stats["failed_calls"], 2, "{stats}");
    assert_eq!(stats["breaker_openings"], 1, "{stats}");
    let openai = &stats["providers"][0];
    assert_eq!(
        (openai["provider"].as_str(), openai["calls"].as_u64()),
        (Some("openai"), Some(4))
    );

    let baton = baton.restart().await;
    let models = baton.get_json("/models").await;
    assert_eq!(
        breaker_of(&models)["state"],
        "open",
        "the breaker survives a restart: {models}"
    );
    let telemetry = models["models"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["model"] == sick.as_str())
        .unwrap()["telemetry"]
        .clone();
    assert_eq!(telemetry["calls"], 2, "{telemetry}");
    assert_eq!(telemetry["failures"], 2, "{telemetry}");
    let third = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;
    assert_ne!(events_of(&third, "decision")[0]["model"], sick.as_str());
    assert_eq!(sick_calls(&fake), 2);
}
both_backends!(a_failing_model_opens_its_breaker_and_traffic_moves_to_the_next);

async fn the_vendor_never_sees_more_calls_at_once_than_the_limits_allow(backend: Backend) {
    let db = Database::new(backend).await;
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.set_responder(|_| Response::answer("done").delay_head(Duration::from_millis(300)));
    // Each run would allow 4 calls at once; the provider's cap over all runs is 2.
    let env = openai_env(
        &fake,
        &[("BATON_ROUTER__RATE_LIMITS__OPENAI__MAX_CONCURRENT", "2")],
    );
    let baton = Baton::start(&db, env).await;
    let tasks: Vec<Value> = (0..4)
        .map(|i| json!({"id": format!("t{i}"), "instructions": format!("Task {i}.")}))
        .collect();
    let body = json!({
        "workflow": {"tasks": tasks},
        "options": {"verify": false, "assemble": "concat", "max_concurrency": 4,
                    "max_concurrency_per_provider": 4}
    });

    let (a, b) = tokio::join!(baton.run(&body), baton.run(&body));

    assert_eq!(
        (a["status"].as_str(), b["status"].as_str()),
        (Some("succeeded"), Some("succeeded"))
    );
    assert_eq!(fake.request_count(), 8);
    assert_eq!(fake.peak_concurrency(), 2, "eight calls, two at a time");
}
both_backends!(the_vendor_never_sees_more_calls_at_once_than_the_limits_allow);
