//! Tests for stream framing and fixture loading.

use super::*;
use crate::fixtures::split_sse;

#[test]
fn framing_applies_crlf_padding_and_comments() {
    let options = StreamOptions {
        crlf: true,
        pad_data: true,
        comments: true,
        ..StreamOptions::default()
    };
    let framed = String::from_utf8(options.frame("event: x\ndata: {}")).unwrap();
    assert_eq!(
        framed,
        ": keep-alive\r\n\r\nevent: x\r\ndata: {}      \r\n\r\n"
    );
}

#[test]
fn split_every_cuts_inside_utf8_characters() {
    let options = StreamOptions {
        chunk_size: Some(3),
        ..StreamOptions::default()
    };
    let framed = options.frame("data: é🌍");
    let pieces = options.pieces(framed.clone());
    assert!(
        pieces
            .iter()
            .any(|piece| std::str::from_utf8(piece).is_err())
    );
    assert_eq!(pieces.concat(), framed);
}

#[test]
fn selection_drops_done_truncates_and_appends() {
    let options = StreamOptions {
        without_done: true,
        keep_events: Some(1),
        extra_events: vec!["data: extra".to_owned()],
        ..StreamOptions::default()
    };
    let events = vec![
        "data: 1".to_owned(),
        "data: 2".to_owned(),
        "data:  [DONE] ".to_owned(),
    ];
    assert_eq!(options.select(events), vec!["data: 1", "data: extra"]);
}

#[test]
fn recorded_streams_split_into_events() {
    assert_eq!(
        split_sse("data: a\r\n\r\ndata: b\n\n\n"),
        vec!["data: a", "data: b"]
    );
    let events =
        crate::fixtures::fixture_events("anthropic/stream-tool-use-empty-input.events.jsonl");
    assert!(events[0].starts_with("event: message_start\ndata: {"));
    let events = crate::fixtures::fixture_events("gemini/stream-text.chunks.jsonl");
    assert_eq!(events.len(), 3);
    assert!(events.iter().all(|event| event.starts_with("data: {")));
}

#[test]
fn exchanges_replay_status_headers_and_body() {
    let response = Response::fixture_exchange("anthropic/exchange-429-429-then-stream.json", 0);
    assert_eq!(response.status, 429);
    assert!(
        response
            .headers
            .iter()
            .any(|(k, v)| k == "x-should-retry" && v == "true")
    );
    assert!(response.headers.iter().all(|(k, _)| k != "content-length"));
    let stream = Response::fixture_exchange("anthropic/exchange-429-429-then-stream.json", 2);
    match stream.content {
        Content::Events(events) => assert_eq!(
            events.last().unwrap().lines().next(),
            Some("event: message_stop")
        ),
        other => panic!("expected events, got {other:?}"),
    }
}
