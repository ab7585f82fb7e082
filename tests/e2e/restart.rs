//! Nothing is lost across a restart, and an interrupted run is resumed.

use std::time::Duration;

use futures_util::StreamExt;
use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, both_backends, diamond, sim_env, types};

async fn a_finished_run_reads_back_the_same_after_a_restart(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;
    let run = baton.run(&diamond()).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let before_run: Value = baton.get_json(&format!("/runs/{id}")).await;
    let before_events = baton.events(&id, None).await;
    let before_task: Value = baton.get_json(&format!("/runs/{id}/tasks/b")).await;

    let baton = baton.restart().await;

    assert_eq!(baton.get_json(&format!("/runs/{id}")).await, before_run);
    assert_eq!(baton.events(&id, None).await, before_events);
    assert_eq!(
        baton.get_json(&format!("/runs/{id}/tasks/b")).await,
        before_task
    );
}
both_backends!(a_finished_run_reads_back_the_same_after_a_restart);

async fn a_run_interrupted_by_a_crash_resumes_without_redoing_finished_tasks(backend: Backend) {
    let db = Database::new(backend).await;
    let mut env = sim_env();
    env.push(("BATON_PROVIDERS__SIM__LATENCY_MS".into(), "600000".into()));
    let mut baton = Baton::start(&db, env).await;
    let body = json!({"workflow": {"tasks": [
        {"id": "first", "instructions": "quick"},
        {"id": "second", "instructions": "slow", "depends_on": ["first"]}
    ]}, "options": {"assemble": "concat"}});
    let created: Value = baton.post_json("/runs", &body).await.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();

    // Kill the server while `first`'s call is in flight.
    let events = baton
        .client
        .get(baton.url(&format!("/runs/{id}/events")))
        .send()
        .await
        .unwrap();
    let mut stream = events.bytes_stream();
    let mut seen = String::new();
    while !seen.contains("event: task_start") {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    baton.kill().await;

    // Start again with a fast model: the run is picked up with no client request.
    let baton = Baton::start(&db, sim_env()).await;
    let events = baton.events(&id, None).await;
    let names = types(&events);
    assert_eq!(names.last().map(String::as_str), Some("stats"), "{names:?}");
    let run: Value = baton.get_json(&format!("/runs/{id}")).await;
    assert_eq!(run["status"], "succeeded", "{run:#}");

    let first: Value = baton.get_json(&format!("/runs/{id}/tasks/first")).await;
    let statuses: Vec<_> = first["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        vec!["interrupted", "succeeded"],
        "the interrupted call stays journaled: {first:#}"
    );
    let ids: Vec<u64> = events
        .iter()
        .map(|e| e.data["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(
        ids,
        (1..=ids.len() as u64).collect::<Vec<_>>(),
        "seq continues without gaps"
    );
}
both_backends!(a_run_interrupted_by_a_crash_resumes_without_redoing_finished_tasks);
