//! Cancellation stops a run's calls promptly and is idempotent.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, both_backends, sim_env, types};

async fn cancelling_stops_a_running_run_promptly_and_is_idempotent(backend: Backend) {
    let db = Database::new(backend).await;
    let mut env = sim_env();
    // Every call takes ten minutes: only a cancellation can end this run in time.
    env.push(("BATON_PROVIDERS__SIM__LATENCY_MS".into(), "600000".into()));
    let baton = Baton::start(&db, env).await;
    let body = json!({"workflow": {"tasks": [
        {"id": "a", "instructions": "slow one"},
        {"id": "b", "instructions": "slow two"},
        {"id": "c", "instructions": "after both", "depends_on": ["a", "b"]}
    ]}});
    let created: Value = baton.post_json("/runs", &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Wait until both calls are in flight: their task_start events are journaled.
    let events = baton
        .client
        .get(baton.url(&format!("/runs/{id}/events")))
        .send()
        .await
        .unwrap();
    let mut stream = events.bytes_stream();
    let mut seen = String::new();
    use futures_util::StreamExt;
    while seen.matches("event: task_start").count() < 2 {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }

    let began = Instant::now();
    let response = baton
        .client
        .post(baton.url(&format!("/runs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let rest = tokio::time::timeout(Duration::from_secs(30), async {
        let mut rest = String::new();
        while let Some(chunk) = stream.next().await {
            rest.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
        rest
    })
    .await
    .expect("the event stream ended after the cancellation");
    assert!(began.elapsed() < Duration::from_secs(30));
    assert!(
        rest.contains("event: final") && rest.contains("\"status\":\"cancelled\""),
        "{rest}"
    );

    let run: Value = baton.get_json(&format!("/runs/{id}")).await;
    assert_eq!(run["status"], "cancelled");
    assert_eq!(run["error"]["code"], "cancelled");
    let statuses: Vec<_> = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].clone())
        .collect();
    assert_eq!(statuses, vec!["cancelled", "cancelled", "cancelled"]);
    let task: Value = baton.get_json(&format!("/runs/{id}/tasks/a")).await;
    assert_eq!(
        task["attempts"][0]["status"], "cancelled",
        "the in-flight call was stopped: {task:#}"
    );

    let again = baton
        .client
        .post(baton.url(&format!("/runs/{id}/cancel")))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 202, "cancel is idempotent");
    let events = baton.events(&id, None).await;
    assert_eq!(types(&events).iter().filter(|t| *t == "final").count(), 1);
}
both_backends!(cancelling_stops_a_running_run_promptly_and_is_idempotent);
