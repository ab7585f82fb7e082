//! Reading runs, their tasks and attempts; listing and paging; cancelling.

use baton_core::status::RunStatus;
use baton_server::ServerConfig;
use serde_json::{Value, json};

use crate::support::TestApp;

fn ids(page: &Value) -> Vec<String> {
    page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_run_has_its_status_request_plan_tasks_output_usage_cost_and_timings() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("Write about rivers").await;

    let run = app.get_run(run_id).await.ok(200);

    assert_eq!(run["id"], run_id.to_string());
    assert_eq!(run["status"], "succeeded");
    assert_eq!(run["request"]["prompt"], "Write about rivers");
    assert_eq!(run["plan"]["tasks"][1]["depends_on"], json!(["research"]));
    assert_eq!(run["output"], "the answer");
    assert!(run["error"].is_null());
    assert_eq!(
        run["usage"],
        json!({"llm_calls": 4, "tokens_in": 400, "tokens_out": 200, "cost_usd": 0.004})
    );
    assert_eq!(run["cost_usd"], 0.004);
    assert_eq!(run["timings"]["duration_ms"], 1500);
    for key in ["created_at", "started_at", "updated_at", "finished_at"] {
        assert!(run["timings"][key].is_string(), "{key}: {run:#}");
    }
    let tasks = run["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    assert_eq!(tasks[0]["id"], "research");
    assert_eq!(
        tasks[0]["title"], "research",
        "the id stands in for a missing title"
    );
    assert_eq!(tasks[1]["title"], "Write it");
    assert_eq!(tasks[1]["depends_on"], json!(["research"]));
    assert_eq!(tasks[1]["instructions"], "Write with {{research}}.");
    assert_eq!(tasks[0]["attempts"].as_array().unwrap().len(), 2);
    // The planner's call belongs to no task.
    assert_eq!(run["calls"].as_array().unwrap().len(), 1);
    assert_eq!(run["calls"][0]["kind"], "plan");
    assert!(run["calls"][0]["task_id"].is_null());
}

#[tokio::test]
async fn a_task_has_every_attempt_with_provider_model_tokens_cost_latency_and_outcome() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("Write about rivers").await;

    let task = app.get_run_task(run_id, "research").await.ok(200);

    assert_eq!(task["id"], "research");
    assert_eq!(task["status"], "succeeded");
    assert_eq!(task["output"], "output of research");
    assert_eq!(task["provider"], "sim");
    assert_eq!(task["timings"]["duration_ms"], 1500);
    let attempts = task["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["status"], "failed");
    assert_eq!(attempts[0]["error"], "rate limited (429)");
    assert_eq!(attempts[1]["status"], "succeeded");
    assert!(attempts[1]["error"].is_null());
    for attempt in attempts {
        assert_eq!(attempt["task_id"], "research");
        assert_eq!(attempt["kind"], "task");
        assert_eq!(attempt["provider"], "sim");
        assert_eq!(attempt["model"], "sim-small");
        assert_eq!(attempt["usage"]["input_tokens"], 100);
        assert_eq!(attempt["usage"]["output_tokens"], 50);
        assert_eq!(attempt["cost_usd"], 0.001);
        assert_eq!(attempt["reserved_cost_usd"], 0.01);
        assert_eq!(attempt["latency_ms"], 120);
    }
    assert_eq!(attempts[0]["number"], 1);
    assert_eq!(attempts[1]["number"], 2);
}

#[tokio::test]
async fn the_task_list_is_in_plan_order_with_attempts() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("Write about rivers").await;

    let body = app.list_run_tasks(run_id).await.ok(200);

    let tasks = body["tasks"].as_array().unwrap();
    let ids: Vec<_> = tasks.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["research", "write"]);
    assert_eq!(tasks[1]["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(tasks[1]["position"], 1);
}

#[tokio::test]
async fn an_unplanned_run_has_no_tasks_yet() {
    let app = TestApp::new().await;
    let run_id = app.seed_run("later", RunStatus::Queued).await;

    let run = app.get_run(run_id).await.ok(200);
    assert_eq!(run["status"], "queued");
    assert!(run["plan"].is_null());
    assert_eq!(run["tasks"], json!([]));
    assert!(run["timings"]["duration_ms"].is_null());
    assert_eq!(app.list_run_tasks(run_id).await.ok(200)["tasks"], json!([]));
    app.get_run_task(run_id, "a")
        .await
        .problem(404, "task_not_found", &["no tasks yet"]);
}

#[tokio::test]
async fn runs_are_listed_newest_first_a_page_at_a_time() {
    let app = TestApp::new().await;
    let mut created = Vec::new();
    for n in 0..5 {
        created.push(
            app.seed_run(&format!("run {n}"), RunStatus::Queued)
                .await
                .to_string(),
        );
    }
    created.sort();
    created.reverse();

    let first = app.list_runs("?limit=2").await.ok(200);
    assert_eq!(ids(&first), created[..2]);
    assert_eq!(first["runs"][0]["status"], "queued");
    assert!(
        first["runs"][0]["prompt"]
            .as_str()
            .unwrap()
            .starts_with("run ")
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    assert!(
        !created.iter().any(|id| cursor.contains(id.as_str())),
        "the cursor is opaque"
    );

    let second = app
        .list_runs(&format!("?limit=2&cursor={cursor}"))
        .await
        .ok(200);
    assert_eq!(ids(&second), created[2..4]);
    let cursor = second["next_cursor"].as_str().unwrap();

    let last = app
        .list_runs(&format!("?limit=2&cursor={cursor}"))
        .await
        .ok(200);
    assert_eq!(ids(&last), created[4..]);
    assert!(last["next_cursor"].is_null(), "the last page has no cursor");

    // A page that ends exactly at the last run has no cursor either.
    let all = app.list_runs("?limit=5").await.ok(200);
    assert_eq!(ids(&all), created);
    assert!(all["next_cursor"].is_null());
}

#[tokio::test]
async fn the_default_page_size_comes_from_the_configuration() {
    let app = TestApp::with_config(ServerConfig {
        default_page_size: 3,
        max_page_size: 4,
        ..ServerConfig::default()
    })
    .await;
    for n in 0..5 {
        app.seed_run(&format!("run {n}"), RunStatus::Queued).await;
    }
    let page = app.list_runs("").await.ok(200);
    assert_eq!(page["runs"].as_array().unwrap().len(), 3);
    assert!(page["next_cursor"].is_string());
    app.list_runs("?limit=5")
        .await
        .problem(400, "invalid_parameter", &["from 1 to 4"]);
}

#[tokio::test]
async fn runs_can_be_filtered_by_status() {
    let app = TestApp::new().await;
    let succeeded = app.seed_finished_run("done").await;
    let running = app.seed_run("busy", RunStatus::Running).await;

    let page = app.list_runs("?status=succeeded").await.ok(200);
    assert_eq!(ids(&page), [succeeded.to_string()]);
    let page = app.list_runs("?status=running").await.ok(200);
    assert_eq!(ids(&page), [running.to_string()]);
    assert_eq!(page["runs"][0]["usage"]["llm_calls"], 0);
    let page = app.list_runs("?status=failed").await.ok(200);
    assert_eq!(page, json!({"runs": [], "next_cursor": null}));
}

#[tokio::test]
async fn cancelling_a_finished_run_is_202_changes_nothing_and_is_idempotent() {
    let app = TestApp::new().await;
    let run_id = app.seed_finished_run("done").await;

    for _ in 0..2 {
        let run = app.cancel_run(run_id).await.ok(202);
        assert_eq!(run["id"], run_id.to_string());
        assert_eq!(run["status"], "succeeded");
    }
    assert_eq!(app.last_seq(run_id).await, 9, "no event was added");
}

#[tokio::test]
async fn a_submission_while_the_engine_shuts_down_is_a_503_problem_and_writes_nothing() {
    let app = TestApp::new().await;
    app.engine.shutdown().await;

    let body = json!({"prompt": "hello"});
    for response in [
        app.execute_run(&body).await,
        app.create_run(&body).await,
        app.stream_run(&body).await,
    ] {
        response.problem(503, "unavailable", &["try again later"]);
    }
    app.assert_no_runs().await;
}
