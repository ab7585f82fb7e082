//! The real binary against local fake vendors that speak each vendor's wire format:
//! runs complete with streamed deltas, usage and cost; failures cost exactly the calls
//! the retry policy allows; keys never leave the server.

use baton_testkit::{FakeVendor, Response, Vendor};
use serde_json::{Value, json};

use crate::support::{Backend, Baton, Database, SseEvent, both_backends, types};

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

/// The answer of the retry tests; a cut attempt streams its first words, so duplicated
/// text would show.
const ANSWER: &str = "The quick brown fox jumps over the lazy dog.";

/// A 500 in the vendor's own error format.
fn server_error(vendor: Vendor) -> Response {
    let body = match vendor {
        Vendor::OpenAi => {
            json!({"error": {"message": "The server had an error", "type": "server_error"}})
        }
        Vendor::Anthropic => {
            json!({"type": "error", "error": {"type": "api_error", "message": "Internal server error"}})
        }
        Vendor::Gemini => {
            json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}})
        }
    };
    Response::json(500, body)
}

/// [`ANSWER`] streamed in the vendor's format but closed cleanly after its first two
/// words ("The quick "): no finish reason, no final usage, no end marker.
fn answer_cut_after_two_words(vendor: Vendor) -> Response {
    // The events before the first text: OpenAI's role chunk; Anthropic's message_start,
    // content_block_start and ping; none for Gemini.
    let preamble = match vendor {
        Vendor::OpenAi => 1,
        Vendor::Anthropic => 3,
        Vendor::Gemini => 0,
    };
    Response::answer(ANSWER).truncate_events(preamble + 2)
}

/// The `task_delta` texts of `events`, joined.
fn delta_text(events: &[SseEvent]) -> String {
    events
        .iter()
        .filter(|e| e.data["type"] == "task_delta")
        .map(|e| e.data["text"].as_str().unwrap().to_owned())
        .collect()
}

async fn transient_failures_are_retried_and_a_cut_stream_leaves_no_duplicate_text(
    backend: Backend,
) {
    for vendor in [Vendor::OpenAi, Vendor::Anthropic, Vendor::Gemini] {
        let db = Database::new(backend).await;
        let fake = FakeVendor::start(vendor).await;
        fake.enqueue(server_error(vendor));
        fake.enqueue(answer_cut_after_two_words(vendor));
        fake.enqueue(Response::answer(ANSWER));
        let baton = Baton::start(&db, vendor_env(vendor, &fake)).await;

        let events = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;

        assert_eq!(
            fake.request_count(),
            3,
            "{vendor:?}: exactly the calls the policy allows: 1 + 2 retries"
        );
        let final_event = &events[events.len() - 2].data;
        assert_eq!(
            final_event["status"], "succeeded",
            "{vendor:?}: {final_event}"
        );
        assert_eq!(final_event["output"], ANSWER, "{vendor:?}");

        // task_start(1) task_retry(1) task_start(2) deltas… task_retry(2) task_start(3)
        // deltas… task_artifact: a retry sits between each two attempts.
        let names = types(&events);
        let at = |name: &str| -> Vec<usize> {
            names
                .iter()
                .enumerate()
                .filter(|(_, n)| *n == name)
                .map(|(i, _)| i)
                .collect()
        };
        let (starts, retries) = (at("task_start"), at("task_retry"));
        assert_eq!(
            (starts.len(), retries.len()),
            (3, 2),
            "{vendor:?}: {names:?}"
        );
        for i in 0..2 {
            assert!(
                starts[i] < retries[i] && retries[i] < starts[i + 1],
                "{vendor:?}: a task_retry between attempts {} and {}: {names:?}",
                i + 1,
                i + 2
            );
            assert_eq!(
                events[retries[i]].data["attempt"], events[starts[i]].data["attempt"],
                "{vendor:?}: the retry names the attempt that failed"
            );
        }
        let attempts: Vec<_> = starts.iter().map(|&i| &events[i].data["attempt"]).collect();
        assert_eq!(attempts, vec![1, 2, 3], "{vendor:?}");
        let cut_error = events[retries[1]].data["error"].as_str().unwrap();
        assert!(
            cut_error.contains("stream ended before"),
            "{vendor:?}: {cut_error}"
        );

        // The cut attempt's words reached the client, and then the retry's whole answer,
        // once: what streamed after the last task_start is exactly the output.
        assert_eq!(delta_text(&events[..starts[1]]), "", "{vendor:?}");
        assert_eq!(
            delta_text(&events[starts[1]..retries[1]]),
            "The quick ",
            "{vendor:?}: the cut stream's partial text, a prefix of the answer"
        );
        assert_eq!(
            delta_text(&events[starts[2]..]),
            ANSWER,
            "{vendor:?}: the retry starts the output afresh"
        );
        let artifact = events
            .iter()
            .find(|e| e.data["type"] == "task_artifact")
            .unwrap();
        assert_eq!(artifact.data["output"], ANSWER, "{vendor:?}");

        let run_id = events[0].data["run_id"].as_str().unwrap();
        let task = baton.get_json(&format!("/runs/{run_id}/tasks/only")).await;
        let statuses: Vec<_> = task["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["status"].clone())
            .collect();
        assert_eq!(
            statuses,
            vec!["failed", "failed", "succeeded"],
            "{vendor:?}: {task:#}"
        );
        let cut = &task["attempts"][1];
        assert!(
            cut["usage"]["output_tokens"].as_u64().unwrap() > 0
                && cut["usage"]["input_tokens"].as_u64().unwrap() > 0,
            "{vendor:?}: the cut stream's partial usage is kept: {cut}"
        );
        assert_eq!(cut["usage"]["estimated"], true, "{vendor:?}: {cut}");
        let done = &task["attempts"][2];
        assert_eq!(done["usage"]["estimated"], false, "{vendor:?}: {done}");
    }
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

async fn a_named_compatible_server_from_a_config_file_gets_its_quirks_and_no_key(backend: Backend) {
    let db = Database::new(backend).await;
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    fake.enqueue(Response::answer_with_usage(ANSWER, 21, 11));
    let config = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    std::fs::write(
        config.path(),
        format!(
            "[providers.compatible.ollama]\nbase_url = \"{}\"\nmodels = [\"m\"]\n",
            fake.base_url()
        ),
    )
    .unwrap();
    let baton = Baton::start_with_args(
        &db,
        &["--config", config.path().to_str().unwrap()],
        vec![("BATON_SERVER__SSE_KEEPALIVE".to_owned(), "1s".to_owned())],
    )
    .await;

    let events = Baton::read_events(baton.post_json("/stream/run", &one_task()).await).await;

    let final_event = &events[events.len() - 2].data;
    assert_eq!(final_event["status"], "succeeded", "{final_event}");
    assert_eq!(final_event["output"], ANSWER);
    assert_eq!(
        delta_text(&events),
        ANSWER,
        "tokens reach the client as deltas"
    );
    let start = events
        .iter()
        .find(|e| e.data["type"] == "task_start")
        .unwrap();
    assert_eq!(
        (&start.data["provider"], &start.data["model"]),
        (&json!("ollama"), &json!("m")),
        "routed to the named entry, and the sim is off beside it: {}",
        start.data
    );
    let artifact = events
        .iter()
        .find(|e| e.data["type"] == "task_artifact")
        .unwrap();
    assert_eq!(
        (
            &artifact.data["usage"]["input_tokens"],
            &artifact.data["usage"]["output_tokens"]
        ),
        (&json!(21), &json!(11)),
        "the server's own usage: {}",
        artifact.data
    );
    assert_eq!(
        artifact.data["cost_usd"], 0.0,
        "a local model is free: {}",
        artifact.data
    );

    assert_eq!(fake.request_count(), 1, "one task, one call");
    let request = &fake.requests()[0];
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        None,
        "no key is configured, so none is sent"
    );
    let body = request.json().unwrap();
    assert_eq!(body["model"], "m");
    assert!(
        body["max_tokens"].as_u64().is_some_and(|n| n > 0),
        "the ollama profile names the limit max_tokens: {body}"
    );
    assert!(body.get("max_completion_tokens").is_none(), "{body}");
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"], json!({"include_usage": true}));
}
both_backends!(a_named_compatible_server_from_a_config_file_gets_its_quirks_and_no_key);
