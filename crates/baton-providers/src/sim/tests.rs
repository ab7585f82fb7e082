use baton_core::status::CallKind;

use super::answer::split_parts;
use super::*;
use crate::provider::{JsonSchemaFormat, Message};

fn request(kind: CallKind, text: &str) -> CompletionRequest {
    CompletionRequest {
        model: "sim-fast".into(),
        kind,
        system: None,
        messages: vec![Message::user(text)],
        max_output_tokens: 512,
        temperature: None,
        json_schema: None,
        seed: None,
        stream: false,
    }
}

fn fast() -> SimProvider {
    SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    })
}

#[tokio::test]
async fn the_same_request_and_seed_give_the_same_answer() {
    let sim = fast();
    let ask = request(CallKind::Task, "Write about rivers.");
    let first = sim.complete(&ask, None).await.unwrap();
    let second = sim.complete(&ask, None).await.unwrap();
    assert_eq!(first, second);
    assert!(first.text.contains("[simulated]"));
    assert!(
        first.usage.input_tokens > 0 && first.usage.output_tokens > 0 && !first.usage.estimated
    );
}

#[tokio::test]
async fn plans_judgements_and_assessments_are_json() {
    let sim = fast();
    let plan = sim
        .complete(
            &request(
                CallKind::Plan,
                &format!("Plan:\n{REQUEST_START}\nWrite a poem.\n{REQUEST_END}"),
            ),
            None,
        )
        .await
        .unwrap();
    let plan: serde_json::Value = serde_json::from_str(&plan.text).unwrap();
    assert_eq!(plan["tasks"][0]["instructions"], "Write a poem.");
    for kind in [CallKind::Judge, CallKind::Assess] {
        let answer = sim
            .complete(&request(kind, "anything"), None)
            .await
            .unwrap();
        assert!(
            serde_json::from_str::<serde_json::Value>(&answer.text).is_ok(),
            "{kind}: {}",
            answer.text
        );
    }
}

#[test]
fn multi_part_prompts_split_into_parts() {
    assert_eq!(
        split_parts(
            "Research the history of the bicycle. Then write a short blog post about it. Finally, suggest three titles."
        ),
        vec![
            "Research the history of the bicycle.",
            "Then write a short blog post about it.",
            "Finally, suggest three titles."
        ]
    );
    assert_eq!(
        split_parts("1. Find facts\n2. Write a summary of them"),
        vec!["Find facts", "Write a summary of them"]
    );
    assert_eq!(
        split_parts("Write a haiku about rivers"),
        vec!["Write a haiku about rivers"]
    );
}

#[tokio::test]
async fn structured_output_matches_simple_schemas() {
    let sim = fast();
    let mut ask = request(CallKind::Task, "Give a person.");
    ask.json_schema = Some(JsonSchemaFormat {
        name: "person".into(),
        schema: serde_json::json!({"type": "object", "properties": {
            "name": {"type": "string"}, "age": {"type": "integer", "minimum": 3}, "tags": {"type": "array", "items": {"type": "string"}}
        }, "required": ["name", "age", "tags"]}),
    });
    let answer = sim.complete(&ask, None).await.unwrap();
    let value: serde_json::Value = serde_json::from_str(&answer.text).unwrap();
    assert!(value["name"].is_string() && value["age"] == 3 && value["tags"].is_array());
}

#[tokio::test]
async fn streamed_pieces_concatenate_to_the_text() {
    let sim = fast();
    let mut ask = request(CallKind::Task, "Write two sentences about rivers.");
    ask.stream = true;
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let completion = sim.complete(&ask, Some(&sender)).await.unwrap();
    drop(sender);
    let mut streamed = String::new();
    let mut count = 0;
    while let Some(piece) = receiver.recv().await {
        streamed.push_str(&piece);
        count += 1;
    }
    assert!(count > 1);
    assert_eq!(streamed, completion.text);
}

#[tokio::test]
async fn error_and_malformed_rates_are_honoured() {
    let failing = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        error_rate: 1.0,
        ..SimConfig::default()
    });
    let err = failing
        .complete(&request(CallKind::Task, "x"), None)
        .await
        .unwrap_err();
    assert!(err.is_transient());
    let garbled = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        malformed_rate: 1.0,
        ..SimConfig::default()
    });
    let plan = garbled
        .complete(&request(CallKind::Plan, "x"), None)
        .await
        .unwrap();
    assert!(serde_json::from_str::<serde_json::Value>(&plan.text).is_err());
}

#[tokio::test(start_paused = true)]
async fn latency_is_simulated_with_the_tokio_clock() {
    let slow = SimProvider::new(SimConfig {
        latency_ms: 5_000,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let began = tokio::time::Instant::now();
    slow.complete(&request(CallKind::Task, "x"), None)
        .await
        .unwrap();
    assert_eq!(began.elapsed(), Duration::from_secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_gauge_counts_calls_in_flight_and_their_peak() {
    let sim = SimProvider::new(SimConfig {
        latency_ms: 1_000,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let gauge = sim.gauge();
    let ask = request(CallKind::Task, "x");
    let calls: Vec<_> = (0..3).map(|_| sim.complete(&ask, None)).collect();
    let mut all = std::pin::pin!(futures_util::future::join_all(calls));
    // One poll starts the three calls; the paused clock holds them in flight.
    let pending =
        std::future::poll_fn(|cx| std::task::Poll::Ready(all.as_mut().poll(cx).is_pending())).await;
    assert!(pending);
    assert_eq!((gauge.in_flight(), gauge.peak(), gauge.calls()), (3, 3, 3));
    for result in all.await {
        result.unwrap();
    }
    assert_eq!((gauge.in_flight(), gauge.peak(), gauge.calls()), (0, 3, 3));
    gauge.reset();
    assert_eq!((gauge.peak(), gauge.calls()), (0, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_leaves_the_gauge_and_clones_share_it() {
    let sim = SimProvider::new(SimConfig {
        latency_ms: 1_000,
        latency_jitter_ms: 0,
        ..SimConfig::default()
    });
    let twin = SimProvider::with_gauge(SimConfig::default(), sim.gauge());
    let ask = request(CallKind::Task, "x");
    let call = twin.complete(&ask, None);
    let timed_out = tokio::time::timeout(Duration::from_millis(10), call).await;
    assert!(timed_out.is_err());
    let gauge = sim.gauge();
    assert_eq!((gauge.in_flight(), gauge.peak(), gauge.calls()), (0, 1, 1));
}

fn chaotic(seed: u64) -> SimProvider {
    SimProvider::new(SimConfig {
        seed,
        latency_ms: 0,
        latency_jitter_ms: 0,
        error_rate: 0.5,
        malformed_rate: 0.3,
        ..SimConfig::default()
    })
}

#[tokio::test]
async fn a_repeated_request_meets_fresh_luck_but_says_the_same() {
    let sim = chaotic(7);
    let ask = request(CallKind::Task, "Write about rivers.");
    let mut outcomes = Vec::new();
    for _ in 0..24 {
        outcomes.push(sim.complete(&ask, None).await);
    }

    assert!(outcomes.iter().any(Result::is_err), "some calls fail");
    let answers: Vec<&str> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok())
        .map(|completion| completion.text.as_str())
        .filter(|text| !text.is_empty())
        .collect();
    assert!(!answers.is_empty(), "a retried call can succeed");
    assert!(
        answers.iter().all(|text| *text == answers[0]),
        "{answers:?}"
    );

    // The n-th repeat of a request behaves the same in every run.
    let again = chaotic(7);
    for expected in &outcomes {
        assert_eq!(&again.complete(&ask, None).await, expected);
    }
}

#[tokio::test]
async fn the_order_of_other_calls_changes_nothing() {
    let first = request(CallKind::Task, "Write about rivers.");
    let second = request(
        CallKind::Plan,
        "Research bees. Then write a poem about them.",
    );

    let one_way = chaotic(3);
    let a1 = one_way.complete(&first, None).await;
    let b1 = one_way.complete(&second, None).await;
    let other_way = chaotic(3);
    let b2 = other_way.complete(&second, None).await;
    let a2 = other_way.complete(&first, None).await;

    assert_eq!(a1, a2);
    assert_eq!(b1, b2);
}

#[tokio::test(start_paused = true)]
async fn latency_and_error_knobs_never_change_what_a_call_says() {
    let ask = request(CallKind::Task, "Write about rivers.");
    let calm = fast().complete(&ask, None).await.unwrap();
    let jittery = SimProvider::new(SimConfig {
        latency_ms: 10,
        latency_jitter_ms: 500,
        error_rate: 0.000_001,
        ..SimConfig::default()
    });

    assert_eq!(jittery.complete(&ask, None).await.unwrap().text, calm.text);
}

#[tokio::test]
async fn answers_stop_at_the_output_allowance() {
    let mut ask = request(CallKind::Task, "Write about rivers.");
    ask.max_output_tokens = 3;

    let completion = fast().complete(&ask, None).await.unwrap();

    assert!(completion.text.len() <= 12, "{}", completion.text);
    assert_eq!(completion.finish_reason, FinishReason::Length);
    assert_eq!(completion.usage.output_tokens, 3);
}

#[tokio::test]
async fn malformed_plans_are_cut_short_in_any_script() {
    let garbled = SimProvider::new(SimConfig {
        latency_ms: 0,
        latency_jitter_ms: 0,
        malformed_rate: 1.0,
        ..SimConfig::default()
    });
    // Mostly three-byte characters, so half the bytes is far fewer than half the text.
    let prompt = "研究自行车的历史并写一篇关于它的短文".repeat(5);
    let ask = request(
        CallKind::Plan,
        &format!("{REQUEST_START}\n{prompt}\n{REQUEST_END}"),
    );

    let plan = garbled.complete(&ask, None).await.unwrap();

    assert!(!plan.text.is_empty());
    assert!(
        serde_json::from_str::<serde_json::Value>(&plan.text).is_err(),
        "{}",
        plan.text
    );
}

/// The sim's plan for a prompt, one line per task: `id <- deps: instructions`.
fn plan_outline(prompt: &str) -> String {
    let ask = request(
        CallKind::Plan,
        &format!("Plan this.\n{REQUEST_START}\n{prompt}\n{REQUEST_END}"),
    );
    let text = answer::answer(&ask, &mut Dice::from_key(0), false);
    let plan: serde_json::Value = serde_json::from_str(&text).unwrap();
    plan["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|task| {
            let deps: Vec<&str> = task["depends_on"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap())
                .collect();
            format!(
                "{} <- [{}]: {}",
                task["id"].as_str().unwrap(),
                deps.join(", "),
                task["instructions"].as_str().unwrap()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn prompts_become_plans_whose_order_follows_the_wording() {
    let cases = [
        (
            "Write a haiku about rivers",
            "step_1 <- []: Write a haiku about rivers",
        ),
        (
            "Research the history of the bicycle. Then write a short blog post about it. Finally, suggest three titles for the post.",
            "step_1 <- []: Research the history of the bicycle.\n\
             step_2 <- [step_1]: Then write a short blog post about it.\n\
             step_3 <- [step_2]: Finally, suggest three titles for the post.",
        ),
        (
            "Research bikes, then write a post about cycling",
            "step_1 <- []: Research bikes.\n\
             step_2 <- [step_1]: Then write a post about cycling",
        ),
        (
            "1) Research bikes 2) draft a blog post 3) suggest five titles",
            "step_1 <- []: Research bikes\n\
             step_2 <- []: draft a blog post\n\
             step_3 <- [step_1, step_2]: suggest five titles",
        ),
        (
            "Plan a weekend trip:\n- book the flights\n- find a hotel near the centre\n- write an itinerary",
            "step_1 <- []: book the flights (part of: Plan a weekend trip)\n\
             step_2 <- []: find a hotel near the centre (part of: Plan a weekend trip)\n\
             step_3 <- [step_1, step_2]: write an itinerary (part of: Plan a weekend trip)",
        ),
        (
            "Find three facts about owls\nWrite a poem using them",
            "step_1 <- []: Find three facts about owls\n\
             step_2 <- [step_1]: Write a poem using them",
        ),
        (
            "Compare Rust and Go; summarise the differences in a table",
            "step_1 <- []: Compare Rust and Go.\n\
             step_2 <- [step_1]: summarise the differences in a table",
        ),
    ];
    for (prompt, expected) in cases {
        assert_eq!(plan_outline(prompt), expected, "prompt: {prompt:?}");
    }
}
