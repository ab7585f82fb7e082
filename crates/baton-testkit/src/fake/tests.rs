//! Tests of the fake server over raw HTTP/1.1, so the kit needs no HTTP client.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

/// Sends one request with `Connection: close` and returns the whole raw response.
async fn post(fake: &FakeVendor, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    post_to(fake.addr, path, headers, body).await
}

async fn post_to(addr: SocketAddr, path: &str, headers: &[(&str, &str)], body: &str) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
        addr,
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn default_answer_is_served_and_the_request_recorded() {
    let fake = FakeVendor::start(Vendor::OpenAi).await;
    let raw = post(
        &fake,
        "/v1/chat/completions",
        &[("authorization", "Bearer sk-test")],
        r#"{"model":"gpt-4o-mini","messages":[]}"#,
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 200"), "{raw}");
    assert!(raw.contains("Hello from the fake OpenAI."), "{raw}");
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].path, "/v1/chat/completions");
    assert_eq!(requests[0].header("Authorization"), Some("Bearer sk-test"));
    assert_eq!(requests[0].model().as_deref(), Some("gpt-4o-mini"));
}

#[tokio::test]
async fn missing_key_gets_a_401_that_does_not_echo_anything() {
    let fake = FakeVendor::start(Vendor::Anthropic).await;
    let raw = post(
        &fake,
        "/v1/messages",
        &[("anthropic-version", "2023-06-01")],
        "{}",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 401"), "{raw}");
    assert!(raw.contains("authentication_error"), "{raw}");
}

#[tokio::test]
async fn gemini_key_in_the_url_is_refused() {
    let fake = FakeVendor::start(Vendor::Gemini).await;
    let raw = post(
        &fake,
        "/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSECRET",
        &[("x-goog-api-key", "k")],
        "{}",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(!raw.contains("AIzaSECRET"), "{raw}");
}

#[tokio::test]
async fn wrong_path_is_a_404_and_still_recorded() {
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    let raw = post(&fake, "/v1/completions", &[], "{}").await;
    assert!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    assert_eq!(fake.request_count(), 1);
}

#[tokio::test]
async fn queued_responses_come_before_the_responder() {
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    fake.enqueue(Response::json(
        503,
        serde_json::json!({"error": {"message": "busy"}}),
    ));
    fake.set_responder(|request| Response::answer(format!("you sent {}", request.body.len())));
    let first = post(&fake, "/v1/chat/completions", &[], "{}").await;
    let second = post(&fake, "/v1/chat/completions", &[], "{}").await;
    assert!(first.starts_with("HTTP/1.1 503"), "{first}");
    assert!(second.contains("you sent 2"), "{second}");
}

#[tokio::test]
async fn peak_concurrency_counts_overlapping_requests() {
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    // Each response is held back until the fake is dropped, so the three overlap.
    for _ in 0..3 {
        fake.enqueue(Response::answer("x").delay_head(Duration::from_secs(600)));
    }
    let calls: Vec<_> = (0..3)
        .map(|_| tokio::spawn(post_to(fake.addr, "/v1/chat/completions", &[], "{}")))
        .collect();
    assert!(fake.wait_for_requests(3, Duration::from_secs(10)).await);
    assert_eq!(fake.peak_concurrency(), 3);
    assert_eq!(fake.in_flight(), 3);
    drop(fake);
    for call in calls {
        assert!(call.await.unwrap().starts_with("HTTP/1.1 200"));
    }
}

#[tokio::test]
async fn wait_for_requests_returns_once_they_arrive() {
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    assert!(!fake.wait_for_requests(1, Duration::from_millis(20)).await);
    let (arrived, raw) = tokio::join!(
        fake.wait_for_requests(1, Duration::from_secs(10)),
        post(&fake, "/v1/chat/completions", &[], "{}")
    );
    assert!(arrived);
    assert!(raw.starts_with("HTTP/1.1 200"));
}

#[tokio::test]
async fn stream_is_cut_after_the_scripted_number_of_events() {
    let fake = FakeVendor::start_without_auth(Vendor::OpenAi).await;
    fake.enqueue(Response::fixture_stream("openai/chat/stream-tool-call.sse").close_after(2));
    let raw = post(&fake, "/v1/chat/completions", &[], r#"{"stream":true}"#).await;
    assert!(raw.contains("text/event-stream"), "{raw}");
    assert_eq!(raw.matches("data: ").count(), 2, "{raw}");
}
