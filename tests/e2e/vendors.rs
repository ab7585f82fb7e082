//! The real binary against local fake vendors that speak each vendor's wire format:
//! runs complete with streamed deltas, usage and cost; failures cost exactly the calls
//! the retry policy allows; keys never leave the server.

use baton_testkit::{FakeVendor, Response, Vendor};
use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, both_backends, types};

const KEY: &str = "sk-test-baton-e2e-0123456789abcdef";

fn vendor_env(vendor: Vendor, fake: &FakeVendor) -> Vec<(String, String)> {
    let (key, base) = match vendor {
        Vendor::OpenAi => ("OPENAI_API_KEY", "OPENAI_BASE_URL"),
        Vendor::Anthropic => ("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL"),
        Vendor::Gemini => ("GEMINI_API_KEY", "GEMINI_BASE_URL"),
    };
    vec![
        (key.to_owned(), KEY.to_owned()),
        (base.to_owned(), fake.base_url()),
        (
            "BATON_ENGINE__RETRY__BASE_DELAY_MS".to_owned(),
            "1".to_owned(),
        ),
        (
            "BATON_ENGINE__RETRY__MAX_DELAY_MS".to_owned(),
            "5".to_owned(),
        ),
        ("BATON_SERVER__SSE_KEEPALIVE".to_owned(), "1s".to_owned()),
    ]
}

fn one_task() -> Value {
    json!({
        "workflow": {"tasks": [{"id": "only", "instructions": "Say hello."}]},
        "options": {"assemble": "concat"}
    })
}

/// Everything a client can read about a run, as one string, to search for secrets.
async fn everything_about(baton: &Baton, run_id: &str) -> String {
    let run = baton.get_json(&format!("/runs/{run_id}")).await;
    let task = baton.get_json(&format!("/runs/{run_id}/tasks/only")).await;
    let events = baton.events(run_id, None).await;
    format!("{run}{task}{events:?}")
}

async fn every_vendor_completes_a_streamed_run_with_usage_and_cost(backend: Backend) {
    for vendor in [Vendor::OpenAi, Vendor::Anthropic, Vendor::Gemini] {
        let db = Database::new(backend).await;
        let fake = FakeVendor::start(vendor).await;
        let baton = Baton::start(&db, vendor_env(vendor, &fake)).await;

        let events = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;

        let names = types(&events);
        assert_eq!(
            names.last().map(String::as_str),
            Some("stats"),
            "{vendor:?}: {names:?}"
        );
        let final_event = &events[events.len() - 2].data;
        assert_eq!(
            final_event["status"], "succeeded",
            "{vendor:?}: {final_event}"
        );
        let artifact = events
            .iter()
            .find(|e| e.data["type"] == "task_artifact")
            .unwrap();
        let output = artifact.data["output"].as_str().unwrap();
        assert!(
            output.starts_with("Hello from the fake"),
            "{vendor:?}: {output}"
        );
        let deltas: String = events
            .iter()
            .filter(|e| e.data["type"] == "task_delta")
            .map(|e| e.data["text"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(
            deltas, output,
            "{vendor:?}: tokens reach the client as task_delta events"
        );
        assert!(
            artifact.data["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{vendor:?}"
        );
        assert!(
            artifact.data["usage"]["output_tokens"].as_u64().unwrap() > 0,
            "{vendor:?}"
        );
        assert!(
            artifact.data["cost_usd"].as_f64().unwrap() > 0.0,
            "{vendor:?}: priced from the catalogue"
        );
        assert_eq!(fake.request_count(), 1, "{vendor:?}: one task, one call");
        assert!(
            fake.requests()[0].wants_stream(),
            "{vendor:?}: the call streamed"
        );

        let run_id = events[0].data["run_id"].as_str().unwrap();
        let task = baton.get_json(&format!("/runs/{run_id}/tasks/only")).await;
        let attempt = &task["attempts"][0];
        assert_eq!(attempt["status"], "succeeded");
        assert!(attempt["cost_usd"].as_f64().unwrap() > 0.0);
        assert!(
            !everything_about(&baton, run_id).await.contains(KEY),
            "{vendor:?}: the key leaked"
        );
    }
}
both_backends!(every_vendor_completes_a_streamed_run_with_usage_and_cost);

async fn transient_failures_are_retried_and_a_cut_stream_leaves_no_duplicate_text(
    backend: Backend,
) {
    let db = Database::new(backend).await;
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::json(
        500,
        json!({"error": {"message": "The server had an error", "type": "server_error"}}),
    ));
    fake.enqueue(
        Response::fixture_stream("openai/chat/stream-text-with-usage.sse").truncate_events(3),
    );
    let baton = Baton::start(&db, vendor_env(Vendor::OpenAi, &fake)).await;

    let events = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;

    let names = types(&events);
    assert_eq!(
        names.iter().filter(|n| *n == "task_retry").count(),
        2,
        "{names:?}"
    );
    assert_eq!(
        fake.request_count(),
        3,
        "exactly the calls the policy allows: 1 + 2 retries"
    );
    let final_event = &events[events.len() - 2].data;
    assert_eq!(final_event["status"], "succeeded", "{final_event}");
    let output = final_event["output"].as_str().unwrap();
    assert!(output.starts_with("Hello from the fake"), "{output}");
    // What streamed after the last task_start is exactly the answer: the cut stream's
    // text was not counted, and nothing is duplicated.
    let last_start = names.iter().rposition(|n| n == "task_start").unwrap();
    let fresh: String = events[last_start..]
        .iter()
        .filter(|e| e.data["type"] == "task_delta")
        .map(|e| e.data["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(fresh, output);

    let run_id = events[0].data["run_id"].as_str().unwrap();
    let task = baton.get_json(&format!("/runs/{run_id}/tasks/only")).await;
    let statuses: Vec<_> = task["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, vec!["failed", "failed", "succeeded"], "{task:#}");
    let cut = &task["attempts"][1];
    assert!(
        cut["usage"]["output_tokens"].as_u64().unwrap() > 0,
        "the cut stream's partial usage is kept: {cut}"
    );
    assert_eq!(cut["usage"]["estimated"], true, "{cut}");
}
both_backends!(transient_failures_are_retried_and_a_cut_stream_leaves_no_duplicate_text);

async fn a_permanent_error_is_not_retried_and_its_message_reaches_task_failed(backend: Backend) {
    let db = Database::new(backend).await;
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::json(
        401,
        json!({"error": {"message": format!("Incorrect API key provided: {KEY}."), "type": "invalid_request_error", "code": "invalid_api_key"}}),
    ));
    let baton = Baton::start(&db, vendor_env(Vendor::OpenAi, &fake)).await;

    let run = baton.run(&one_task()).await;

    assert_eq!(run["status"], "failed", "{run:#}");
    assert_eq!(
        fake.request_count(),
        1,
        "an authentication failure is not retried"
    );
    let run_id = run["id"].as_str().unwrap();
    let events = baton.events(run_id, None).await;
    let failed = events
        .iter()
        .find(|e| e.data["type"] == "task_failed")
        .unwrap();
    let error = failed.data["error"].as_str().unwrap();
    assert!(error.contains("Incorrect API key provided"), "{error}");
    assert!(
        !everything_about(&baton, run_id).await.contains(KEY),
        "the key leaked"
    );
}
both_backends!(a_permanent_error_is_not_retried_and_its_message_reaches_task_failed);
