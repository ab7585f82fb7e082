//! `POST /stream/run` and `GET /runs/{id}/events` as SSE.

use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, SseEvent, both_backends, diamond, sim_env, types};

fn position(types: &[String], wanted: &str, task: Option<&str>, events: &[SseEvent]) -> usize {
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

    check_frames(&events, 1);
    assert_eq!(events[events.len() - 2].data["status"], "succeeded");
}
both_backends!(stream_run_sends_every_event_in_causal_order);

/// Checks the SSE framing of consecutive events of one run: `id:` is the seq, counting
/// from `first_seq` with no gap; `event:` is the type; `data:` has `type`, `run_id`,
/// `seq` and `ts`.
fn check_frames(events: &[SseEvent], first_seq: u64) {
    let run_id = &events[0].data["run_id"];
    assert!(run_id.is_string(), "{:?}", events[0]);
    for (index, event) in events.iter().enumerate() {
        let seq = first_seq + index as u64;
        assert_eq!(
            event.id.as_deref(),
            Some(seq.to_string().as_str()),
            "ids count from {first_seq} with no gaps or repeats: {:?}",
            types(events)
        );
        assert_eq!(event.data["seq"], seq);
        assert_eq!(&event.data["run_id"], run_id);
        assert_eq!(event.event.as_deref(), event.data["type"].as_str());
        assert!(event.data["ts"].is_string());
    }
}

/// The ids of a plan's tasks and the ids each depends on.
fn plan_graph(plan: &Value) -> Vec<(String, Vec<String>)> {
    let strings = |value: &Value| -> Vec<String> {
        value
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    };
    plan["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("a completed plan lists its tasks: {plan}"))
        .iter()
        .map(|task| {
            (
                task["id"].as_str().unwrap().to_owned(),
                strings(&task["depends_on"]),
            )
        })
        .collect()
}

async fn a_planned_stream_run_sends_every_event_in_causal_order(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;
    let body = json!({"prompt": "Research the history of the bicycle. Then write a short blog post about it. Finally, suggest three titles for the post."});

    let events = Baton::read_events(baton.post_json("/stream/run", &body).await).await;

    let names = types(&events);
    assert_eq!(&names[..3], ["run_created", "plan", "plan"], "{names:?}");
    assert_eq!(events[1].data["phase"], "started");
    let plan = &events[2].data;
    assert_eq!(plan["phase"], "completed");
    assert_eq!(plan["source"], "planner", "{plan}");
    assert_ne!(plan["fallback"], true, "not the fallback: {plan}");
    let graph = plan_graph(plan);
    assert!(
        graph.len() >= 2,
        "a multi-part prompt gives several tasks: {plan}"
    );
    assert!(
        graph.iter().any(|(_, depends_on)| !depends_on.is_empty()),
        "some task depends on another: {plan}"
    );

    let assemble = position(&names, "assemble_start", None, &events);
    for (task, depends_on) in &graph {
        let decision = position(&names, "decision", Some(task), &events);
        let start = position(&names, "task_start", Some(task), &events);
        let artifact = position(&names, "task_artifact", Some(task), &events);
        let verified = position(&names, "task_verified", Some(task), &events);
        assert!(
            2 < decision
                && decision < start
                && start < artifact
                && artifact < verified
                && verified < assemble,
            "{task}: plan < decision < task_start < task_artifact < task_verified < assemble_start: {names:?}"
        );
        for dependency in depends_on {
            assert!(
                position(&names, "task_verified", Some(dependency), &events) < start,
                "{dependency} is verified before {task} starts: {names:?}"
            );
        }
    }
    assert_eq!(
        &names[names.len() - 3..],
        ["assemble_start", "final", "stats"],
        "{names:?}"
    );
    assert_eq!(events[events.len() - 2].data["status"], "succeeded");
    check_frames(&events, 1);
}
both_backends!(a_planned_stream_run_sends_every_event_in_causal_order);

async fn reconnecting_mid_run_replays_what_was_missed_then_follows_it_live(backend: Backend) {
    // Arrange: a background run whose every call takes a second, so it is still
    // running while the client drops its stream and comes back.
    let db = Database::new(backend).await;
    let mut env = sim_env();
    env.push(("BATON_PROVIDERS__SIM__LATENCY_MS".into(), "1000".into()));
    let baton = Baton::start(&db, env).await;
    let created = baton.post_json("/runs", &diamond()).await;
    assert_eq!(created.status(), 202);
    let created: Value = created.json().await.unwrap();
    let run_id = created["id"].as_str().unwrap().to_owned();

    // Act: follow the run up to the first call, drop the stream, reconnect.
    let mut first = baton.follow_events(&run_id, None).await;
    let before = first.until(|e| e.data["type"] == "task_start").await;
    drop(first);
    let last_seen = before.last().unwrap().data["seq"].as_u64().unwrap();
    let mut second = baton.follow_events(&run_id, Some(last_seen)).await;
    let run: Value = baton.get_json(&format!("/runs/{run_id}")).await;
    assert_eq!(
        run["status"], "running",
        "the reconnection happened mid-run, so what follows arrives live"
    );
    let after = second.rest().await;

    // Assert: the second stream starts right after the last event seen and runs, with
    // no gap and no repeat, to the run's last event.
    check_frames(&before, 1);
    check_frames(&after, last_seen + 1);
    let after_names = types(&after);
    assert_eq!(
        after_names.last().map(String::as_str),
        Some("stats"),
        "{after_names:?}"
    );
    assert!(after_names.contains(&"final".to_owned()));
    let whole = [before, after].concat();
    assert_eq!(
        whole,
        baton.events(&run_id, None).await,
        "the two streams together are the run's journaled events"
    );
}
both_backends!(reconnecting_mid_run_replays_what_was_missed_then_follows_it_live);

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
