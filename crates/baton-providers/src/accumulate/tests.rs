//! Tests for the stream accumulator.

use super::*;

fn start(index: u64, id: &str, name: &str) -> StreamEvent {
    StreamEvent::ToolCallStart {
        index,
        id: id.to_owned(),
        name: name.to_owned(),
        arguments: String::new(),
    }
}

fn args(index: u64, fragment: &str) -> StreamEvent {
    StreamEvent::ToolCallArguments {
        index,
        fragment: fragment.to_owned(),
    }
}

#[test]
fn tool_call_fragments_accumulate_per_index_in_index_order() {
    let mut acc = StreamAccumulator::new(5);
    for event in [
        start(1, "b", "second"),
        start(0, "a", "first"),
        args(1, "{\"y\":"),
        args(0, "{}"),
        args(1, "2}"),
    ] {
        acc.apply(event);
    }
    acc.apply(StreamEvent::Finish(FinishReason::ToolCalls));
    let completion = acc.finish();
    let calls: Vec<(&str, &str, &str)> = completion
        .tool_calls
        .iter()
        .map(|c| (c.id.as_str(), c.name.as_str(), c.arguments.as_str()))
        .collect();
    assert_eq!(
        calls,
        vec![("a", "first", "{}"), ("b", "second", "{\"y\":2}")]
    );
}

#[test]
fn tool_call_without_arguments_gets_the_empty_object() {
    let mut acc = StreamAccumulator::new(5);
    acc.apply(start(0, "a", "no_args"));
    acc.apply(args(0, ""));
    assert_eq!(acc.finish().tool_calls[0].arguments, "{}");
}

#[test]
fn whole_tool_calls_get_ids_when_the_vendor_gives_none() {
    let mut acc = StreamAccumulator::new(5);
    for _ in 0..2 {
        acc.apply(StreamEvent::ToolCallWhole {
            id: None,
            name: "f".to_owned(),
            arguments: "{}".to_owned(),
        });
    }
    let ids: Vec<String> = acc.finish().tool_calls.into_iter().map(|c| c.id).collect();
    assert_eq!(ids, vec!["call_0", "call_1"]);
}

#[test]
fn text_steps_carry_the_delta_and_keep_alives_are_not_progress() {
    let mut acc = StreamAccumulator::new(5);
    assert_eq!(
        acc.apply(StreamEvent::Text("hi".to_owned())),
        Step::Progress(Some("hi".to_owned()))
    );
    assert_eq!(
        acc.apply(StreamEvent::Text(String::new())),
        Step::Progress(None)
    );
    assert_eq!(acc.apply(StreamEvent::KeepAlive), Step::KeepAlive);
    assert_eq!(acc.apply(StreamEvent::Done), Step::Done);
}

#[test]
fn later_usage_reports_replace_earlier_ones_field_by_field() {
    let mut acc = StreamAccumulator::new(5);
    acc.apply(StreamEvent::Usage(UsageReport {
        input: Some(11),
        output: Some(1),
        cached: Some(3),
        reasoning: None,
    }));
    acc.apply(StreamEvent::Usage(UsageReport {
        output: Some(6),
        ..UsageReport::default()
    }));
    acc.apply(StreamEvent::Finish(FinishReason::Stop));
    let usage = acc.finish().usage;
    assert_eq!(
        usage,
        Usage {
            input_tokens: 11,
            output_tokens: 6,
            cached_input_tokens: 3,
            reasoning_tokens: 0,
            estimated: false
        }
    );
}

#[test]
fn partial_usage_is_estimated_and_never_zero() {
    let acc = StreamAccumulator::new(0);
    let usage = acc.partial_usage();
    assert!(usage.estimated);
    assert_eq!(usage.input_tokens, 1);

    let mut acc = StreamAccumulator::new(40);
    acc.apply(StreamEvent::Usage(UsageReport {
        input: Some(100),
        output: Some(1),
        ..UsageReport::default()
    }));
    acc.apply(StreamEvent::Text("x".repeat(400)));
    let usage = acc.partial_usage();
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.estimated),
        (100, 100, true)
    );
}

#[test]
fn completion_without_vendor_usage_is_estimated_from_the_text() {
    let mut acc = StreamAccumulator::new(40);
    acc.apply(StreamEvent::Text("12345678".to_owned()));
    acc.apply(StreamEvent::Done);
    let usage = acc.finish().usage;
    assert_eq!(
        (usage.input_tokens, usage.output_tokens, usage.estimated),
        (40, 2, true)
    );
}

#[test]
fn prompt_estimate_counts_system_and_messages() {
    let request = CompletionRequest {
        model: "m".to_owned(),
        kind: baton_core::status::CallKind::Task,
        system: Some("abcd".into()),
        messages: vec![crate::provider::Message::user("abcdefgh")],
        max_output_tokens: 10,
        temperature: None,
        json_schema: None,
        seed: None,
        stream: false,
    };
    assert_eq!(estimate_prompt_tokens(&request), 3);
}
