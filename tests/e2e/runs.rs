//! `POST /run`, `POST /runs` and the read endpoints.

use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, both_backends, diamond, sim_env, types};

async fn a_multi_part_prompt_is_planned_run_and_assembled(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;

    let run = baton
        .run(&json!({"prompt": "Research the history of the bicycle. Then write a short blog post about it. Finally, suggest three titles for the post."}))
        .await;

    assert_eq!(run["status"], "succeeded", "{run:#}");
    let tasks = run["tasks"].as_array().unwrap();
    assert!(
        tasks.len() >= 2,
        "a multi-part prompt gives several tasks: {run:#}"
    );
    assert!(
        tasks
            .iter()
            .any(|t| !t["depends_on"].as_array().unwrap().is_empty()),
        "{run:#}"
    );
    for task in tasks {
        assert_eq!(task["status"], "succeeded", "{task:#}");
        assert!(!task["output"].as_str().unwrap().is_empty());
    }
    assert!(run["plan"]["tasks"].as_array().unwrap().len() == tasks.len());
    assert!(!run["output"].as_str().unwrap().trim().is_empty());
    assert!(
        run["usage"]["llm_calls"].as_u64().unwrap() > tasks.len() as u64,
        "plan + tasks + synthesis"
    );
    assert!(run["usage"]["tokens_in"].as_u64().unwrap() > 0);
    assert!(run["usage"]["cost_usd"].as_f64().unwrap() > 0.0);
    assert!(run["timings"]["duration_ms"].is_u64(), "{run:#}");
}
both_backends!(a_multi_part_prompt_is_planned_run_and_assembled);

/// `POST /run` answers with the run as the engine kept it from its own commits, not
/// read back: whatever a run went through (retried and repaired calls, fallbacks,
/// failed tasks, a budget that stops it before its tasks start), the answer is what
/// the journal holds (`Baton::run` compares it with `GET /runs/{id}`).
async fn post_run_answers_exactly_what_the_journal_holds(backend: Backend) {
    let db = Database::new(backend).await;
    let mut env = sim_env();
    env.push((
        "BATON_PROVIDERS__SIM__ERROR_RATE".to_owned(),
        "0.3".to_owned(),
    ));
    env.push((
        "BATON_PROVIDERS__SIM__MALFORMED_RATE".to_owned(),
        "0.2".to_owned(),
    ));
    let baton = Baton::start(&db, env).await;
    let planned = json!({"prompt": "Research the history of the bicycle. Then write a short blog post about it."});
    let mut over_budget = diamond();
    over_budget["options"]["budget_usd"] = json!(0.000_000_1);

    let mut runs = Vec::new();
    for _ in 0..4 {
        runs.push(baton.run(&diamond()).await);
        runs.push(baton.run(&planned).await);
    }
    runs.push(baton.run(&over_budget).await);

    let statuses: Vec<&str> = runs
        .iter()
        .map(|run| run["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses.last(),
        Some(&"failed"),
        "the budget stops the last run"
    );
    let retried = runs
        .iter()
        .flat_map(|run| run["tasks"].as_array().unwrap())
        .any(|task| task["attempts"].as_array().unwrap().len() > 1);
    assert!(retried, "some task needed more than one call: {statuses:?}");
    let stopped: Vec<&str> = runs.last().unwrap()["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| task["status"].as_str().unwrap())
        .collect();
    assert_eq!(stopped, ["failed", "skipped", "skipped", "skipped"]);
}
both_backends!(post_run_answers_exactly_what_the_journal_holds);

async fn a_workflow_skips_planning_and_runs_its_graph(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;

    let run = baton.run(&diamond()).await;

    assert_eq!(run["status"], "succeeded", "{run:#}");
    let ids: Vec<_> = run["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(ids, vec!["a", "b", "c", "d"]);
    // Four task calls and no planner or synthesis call (concat assembly).
    assert_eq!(run["usage"]["llm_calls"], 4, "{run:#}");
    // `{{a}}` in b's instructions was replaced by a's output (the sim quotes its task).
    let b_output = run["tasks"][1]["output"].as_str().unwrap();
    assert!(
        b_output.contains("Expand on the first fact: [simulated]"),
        "{b_output}"
    );
    let output = run["output"].as_str().unwrap();
    for id in ["a", "b", "c", "d"] {
        assert!(output.contains(&format!("## {id}")), "{output}");
    }
    let events = baton.events(run["id"].as_str().unwrap(), None).await;
    let plan_sources: Vec<_> = events
        .iter()
        .filter(|e| e.data["type"] == "plan")
        .map(|e| e.data["source"].clone())
        .collect();
    assert_eq!(plan_sources, vec![json!("workflow"), json!("workflow")]);
}
both_backends!(a_workflow_skips_planning_and_runs_its_graph);

async fn background_runs_are_listed_paged_and_inspectable(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;

    let mut ids = Vec::new();
    for n in 0..3 {
        let response = baton
            .post_json("/runs", &json!({"prompt": format!("Say hello number {n}")}))
            .await;
        assert_eq!(response.status(), 202);
        let location = response.headers()["location"].to_str().unwrap().to_owned();
        let body: Value = response.json().await.unwrap();
        let id = body["id"].as_str().unwrap().to_owned();
        assert_eq!(location, format!("/runs/{id}"));
        // The events endpoint follows the run to its end.
        let events = baton.events(&id, None).await;
        assert_eq!(types(&events).last().map(String::as_str), Some("stats"));
        ids.push(id);
    }

    let page: Value = baton.get_json("/runs?limit=2").await;
    let listed: Vec<_> = page["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(listed, vec![ids[2].clone(), ids[1].clone()], "newest first");
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = baton
        .get_json(&format!("/runs?limit=2&cursor={cursor}"))
        .await;
    assert_eq!(rest["runs"][0]["id"], ids[0].as_str());
    assert!(rest["next_cursor"].is_null());

    let succeeded: Value = baton.get_json("/runs?status=succeeded").await;
    assert_eq!(succeeded["runs"].as_array().unwrap().len(), 3);
    let failed: Value = baton.get_json("/runs?status=failed").await;
    assert!(failed["runs"].as_array().unwrap().is_empty());

    let tasks: Value = baton.get_json(&format!("/runs/{}/tasks", ids[0])).await;
    let task_id = tasks["tasks"][0]["id"].as_str().unwrap().to_owned();
    let task: Value = baton
        .get_json(&format!("/runs/{}/tasks/{task_id}", ids[0]))
        .await;
    let attempts = task["attempts"].as_array().unwrap();
    assert!(!attempts.is_empty(), "{task:#}");
    assert_eq!(attempts[0]["status"], "succeeded");
    assert_eq!(attempts[0]["provider"], "sim");
    assert!(attempts[0]["usage"]["input_tokens"].as_u64().unwrap() > 0);
}
both_backends!(background_runs_are_listed_paged_and_inspectable);

async fn an_idempotency_key_returns_the_same_run_and_refuses_another_body(backend: Backend) {
    let db = Database::new(backend).await;
    let baton = Baton::start(&db, sim_env()).await;
    let post = |body: Value| {
        baton
            .client
            .post(baton.url("/runs"))
            .header("idempotency-key", "key-1")
            .json(&body)
            .send()
    };

    let first: Value = post(json!({"prompt": "one"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let again = post(json!({"prompt": "one"})).await.unwrap();
    assert!(again.status().is_success());
    let again: Value = again.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);

    let other = post(json!({"prompt": "two"})).await.unwrap();
    assert_eq!(other.status(), 422);
    let problem: Value = other.json().await.unwrap();
    assert_eq!(problem["code"], "idempotency_conflict");

    let all: Value = baton.get_json("/runs").await;
    assert_eq!(
        all["runs"].as_array().unwrap().len(),
        1,
        "no second run was started"
    );
}
both_backends!(an_idempotency_key_returns_the_same_run_and_refuses_another_body);
