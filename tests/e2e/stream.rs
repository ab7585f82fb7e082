//! `POST /stream/run` and `GET /runs/{id}/events` as SSE.

use serde_json::json;

use crate::support::{Backend, Baton, Database, both_backends, diamond, sim_env, types};

fn position(
    types: &[String],
    wanted: &str,
    task: Option<&str>,
    events: &[crate::support::SseEvent],
) -> usize {
    events
        .iter()
        .position(|e| e.data["type"] == wanted && task.is_none_or(|t| e.data["task_id"] == t))
        .unwrap_or_else(|| panic!("no {wanted} for {task:?} in {types:?}"))
}

async fn stream_run_sends_every_event_in_causal_order(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;

    let response = baton.post_json("/stream/run", &diamond()).await;
    let events = Baton::read_events(response).await;
    let names = types(&events);

    assert_eq!(names[0], "run_created");
    assert_eq!(&names[1..3], ["plan", "plan"]);
    assert_eq!(events[1].data["phase"], "started");
    assert_eq!(events[2].data["phase"], "completed");
    assert_eq!(
        &names[names.len() - 3..],
        ["assemble_start", "final", "stats"]
    );
    for task in ["a", "b", "c", "d"] {
        let decision = position(&names, "decision", Some(task), &events);
        let start = position(&names, "task_start", Some(task), &events);
        let artifact = position(&names, "task_artifact", Some(task), &events);
        let verified = position(&names, "task_verified", Some(task), &events);
        assert!(
            decision < start && start < artifact && artifact < verified,
            "{task}: {names:?}"
        );
    }
    // Dependencies finish before their dependents start.
    assert!(
        position(&names, "task_verified", Some("a"), &events)
            < position(&names, "task_start", Some("b"), &events)
    );
    assert!(
        position(&names, "task_verified", Some("c"), &events)
            < position(&names, "task_start", Some("d"), &events)
    );

    let run_id = events[0].data["run_id"].as_str().unwrap();
    for (index, event) in events.iter().enumerate() {
        let seq = index as u64 + 1;
        assert_eq!(
            event.id.as_deref(),
            Some(seq.to_string().as_str()),
            "ids are 1..n with no gaps"
        );
        assert_eq!(event.data["seq"], seq);
        assert_eq!(event.data["run_id"], run_id);
        assert_eq!(event.event.as_deref(), event.data["type"].as_str());
        assert!(event.data["ts"].is_string());
    }
    assert_eq!(events[events.len() - 2].data["status"], "succeeded");
}
both_backends!(stream_run_sends_every_event_in_causal_order);

async fn reconnecting_replays_only_the_missed_events(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;
    let run = baton.run(&diamond()).await;
    let run_id = run["id"].as_str().unwrap();
    let all = baton.events(run_id, None).await;

    let response = baton
        .client
        .get(baton.url(&format!("/runs/{run_id}/events")))
        .header("last-event-id", "5")
        .send()
        .await
        .unwrap();
    let missed = Baton::read_events(response).await;
    assert_eq!(missed, all[5..].to_vec());

    let after = baton.events(run_id, Some(all.len() as u64 - 1)).await;
    assert_eq!(types(&after), ["stats"]);
}
both_backends!(reconnecting_replays_only_the_missed_events);

async fn streamed_tokens_arrive_as_task_deltas(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;

    let body = json!({"workflow": {"tasks": [{"id": "only", "instructions": "Write two sentences about rivers."}]}});
    let events = Baton::read_events(baton.post_json("/stream/run", &body).await).await;

    let deltas: String = events
        .iter()
        .filter(|e| e.data["type"] == "task_delta")
        .map(|e| e.data["text"].as_str().unwrap().to_owned())
        .collect();
    let artifact = events
        .iter()
        .find(|e| e.data["type"] == "task_artifact")
        .unwrap();
    assert!(!deltas.is_empty(), "/stream/run streams tokens by default");
    assert_eq!(deltas, artifact.data["output"].as_str().unwrap());

    let quiet = json!({"workflow": body["workflow"], "options": {"stream": false}});
    let events = Baton::read_events(baton.post_json("/stream/run", &quiet).await).await;
    assert!(!types(&events).contains(&"task_delta".to_owned()));
}
both_backends!(streamed_tokens_arrive_as_task_deltas);

async fn idle_streams_carry_keepalive_comments(backend: Backend) {
    let db = Database::new(backend).await;
    let mut env = sim_env();
    env.push(("BATON_PROVIDERS__SIM__LATENCY_MS".into(), "2500".into()));
    let baton = Baton::start(&db, env).await;

    let body = json!({"workflow": {"tasks": [{"id": "slow", "instructions": "Take your time."}]}});
    let response = baton.post_json("/stream/run", &body).await;
    let text = response.text().await.unwrap();
    assert!(text.contains(": keepalive"), "{text}");
    assert!(text.contains("event: stats"));
}
both_backends!(idle_streams_carry_keepalive_comments);
