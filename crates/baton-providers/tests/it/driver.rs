//! The HTTP driver's behaviour, the same for every vendor (shown on the OpenAI format
//! unless a vendor matters).

use std::time::Duration;

use baton_providers::http::Timeouts;
use baton_providers::provider::{ErrorClass, ErrorKind, Provider, TimeoutKind};
use baton_testkit::{FakeVendor, Response, Vendor};

use crate::support::{assert_no_key, call, openai, request, timeouts};

const TEXT_STREAM: &str = "openai/chat/stream-text-with-usage.sse";

#[tokio::test]
async fn every_failure_costs_exactly_one_request() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(
        &fake,
        Timeouts {
            idle: Duration::from_millis(500),
            ..timeouts()
        },
    );
    let scripted = [
        (
            Response::json(429, serde_json::json!({"error": {"message": "slow down"}})),
            false,
        ),
        (
            Response::json(500, serde_json::json!({"error": {"message": "oops"}})),
            false,
        ),
        (Response::json(503, serde_json::json!({})), false),
        (Response::fixture_stream(TEXT_STREAM).close_after(5), true),
        (Response::fixture_stream(TEXT_STREAM).reset_after(5), true),
        (Response::fixture_stream(TEXT_STREAM).stall_after(5), true),
    ];
    for (expected_count, (response, stream)) in scripted.into_iter().enumerate() {
        fake.enqueue(response);
        let err = call(&provider, stream).await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert_eq!(fake.request_count(), expected_count + 1, "after {err:?}");
    }
}

#[tokio::test]
async fn redirect_is_refused_and_its_target_receives_nothing() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let elsewhere = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    fake.enqueue(Response::redirect(&format!(
        "{}/chat/completions",
        elsewhere.base_url()
    )));
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone(), err.status),
        (ErrorClass::Permanent, ErrorKind::Redirect, Some(307))
    );
    assert_eq!(fake.request_count(), 1);
    assert_eq!(elsewhere.request_count(), 0);
}

#[tokio::test]
async fn slow_response_head_is_a_first_token_timeout() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::answer("late").delay_head(Duration::from_secs(600)));
    let provider = openai(
        &fake,
        Timeouts {
            first_token: Duration::from_millis(300),
            ..timeouts()
        },
    );
    let err = call(&provider, false).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::FirstToken));
    assert!(err.is_transient());
}

#[tokio::test]
async fn slow_first_stream_event_is_a_first_token_timeout() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::fixture_stream(TEXT_STREAM).delay_first_event(Duration::from_secs(600)));
    let provider = openai(
        &fake,
        Timeouts {
            first_token: Duration::from_millis(300),
            ..timeouts()
        },
    );
    let err = call(&provider, true).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::FirstToken));
    assert_eq!(err.status, Some(200));
}

#[tokio::test]
async fn stall_after_some_tokens_is_an_idle_timeout_with_partial_usage() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(
        Response::fixture_stream(TEXT_STREAM)
            .with_comments()
            .stall_after(6),
    );
    let provider = openai(
        &fake,
        Timeouts {
            idle: Duration::from_millis(300),
            ..timeouts()
        },
    );
    let err = call(&provider, true).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::Idle));
    let usage = err.partial_usage.unwrap();
    assert!(
        usage.estimated && usage.output_tokens > 0 && usage.input_tokens > 0,
        "{usage:?}"
    );
}

#[tokio::test]
async fn slow_but_steady_stream_succeeds() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    // 35 events 40 ms apart: the stream lasts longer than the idle limit, but no gap
    // comes near it.
    fake.enqueue(Response::fixture_stream(TEXT_STREAM).event_interval(Duration::from_millis(40)));
    let provider = openai(
        &fake,
        Timeouts {
            idle: Duration::from_millis(1000),
            ..timeouts()
        },
    );
    let started = std::time::Instant::now();
    let completion = call(&provider, true).await.unwrap();
    assert!(
        started.elapsed() > Duration::from_millis(1000),
        "the stream outlasted the idle limit"
    );
    assert!(completion.text.ends_with("or a weather app."));
    assert!(!completion.usage.estimated);
}

#[tokio::test]
async fn steady_stream_past_the_total_limit_times_out() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::fixture_stream(TEXT_STREAM).event_interval(Duration::from_millis(100)));
    let provider = openai(
        &fake,
        Timeouts {
            total: Duration::from_millis(700),
            ..timeouts()
        },
    );
    let err = call(&provider, true).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout(TimeoutKind::Total));
    assert!(err.partial_usage.unwrap().output_tokens > 0);
}

#[tokio::test]
async fn refused_connection_is_a_transient_connection_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let config = baton_providers::openai::OpenAiConfig::new(
        "openai",
        &format!("http://127.0.0.1:{port}/v1"),
        "OPENAI_BASE_URL",
        None,
    )
    .unwrap();
    let provider = baton_providers::openai::OpenAiProvider::new(config).unwrap();
    let err = call(&provider, false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::Connection)
    );
}

/// A listener on 127.0.0.1 whose accept queue is full: Linux drops the SYNs of further
/// connections (`tcp_abort_on_overflow` is off by default), so a connect to it neither
/// succeeds nor is refused, without any packet leaving the machine. With a backlog of
/// 0 the queue holds one connection; the returned stream fills it.
#[cfg(target_os = "linux")]
async fn listener_that_never_completes_a_connect()
-> (tokio::net::TcpListener, tokio::net::TcpStream) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let filler = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    (listener, filler)
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn connect_that_never_completes_is_a_connect_timeout() {
    let (listener, _filler) = listener_that_never_completes_a_connect().await;
    let config = baton_providers::openai::OpenAiConfig::new(
        "openai",
        &format!("http://{}/v1", listener.local_addr().unwrap()),
        "OPENAI_BASE_URL",
        None,
    )
    .unwrap()
    .with_timeouts(Timeouts {
        connect: Duration::from_millis(300),
        ..timeouts()
    });
    let provider = baton_providers::openai::OpenAiProvider::new(config).unwrap();
    for stream in [false, true] {
        let err = call(&provider, stream).await.unwrap_err();
        assert_eq!(
            (err.class, err.kind.clone()),
            (
                ErrorClass::Transient,
                ErrorKind::Timeout(TimeoutKind::Connect)
            ),
            "{err:?}"
        );
        assert_eq!(err.status, None, "no response head ever came");
        assert!(err.partial_usage.is_none(), "{err:?}");
    }
}

#[tokio::test]
async fn reset_and_clean_close_mid_stream_are_both_cuts() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(&fake, timeouts());
    for response in [
        Response::fixture_stream(TEXT_STREAM).reset_after(8),
        Response::fixture_stream(TEXT_STREAM).close_after(8),
        // The role chunk and the 30 text chunks, but not the finish, usage and [DONE].
        Response::fixture_stream(TEXT_STREAM).truncate_events(31),
    ] {
        fake.enqueue(response);
        let err = call(&provider, true).await.unwrap_err();
        assert_eq!(
            (err.class, err.kind.clone()),
            (ErrorClass::Transient, ErrorKind::StreamCut),
            "{err:?}"
        );
        let usage = err.partial_usage.unwrap();
        assert!(usage.estimated && usage.output_tokens > 0, "{usage:?}");
    }
}

#[tokio::test]
async fn framing_faults_decode_exactly_like_the_clean_stream() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(&fake, timeouts());
    fake.enqueue(Response::fixture_stream(TEXT_STREAM));
    let clean = call(&provider, true).await.unwrap();
    let variants = [
        Response::fixture_stream(TEXT_STREAM).crlf(),
        Response::fixture_stream(TEXT_STREAM).split_every(3),
        Response::fixture_stream(TEXT_STREAM).split_every(1).crlf(),
        Response::fixture_stream(TEXT_STREAM).pad_data_lines(),
        Response::fixture_stream(TEXT_STREAM).with_comments(),
        Response::fixture_stream(TEXT_STREAM).without_done(),
    ];
    for variant in variants {
        fake.enqueue(variant);
        assert_eq!(call(&provider, true).await.unwrap(), clean);
    }
}

#[tokio::test]
async fn text_split_inside_utf8_characters_arrives_whole() {
    let text = "héllo wörld 🌍 ünïcödé — 日本語";
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(&fake, timeouts());
    for size in 1..=5 {
        fake.enqueue(Response::answer(text).split_every(size));
        assert_eq!(
            call(&provider, true).await.unwrap().text,
            text,
            "pieces of {size}"
        );
    }
}

#[tokio::test]
async fn deltas_are_forwarded_as_they_arrive() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::answer("one two three"));
    let provider = openai(&fake, timeouts());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let completion = provider
        .complete(&request(true), Some(&sender))
        .await
        .unwrap();
    drop(sender);
    let mut deltas = Vec::new();
    while let Some(delta) = receiver.recv().await {
        deltas.push(delta);
    }
    assert_eq!(deltas, vec!["one ", "two ", "three"]);
    assert_eq!(completion.text, "one two three");
}

#[tokio::test]
async fn vendor_echo_of_the_key_is_redacted() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::json(
        401,
        serde_json::json!({"error": {
            "message": format!("Incorrect API key provided: {}. Find your key at https://platform.openai.com.", crate::support::KEY),
            "type": "invalid_request_error", "code": "invalid_api_key"
        }}),
    ));
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind.clone()),
        (ErrorClass::Permanent, ErrorKind::Auth)
    );
    assert!(
        err.message
            .contains("Incorrect API key provided: [REDACTED]."),
        "{}",
        err.message
    );
    assert_no_key(&err);
}

#[tokio::test]
async fn concurrent_calls_overlap_at_the_vendor() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    for _ in 0..4 {
        // Held until the fake is dropped, so all four are in flight together.
        fake.enqueue(Response::answer("ok").delay_head(Duration::from_secs(600)));
    }
    let provider = std::sync::Arc::new(openai(&fake, timeouts()));
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let provider = std::sync::Arc::clone(&provider);
            tokio::spawn(async move { provider.complete(&request(false), None).await })
        })
        .collect();
    assert!(fake.wait_for_requests(4, Duration::from_secs(10)).await);
    assert_eq!(fake.peak_concurrency(), 4);
    drop(fake);
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().text, "ok");
    }
}

#[tokio::test]
async fn server_that_ignores_stream_true_still_answers() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::fixture_json("openai/chat/nonstream-text.json"));
    let provider = openai(&fake, timeouts());
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let completion = provider
        .complete(&request(true), Some(&sender))
        .await
        .unwrap();
    assert!(
        completion
            .text
            .starts_with("I'm unable to provide real-time weather updates.")
    );
    assert_eq!(receiver.recv().await, Some(completion.text.clone()));
}

#[tokio::test]
async fn error_sent_as_json_with_a_200_is_an_error_and_redacted() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let provider = openai(&fake, timeouts());
    let body = serde_json::json!({"error": {
        "message": format!("upstream rejected key {}", crate::support::KEY), "code": 502
    }});
    for stream in [true, false] {
        fake.enqueue(Response::json(200, body.clone()));
        let err = call(&provider, stream).await.unwrap_err();
        assert_eq!(
            (err.class, err.kind.clone()),
            (ErrorClass::Transient, ErrorKind::StreamError)
        );
        assert_eq!(err.message, "upstream rejected key [REDACTED]");
        assert_no_key(&err);
    }
}

#[tokio::test]
async fn body_that_is_not_the_vendor_format_is_malformed() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    fake.enqueue(Response::json(200, serde_json::json!({"choices": "nope"})));
    let err = call(&openai(&fake, timeouts()), false).await.unwrap_err();
    assert_eq!(
        (err.class, err.kind),
        (ErrorClass::Transient, ErrorKind::Malformed)
    );
}
